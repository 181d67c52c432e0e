import * as React from 'react';

import { IDatasetDiff } from '../api';
import { DatasetsModel } from '../model/datasets';
import { errorMessage } from '../model/operations';
import {
  Button,
  ErrorBanner,
  Section,
  timeAgo,
  usePromise,
  useSignal
} from './common';

function Counts(props: {
  counts: Record<string, number>;
  className?: string;
}): JSX.Element {
  const max = Math.max(1, ...Object.values(props.counts));
  return (
    <table className={`wb-counts ${props.className ?? ''}`}>
      <tbody>
        {Object.entries(props.counts).map(([k, n]) => (
          <tr key={k} data-key={k}>
            <th>{k}</th>
            <td className="wb-num">{n}</td>
            <td className="wb-bar-cell">
              <span
                className="wb-bar"
                style={{ width: `${(100 * n) / max}%` }}
              />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function VersionView(props: {
  model: DatasetsModel;
  ref_: string;
  onTrain: (ref: string) => void;
}) {
  const [version, error] = usePromise(
    () => props.model.version(props.ref_),
    [props.ref_]
  );
  if (error) {
    return <ErrorBanner message={error} />;
  }
  if (!version) {
    return <div className="wb-empty">Loading {props.ref_}…</div>;
  }
  const created =
    typeof version.created_at === 'number'
      ? timeAgo(version.created_at)
      : String(version.created_at);
  return (
    <div className="wb-version" data-ref={version.ref}>
      <div className="wb-run-title">
        <h3>{version.ref}</h3>
        <span className="wb-muted">
          {version.items} items · {version.kind} · {created}
          {version.parent ? ` · from ${version.parent}` : ''} ·{' '}
          {version.content_hash.slice(0, 12)}
        </span>
        <Button
          accent
          className="wb-train-on"
          onClick={() => props.onTrain(version.ref)}
        >
          Train on this version
        </Button>
      </div>
      <div className="wb-columns">
        <Section title="Items per class">
          <Counts counts={version.classes} className="wb-class-counts" />
        </Section>
        <Section title="Provenance">
          <Counts counts={version.provenance} className="wb-provenance" />
        </Section>
      </div>
    </div>
  );
}

function DiffView(props: { model: DatasetsModel; refs: string[] }) {
  const [base, setBase] = React.useState(
    props.refs[props.refs.length - 2] ?? ''
  );
  const [other, setOther] = React.useState(
    props.refs[props.refs.length - 1] ?? ''
  );
  const [diff, setDiff] = React.useState<IDatasetDiff | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const run = async () => {
    setError(null);
    try {
      setDiff(await props.model.diff(base, other));
    } catch (e) {
      setError(errorMessage(e));
    }
  };
  const pick = (value: string, set: (v: string) => void, name: string) => (
    <select
      className="jp-mod-styled"
      name={name}
      value={value}
      onChange={e => set(e.target.value)}
    >
      {props.refs.map(r => (
        <option key={r}>{r}</option>
      ))}
    </select>
  );
  return (
    <Section title="Compare two versions">
      <div className="wb-toolbar">
        {pick(base, setBase, 'base')} → {pick(other, setOther, 'other')}
        <Button className="wb-diff" disabled={!base || !other} onClick={run}>
          Diff
        </Button>
      </div>
      <ErrorBanner message={error} />
      {diff && (
        <div className="wb-diff-result">
          <p>
            <strong>{diff.added.length}</strong> added ·{' '}
            <strong>{diff.removed.length}</strong> removed ·{' '}
            <strong>{diff.relabelled.length}</strong> relabelled
          </p>
          {diff.relabelled.length > 0 && (
            <table className="wb-relabelled">
              <thead>
                <tr>
                  <th>Item</th>
                  <th>Before</th>
                  <th>After</th>
                </tr>
              </thead>
              <tbody>
                {diff.relabelled.slice(0, 200).map(r => (
                  <tr key={r.item}>
                    <td>{r.item}</td>
                    <td>{JSON.stringify(r.from)}</td>
                    <td>{JSON.stringify(r.to)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      )}
    </Section>
  );
}

/** Dataset versions: per-class counts, provenance, diffs, and "train on this version". */
export function DatasetsPanel(props: {
  model: DatasetsModel;
  selected?: string;
  onTrain: (ref: string) => void;
}): JSX.Element {
  const { model } = props;
  useSignal(model.changed);
  const [selected, setSelected] = React.useState<string | null>(
    props.selected ?? null
  );
  React.useEffect(() => setSelected(props.selected ?? null), [props.selected]);
  const refs = model.datasets.flatMap(d =>
    d.versions.map(v => `${d.name}@v${v}`)
  );
  const current = selected ?? refs[refs.length - 1] ?? null;
  const sameName = current
    ? refs.filter(r => r.split('@')[0] === current.split('@')[0])
    : [];
  return (
    <div className="wb-panel wb-datasets-panel">
      <ErrorBanner message={model.error} prefix="Datasets: " />
      {model.loaded && refs.length === 0 && (
        <div className="wb-empty">
          No dataset versions yet: export a labeling project (Labeling panel or
          `%wb label export`).
        </div>
      )}
      <div className="wb-columns">
        <Section title="Datasets" className="wb-col-list">
          <ul className="wb-dataset-list">
            {model.datasets.map(d => (
              <li key={d.name} className="wb-dataset" data-dataset={d.name}>
                <div className="wb-job-head">
                  <strong>{d.name}</strong>
                  <span className="wb-muted">{d.latest.items} items</span>
                </div>
                <div className="wb-versions">
                  {d.versions.map(v => {
                    const ref = `${d.name}@v${v}`;
                    return (
                      <button
                        type="button"
                        key={v}
                        className={`wb-chip wb-version-chip${ref === current ? ' wb-selected' : ''}`}
                        data-ref={ref}
                        onClick={() => setSelected(ref)}
                      >
                        v{v}
                      </button>
                    );
                  })}
                </div>
              </li>
            ))}
          </ul>
        </Section>
        <div className="wb-col-wide">
          {current && (
            <VersionView model={model} ref_={current} onTrain={props.onTrain} />
          )}
          {sameName.length > 1 && (
            <DiffView key={current ?? ''} model={model} refs={sameName} />
          )}
        </div>
      </div>
    </div>
  );
}
