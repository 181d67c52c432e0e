import * as React from 'react';

import { ISchemas, ITrial, SelectRequest } from '../api';
import { describeProgress } from '../model/operations';
import {
  formSchema,
  inlineRefs,
  Schema,
  withoutProperties
} from '../model/schemaform';
import { StudiesModel } from '../model/studies';
import {
  Badge,
  Button,
  ErrorBanner,
  formatNumber,
  ProgressBar,
  Section,
  useSignal
} from './common';
import { MetricChart } from './MetricChart';
import { ParallelChart } from './ParallelChart';
import { FormValue, SchemaForm } from './SchemaForm';

type FieldProps = Parameters<
  typeof import('@jupyterlab/ui-components').FormComponent
>[0] extends infer P
  ? P extends { fields?: infer F }
    ? F extends Record<string, infer C>
      ? C extends React.ComponentType<infer Q>
        ? Q
        : never
      : never
    : never
  : never;

/** A starting point the user edits: two small models, a learning-rate range, digits. */
const EXAMPLE: FormValue = {
  spec: {
    name: 'digits-study',
    models: { mlp: {}, small_cnn: {} },
    search: { lr: { float: [0.01, 0.2], log: true } },
    base: { data: { source: 'digits' }, train: { epochs: 3 } },
    trials: 6
  }
};

/** Free-form mappings (search spaces) are edited as JSON text. */
function JsonField(props: FieldProps): JSX.Element {
  const [text, setText] = React.useState(() =>
    JSON.stringify(props.formData ?? {}, null, 1)
  );
  const [error, setError] = React.useState<string | null>(null);
  return (
    <div className="wb-json-field">
      <label>
        <strong>{String(props.schema.title ?? props.name)}</strong>
        <div className="wb-muted">{String(props.schema.description ?? '')}</div>
        <textarea
          className="jp-mod-styled"
          name={props.name}
          rows={4}
          value={text}
          onChange={e => {
            setText(e.target.value);
            try {
              props.onChange(
                JSON.parse(e.target.value) as FieldProps['formData']
              );
              setError(null);
            } catch {
              setError('not valid JSON yet');
            }
          }}
        />
      </label>
      {error && <div className="wb-hint">{error}</div>}
    </div>
  );
}

const UI_SCHEMA = {
  'ui:order': ['spec', '*'],
  spec: {
    'ui:order': [
      'name',
      'models',
      'search',
      'base',
      'trials',
      'metric',
      'direction',
      '*'
    ],
    models: { 'ui:field': 'json' },
    search: { 'ui:field': 'json' },
    base: { 'ui:field': 'json' }
  }
};

function history(trials: ITrial[], maximize: boolean) {
  const done = trials
    .filter(t => t.value !== null)
    .sort((a, b) => a.number - b.number);
  let best: number | null = null;
  const bestSoFar = done.map(t => {
    const v = t.value as number;
    best = best === null ? v : maximize ? Math.max(best, v) : Math.min(best, v);
    return { step: t.number, value: best };
  });
  return [
    {
      label: 'trial value',
      points: done.map(t => ({ step: t.number, value: t.value as number }))
    },
    { label: 'best so far', points: bestSoFar }
  ];
}

/** Start a study from the selection spec's schema, watch its trials live, register the best. */
export function SelectionView(props: {
  model: StudiesModel;
  schemas?: ISchemas;
}): JSX.Element {
  const { model } = props;
  useSignal(model.changed);
  const [data, setData] = React.useState<FormValue>(EXAMPLE);
  const [registered, setRegistered] = React.useState<string | null>(null);
  const [registerAs, setRegisterAs] = React.useState('');
  const schema = React.useMemo(() => {
    const root = props.schemas?.select_request;
    return root
      ? withoutProperties(formSchema(inlineRefs(root, root)) as Schema, [
          'working_dir'
        ])
      : null;
  }, [props.schemas]);
  const study = model.open;
  const running = model.running;
  return (
    <div className="wb-columns wb-selection">
      <Section title="New study" className="wb-col-form">
        {schema && (
          <SchemaForm
            schema={{ ...schema, title: undefined }}
            uiSchema={UI_SCHEMA}
            formData={data}
            onChange={setData}
            onSubmit={value =>
              void model.start(value as unknown as SelectRequest)
            }
            fields={{ json: JsonField }}
            compact
          >
            <Button
              accent
              type="submit"
              className="wb-start-study"
              disabled={running !== null}
            >
              Start study
            </Button>
          </SchemaForm>
        )}
        {running && (
          <ProgressBar
            done={running.progress?.done}
            total={running.progress?.total}
            label={`${running.name}: ${describeProgress(running.progress)}`}
          />
        )}
        <ErrorBanner message={model.actionError} />
      </Section>
      <Section title="Studies" className="wb-col-wide">
        <ErrorBanner message={model.error} prefix="Studies: " />
        {model.studies.length === 0 && !model.error && (
          <div className="wb-empty">No study yet: start one with the form.</div>
        )}
        <div className="wb-versions">
          {model.studies.map(s => (
            <button
              type="button"
              key={s.name}
              data-study={s.name}
              className={`wb-chip${s.name === model.openName ? ' wb-selected' : ''}`}
              onClick={() => model.select(s.name)}
            >
              {s.name} · {s.trials} trials · best {formatNumber(s.best_value)}
            </button>
          ))}
        </div>
        {study && (
          <div className="wb-study" data-study={study.name}>
            <div className="wb-run-title">
              <h3>{study.name}</h3>
              <span className="wb-muted">
                {study.direction} {study.metric} · best trial{' '}
                {study.best_trial ?? '—'} ({formatNumber(study.best_value)})
              </span>
              <input
                className="jp-mod-styled"
                placeholder="register as (default: the spec's)"
                value={registerAs}
                onChange={e => setRegisterAs(e.target.value)}
              />
              <Button
                accent
                className="wb-register-best"
                disabled={study.best_trial === null}
                onClick={async () => {
                  const v = await model.registerBest(
                    registerAs.trim() || undefined
                  );
                  setRegistered(v);
                }}
              >
                Register best
              </Button>
              {registered && (
                <span className="wb-outcome">Registered {registered}</span>
              )}
            </div>
            <div className="wb-charts">
              <MetricChart
                metric={`${study.metric} per trial`}
                series={history(study.trials, study.direction === 'maximize')}
              />
              <ParallelChart
                trials={study.trials}
                objective={study.metric}
                best={study.best_trial}
              />
            </div>
            <table className="wb-trials wb-compare-table">
              <thead>
                <tr>
                  <th>#</th>
                  <th>State</th>
                  <th>{study.metric}</th>
                  <th>Params</th>
                </tr>
              </thead>
              <tbody>
                {study.trials.map(t => (
                  <tr
                    key={t.number}
                    className={
                      t.number === study.best_trial ? 'wb-differs' : ''
                    }
                    data-trial={t.number}
                  >
                    <td>{t.number}</td>
                    <td>
                      <Badge state={t.state} />
                    </td>
                    <td className="wb-num">{formatNumber(t.value)}</td>
                    <td className="wb-params">
                      {Object.entries(t.params)
                        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
                        .join(', ')}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Section>
    </div>
  );
}
