import * as React from 'react';

import { ACTIVE_JOB_STATES, IVersionInfo, recentRuns } from '../api';
import { JobsModel } from '../model/jobs';
import { LabelingModel } from '../model/labeling';
import { Badge, ErrorBanner, timeAgo, usePromise, useSignal } from './common';

export type PanelKind =
  'labeling' | 'datasets' | 'models' | 'jobs' | 'experiments';

export const PANELS: { kind: PanelKind; title: string; caption: string }[] = [
  {
    kind: 'labeling',
    title: 'Labeling',
    caption: 'Label Studio projects, auto-labeling, label issues, exports'
  },
  {
    kind: 'datasets',
    title: 'Datasets',
    caption: 'Dataset versions, their classes and diffs'
  },
  {
    kind: 'models',
    title: 'Models',
    caption: 'The model zoo and the model registry'
  },
  {
    kind: 'jobs',
    title: 'Jobs',
    caption: 'Train a model on N ranks; live jobs and logs'
  },
  {
    kind: 'experiments',
    title: 'Experiments',
    caption: 'Runs tracked in MLflow: table, detail, compare'
  }
];

/** The left sidebar: what is happening, and a button per panel. */
export function Overview(props: {
  version: () => Promise<IVersionInfo>;
  jobs: JobsModel;
  labeling: LabelingModel;
  open: (kind: PanelKind) => void;
}): JSX.Element {
  const { jobs, labeling } = props;
  useSignal(jobs.changed);
  useSignal(labeling.changed);
  const [version, versionError] = usePromise(props.version, []);
  const finished = jobs.jobs.filter(
    j => !ACTIVE_JOB_STATES.has(j.state)
  ).length;
  const [runs, runsError] = usePromise(() => recentRuns(5), [finished]);
  const running = jobs.jobs.filter(j => ACTIVE_JOB_STATES.has(j.state));
  const recent = jobs.jobs
    .filter(j => !ACTIVE_JOB_STATES.has(j.state))
    .slice(0, 5);
  const ls = labeling.status;
  return (
    <div className="wb-overview">
      <header className="wb-header">
        <h2 className="wb-title">Workbench</h2>
        {version && (
          <div className="wb-version">Workbench server v{version.version}</div>
        )}
        <ErrorBanner message={versionError} />
      </header>
      <nav className="wb-open-panels">
        {PANELS.map(p => (
          <button
            type="button"
            key={p.kind}
            className="wb-open-panel"
            data-panel={p.kind}
            onClick={() => props.open(p.kind)}
          >
            <strong>{p.title}</strong>
            <span className="wb-muted">{p.caption}</span>
          </button>
        ))}
      </nav>
      <section className="wb-section" data-section="labeling">
        <h3>Label Studio</h3>
        {ls ? (
          <div>
            <Badge state={ls.running ? 'running' : 'stopped'} />{' '}
            {ls.running
              ? `${labeling.projects.length} project(s)`
              : ls.detail && ls.detail !== 'stopped'
                ? ls.detail
                : ''}
          </div>
        ) : (
          <ErrorBanner message={labeling.error} />
        )}
      </section>
      <section className="wb-section" data-section="jobs">
        <h3>Running jobs</h3>
        <ErrorBanner message={jobs.error} />
        {running.length === 0 && <div className="wb-empty">None.</div>}
        <ul className="wb-mini-list">
          {[...running, ...recent].map(j => (
            <li
              key={j.id}
              data-job-id={j.id}
              data-state={j.state}
              onClick={() => props.open('jobs')}
            >
              <span className="wb-job-name">{j.name}</span>{' '}
              <Badge state={j.state} />{' '}
              <span className="wb-muted">
                {timeAgo(j.finished_at ?? j.started_at ?? j.created_at)}
              </span>
            </li>
          ))}
        </ul>
      </section>
      <section className="wb-section" data-section="runs">
        <h3>Recent runs</h3>
        <ErrorBanner message={runsError} />
        {runs && runs.length === 0 && <div className="wb-empty">None yet.</div>}
        <ul className="wb-mini-list">
          {(runs ?? []).map(r => (
            <li
              key={r.run_id}
              data-run-id={r.run_id}
              onClick={() => props.open('experiments')}
            >
              <span className="wb-job-name">
                {r.run_name ?? r.run_id.slice(0, 8)}
              </span>{' '}
              <span className="wb-muted">
                {r.metrics.test_accuracy !== undefined
                  ? `acc ${r.metrics.test_accuracy.toFixed(3)} · `
                  : ''}
                {timeAgo(r.start_time)}
              </span>
            </li>
          ))}
        </ul>
      </section>
    </div>
  );
}
