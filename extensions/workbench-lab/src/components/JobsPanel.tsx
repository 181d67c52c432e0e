import * as React from 'react';

import { ACTIVE_JOB_STATES, IJob } from '../api';
import { DatasetsModel } from '../model/datasets';
import { JobsModel } from '../model/jobs';
import { errorMessage } from '../model/operations';
import { ServerInfo } from '../model/server';
import {
  Badge,
  Button,
  ErrorBanner,
  Section,
  timeAgo,
  usePromise,
  useSignal
} from './common';
import { JobLogs } from './JobLogs';
import { ITrainDefaults, TrainForm } from './TrainForm';

export interface IJobsPanelProps {
  jobs: JobsModel;
  datasets: DatasetsModel;
  server: ServerInfo;
  defaults: ITrainDefaults;
  /** Open the Experiments panel on the run(s) this job tracked. */
  openRun: (job: IJob) => void;
}

function ranksText(n: number): string {
  return `${n} rank${n === 1 ? '' : 's'}`;
}

/** The Train form, the live jobs list, and the selected job's logs. */
export function JobsPanel(props: IJobsPanelProps): JSX.Element {
  const { jobs, datasets, server } = props;
  useSignal(jobs.changed);
  useSignal(datasets.changed);
  const [selected, setSelected] = React.useState<string | null>(null);
  const [actionError, setActionError] = React.useState<string | null>(null);
  const [loaded, loadError] = usePromise(
    () => Promise.all([server.schemas, server.models, server.config]),
    [server]
  );
  const job = jobs.jobs.find(j => j.id === selected) ?? null;

  const act = async (what: () => Promise<unknown>) => {
    setActionError(null);
    try {
      await what();
    } catch (e) {
      setActionError(errorMessage(e));
    }
  };

  return (
    <div className="wb-panel wb-jobs-panel">
      <div className="wb-columns">
        <Section title="Train a model" className="wb-col-form">
          <ErrorBanner
            message={loadError}
            prefix="Cannot load the training form: "
          />
          {loaded ? (
            <TrainForm
              key={`${props.defaults.model}|${props.defaults.dataset ?? ''}|${JSON.stringify(props.defaults.params ?? {})}`}
              schemas={loaded[0]}
              models={loaded[1]}
              config={loaded[2]}
              datasets={datasets.datasets}
              defaults={props.defaults}
              onSubmit={async body => {
                const submitted = await jobs.submit(body);
                setSelected(submitted.id);
                return submitted;
              }}
            />
          ) : (
            !loadError && (
              <div className="wb-empty">Loading the training form…</div>
            )
          )}
        </Section>
        <Section title="Jobs" className="wb-col-list">
          <ErrorBanner message={jobs.error} prefix="Jobs: " />
          <ErrorBanner message={actionError} />
          {jobs.loaded && jobs.jobs.length === 0 && (
            <div className="wb-empty">
              No jobs yet: train a model with the form.
            </div>
          )}
          <ul className="wb-job-list">
            {jobs.jobs.map(j => (
              <li
                key={j.id}
                className={`wb-job${j.id === selected ? ' wb-selected' : ''}`}
                data-job-id={j.id}
                data-state={j.state}
                onClick={() => setSelected(j.id)}
              >
                <div className="wb-job-head">
                  <span className="wb-job-name" title={`${j.name} (${j.id})`}>
                    {j.name}
                  </span>
                  <Badge state={j.state} />
                </div>
                <div className="wb-job-meta">
                  {ranksText(j.ranks)} · {j.backend} ·{' '}
                  {timeAgo(j.finished_at ?? j.started_at ?? j.created_at)}
                </div>
                {j.reason && <div className="wb-job-reason">{j.reason}</div>}
              </li>
            ))}
          </ul>
        </Section>
        <Section
          title={job ? `${job.name} · ${job.id}` : 'Job'}
          className="wb-col-detail"
          actions={
            job && (
              <>
                {ACTIVE_JOB_STATES.has(job.state) &&
                  job.state !== 'cancelling' && (
                    <Button
                      className="wb-cancel"
                      onClick={() => act(() => jobs.cancel(job.id))}
                    >
                      Cancel
                    </Button>
                  )}
                {!ACTIVE_JOB_STATES.has(job.state) && (
                  <Button
                    className="wb-retry"
                    onClick={() =>
                      act(async () =>
                        setSelected((await jobs.retry(job.id)).id)
                      )
                    }
                  >
                    Retry
                  </Button>
                )}
                <Button
                  className="wb-open-run"
                  onClick={() => props.openRun(job)}
                >
                  Open run
                </Button>
              </>
            )
          }
        >
          {job ? (
            <>
              <div className="wb-job-summary">
                <Badge state={job.state} /> {ranksText(job.ranks)} on{' '}
                {job.backend}
                {job.reason ? ` · ${job.reason}` : ''}
              </div>
              <JobLogs job={job} />
            </>
          ) : (
            <div className="wb-empty">Select a job to see its logs.</div>
          )}
        </Section>
      </div>
    </div>
  );
}
