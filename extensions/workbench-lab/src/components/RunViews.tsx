import * as React from 'react';

import {
  artifactURL,
  compareRuns,
  describeDataset,
  getMetricHistory,
  getRun,
  IComparison,
  IRunDetail
} from '../api';
import { ErrorBanner, formatNumber, Section, usePromise } from './common';
import { ISeries, MetricChart } from './MetricChart';

/** Metrics worth a chart: per-epoch series, not per-class or final summaries. */
function charted(key: string): boolean {
  return (
    !/_\d+$/.test(key) &&
    !key.startsWith('final_') &&
    !key.startsWith('system/')
  );
}

const FIRST = ['test_accuracy', 'train_loss', 'test_loss'];

/** Charted keys, the usual headline metrics first. */
function chartOrder(keys: string[]): string[] {
  const rank = (k: string) =>
    FIRST.includes(k) ? FIRST.indexOf(k) : FIRST.length;
  return keys
    .filter(charted)
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** Histories of `keys` for each run: one chart per key, one line per run. */
function useHistories(
  runs: { id: string; label: string }[],
  keys: string[]
): [Record<string, ISeries[]> | undefined, unknown] {
  const ids = runs.map(r => r.id).join(',');
  return usePromise(async () => {
    const out: Record<string, ISeries[]> = {};
    await Promise.all(
      keys.map(async key => {
        out[key] = await Promise.all(
          runs.map(async r => ({
            label: r.label,
            points: await getMetricHistory(r.id, key)
          }))
        );
      })
    );
    return out;
  }, [ids, keys.join(',')]);
}

/** One chart per metric key (those whose histories have arrived). */
function Charts(props: {
  keys: string[];
  charts: Record<string, ISeries[]> | undefined;
  error: unknown;
}): JSX.Element {
  const { charts } = props;
  return (
    <>
      <ErrorBanner message={props.error} prefix="Charts: " />
      <div className="wb-charts">
        {charts &&
          props.keys.map(
            k =>
              charts[k] && <MetricChart key={k} metric={k} series={charts[k]} />
          )}
      </div>
    </>
  );
}

function KeyValues(props: {
  values: Record<string, string | number>;
}): JSX.Element {
  const entries = Object.entries(props.values).sort(([a], [b]) =>
    a.localeCompare(b)
  );
  return (
    <table className="wb-kv">
      <tbody>
        {entries.map(([k, v]) => (
          <tr key={k}>
            <th>{k}</th>
            <td>{typeof v === 'number' ? formatNumber(v) : v}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** One run: params, metrics with their charts, the dataset it read, image artifacts inline. */
export function RunDetail(props: {
  runId: string;
  mlflowUrl?: string | null;
}): JSX.Element {
  const [run, error] = usePromise<IRunDetail>(
    () => getRun(props.runId),
    [props.runId]
  );
  const keys = React.useMemo(
    () =>
      Object.keys(run?.metrics ?? {})
        .filter(k => !k.startsWith('system/'))
        .sort(),
    [run]
  );
  const chartKeys = React.useMemo(() => chartOrder(keys), [keys]);
  const [charts, chartError] = useHistories(
    run ? [{ id: run.run_id, label: run.run_name ?? run.run_id }] : [],
    chartKeys
  );
  if (error) {
    return <ErrorBanner message={error} prefix="Run: " />;
  }
  if (!run) {
    return <div className="wb-empty">Loading run…</div>;
  }
  const perClass = keys.filter(k => /_\d+$/.test(k));
  const main = keys.filter(k => !/_\d+$/.test(k));
  const images = run.artifacts.filter(a => a.is_image);
  const others = run.artifacts.filter(a => !a.is_image);
  const link =
    props.mlflowUrl && run.experiment_id
      ? `${props.mlflowUrl.replace(/\/$/, '')}/#/experiments/${run.experiment_id}/runs/${run.run_id}`
      : null;
  return (
    <div className="wb-run-detail" data-run-id={run.run_id}>
      <div className="wb-run-title">
        <h3>{run.run_name ?? run.run_id}</h3>
        <span className="wb-muted">{run.status.toLowerCase()}</span>
        {link && (
          <a
            href={link}
            target="_blank"
            rel="noreferrer"
            className="wb-mlflow-link"
          >
            Open in MLflow
          </a>
        )}
      </div>
      {(run.datasets ?? []).map(d => (
        <div key={d.digest} className="wb-run-dataset">
          {describeDataset(d)}
        </div>
      ))}
      <div className="wb-columns">
        <Section title="Params">
          <KeyValues values={run.params} />
        </Section>
        <Section title="Metrics">
          <KeyValues
            values={Object.fromEntries(main.map(k => [k, run.metrics[k]]))}
          />
          {perClass.length > 0 && (
            <details className="wb-more">
              <summary>{perClass.length} per-class metrics</summary>
              <KeyValues
                values={Object.fromEntries(
                  perClass.map(k => [k, run.metrics[k]])
                )}
              />
            </details>
          )}
        </Section>
      </div>
      <Charts keys={chartKeys} charts={charts} error={chartError} />
      {images.length > 0 && (
        <Section title="Artifacts">
          <div className="wb-artifacts">
            {images.map(a => (
              <figure key={a.path} className="wb-artifact" data-path={a.path}>
                <img src={artifactURL(run.run_id, a.path)} alt={a.path} />
                <figcaption>{a.path}</figcaption>
              </figure>
            ))}
          </div>
        </Section>
      )}
      {others.length > 0 && (
        <ul className="wb-artifact-files">
          {others.map(a => (
            <li key={a.path}>
              <a
                href={artifactURL(run.run_id, a.path)}
                target="_blank"
                rel="noreferrer"
              >
                {a.path}
              </a>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** Several runs side by side: overlaid metric charts and the params that differ. */
export function CompareRuns(props: { runIds: string[] }): JSX.Element {
  const [cmp, error] = usePromise<IComparison>(
    () => compareRuns(props.runIds),
    [props.runIds.join(',')]
  );
  const runs = (cmp?.run_ids ?? []).map((id, i) => ({
    id,
    label: cmp?.run_names[i] ?? id.slice(0, 8)
  }));
  const keys = Object.keys(cmp?.metrics ?? {}).filter(
    k => !k.startsWith('system/')
  );
  const chartKeys = chartOrder(keys);
  const [charts, chartError] = useHistories(runs, chartKeys);
  if (error) {
    return <ErrorBanner message={error} prefix="Compare: " />;
  }
  if (!cmp) {
    return <div className="wb-empty">Loading comparison…</div>;
  }
  const differs = (values: unknown[]) =>
    new Set(values.map(v => String(v))).size > 1;
  return (
    <div className="wb-compare">
      <Charts keys={chartKeys} charts={charts} error={chartError} />
      <Section title="Params">
        <table className="wb-compare-table">
          <thead>
            <tr>
              <th />
              {runs.map(r => (
                <th key={r.id}>{r.label}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {Object.entries(cmp.params).map(([key, values]) => (
              <tr key={key} className={differs(values) ? 'wb-differs' : ''}>
                <th>{key}</th>
                {values.map((v, i) => (
                  <td key={i}>{v ?? '—'}</td>
                ))}
              </tr>
            ))}
            {keys
              .filter(k => !/_\d+$/.test(k))
              .map(key => (
                <tr key={`m-${key}`} className="wb-metric-row">
                  <th>{key}</th>
                  {cmp.metrics[key].map((v, i) => (
                    <td key={i} className="wb-num">
                      {formatNumber(v)}
                    </td>
                  ))}
                </tr>
              ))}
          </tbody>
        </table>
      </Section>
    </div>
  );
}
