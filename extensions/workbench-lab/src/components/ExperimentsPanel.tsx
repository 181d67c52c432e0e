import * as React from 'react';

import { IRun } from '../api';
import { RunsModel } from '../model/runs';
import { ServerInfo } from '../model/server';
import { Button, ErrorBanner, usePromise, useSignal } from './common';
import { RunsTable } from './RunsTable';
import { CompareRuns, RunDetail } from './RunViews';

/** The runs of an experiment (server-paged, sortable, filterable), run detail, compare. */
export function ExperimentsPanel(props: {
  model: RunsModel;
  server: ServerInfo;
}): JSX.Element {
  const { model } = props;
  useSignal(model.changed);
  const [config] = usePromise(() => props.server.config, [props.server]);
  const [filter, setFilter] = React.useState(model.filter);
  const [open, setOpen] = React.useState<string | null>(null);
  const [comparing, setComparing] = React.useState<string[] | null>(null);
  const [picking, setPicking] = React.useState(false);

  React.useEffect(() => setFilter(model.filter), [model.filter]);
  React.useEffect(() => {
    if (model.experiments.length === 0) {
      void model.loadExperiments();
    }
  }, [model]);

  const selected = [...model.selected];
  const onOpen = (run: IRun) => {
    setComparing(null);
    setOpen(run.run_id);
  };
  const shown = new Set(model.columns.map(c => `${c.kind}:${c.key}`));

  return (
    <div className="wb-panel wb-experiments-panel">
      <div className="wb-toolbar">
        <label>
          Experiment{' '}
          <select
            className="jp-mod-styled wb-experiment-select"
            value={model.experimentId ?? ''}
            onChange={e => void model.open(e.target.value)}
          >
            {model.experiments.map(e => (
              <option key={e.experiment_id} value={e.experiment_id}>
                {e.name}
              </option>
            ))}
          </select>
        </label>
        <form
          className="wb-filter"
          onSubmit={e => {
            e.preventDefault();
            void model.setFilter(filter);
          }}
        >
          <input
            className="jp-mod-styled wb-filter-input"
            placeholder="MLflow filter, e.g. metrics.test_accuracy > 0.9 and params.model = 'mlp'"
            value={filter}
            onChange={e => setFilter(e.target.value)}
          />
        </form>
        <Button onClick={() => setPicking(!picking)} aria-expanded={picking}>
          Columns
        </Button>
        <Button
          accent
          className="wb-compare-button"
          disabled={selected.length < 2}
          onClick={() => setComparing(selected)}
        >
          Compare {selected.length > 1 ? `(${selected.length})` : ''}
        </Button>
        <Button onClick={() => void model.reload()}>Refresh</Button>
        <span className="wb-muted wb-count">
          {model.runs.length}
          {model.hasMore ? '+' : ''} runs
        </span>
      </div>
      {picking && (
        <div className="wb-column-picker">
          {model.available.map(c => {
            const id = `${c.kind}:${c.key}`;
            return (
              <label key={id}>
                <input
                  type="checkbox"
                  checked={shown.has(id)}
                  onChange={() =>
                    (model.columns = shown.has(id)
                      ? model.columns.filter(x => `${x.kind}:${x.key}` !== id)
                      : [...model.columns, c])
                  }
                />{' '}
                {c.kind === 'metric' ? '' : 'param '}
                {c.key}
              </label>
            );
          })}
        </div>
      )}
      <ErrorBanner
        message={model.error}
        hint="Check the filter (MLflow syntax) or the tracking store (`workbench doctor`)."
      />
      <div className="wb-split">
        <RunsTable model={model} onOpen={onOpen} openRunId={open} />
        {(comparing || open) && (
          <div className="wb-detail-pane">
            <button
              type="button"
              className="wb-link wb-close-detail"
              onClick={() => {
                setOpen(null);
                setComparing(null);
              }}
            >
              Close ✕
            </button>
            {comparing ? (
              <CompareRuns runIds={comparing} />
            ) : (
              <RunDetail runId={open!} mlflowUrl={config?.mlflow_ui_url} />
            )}
          </div>
        )}
      </div>
    </div>
  );
}
