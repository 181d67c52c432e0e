import * as React from 'react';

import {
  fileURL,
  ILabelIssues,
  INextBatch,
  IPrediction,
  IProject,
  IServerConfig,
  nextBatch
} from '../api';
import { DatasetsModel } from '../model/datasets';
import { IActivity, LabelingModel } from '../model/labeling';
import { describeProgress, errorMessage } from '../model/operations';
import { ServerInfo } from '../model/server';
import {
  Badge,
  Button,
  ErrorBanner,
  ProgressBar,
  Section,
  usePromise,
  useSignal
} from './common';

export interface ILabelingPanelProps {
  model: LabelingModel;
  datasets: DatasetsModel;
  server: ServerInfo;
  /** The folder selected in JupyterLab's file browser (absolute), if any. */
  pickFolder: () => string | null;
  /** Open Label Studio's page `path` in a JupyterLab tab. */
  openLabelStudio: (path: string, title: string) => void;
  /** Open the Datasets panel on a version. */
  openDataset: (ref: string) => void;
}

function ActivityLine(props: {
  activity: IActivity | null;
}): JSX.Element | null {
  const { activity } = props;
  if (!activity) {
    return null;
  }
  if (activity.running) {
    const p = activity.progress;
    return (
      <ProgressBar
        done={p?.done}
        total={p?.total}
        label={`${activity.label}… ${describeProgress(p)}`}
      />
    );
  }
  return (
    <ErrorBanner message={activity.error} prefix={`${activity.label}: `} />
  );
}

function ServerBar(props: { model: LabelingModel }): JSX.Element {
  const { model } = props;
  const status = model.status;
  const busy = model.activity?.running ?? false;
  return (
    <div
      className="wb-toolbar wb-ls-status"
      data-running={String(!!status?.running)}
    >
      <strong>Label Studio</strong>
      {status ? (
        status.running ? (
          <>
            <Badge state="running" />
            <span className="wb-muted">
              {status.version ? `v${status.version} · ` : ''}
              {status.managed ? 'managed by the workbench' : status.url}
            </span>
            {status.managed && (
              <Button disabled={busy} onClick={() => void model.stop()}>
                Stop
              </Button>
            )}
          </>
        ) : (
          <>
            <Badge state="stopped" />
            <span className="wb-muted">{status.detail || 'not running'}</span>
            <Button
              accent
              className="wb-ls-start"
              disabled={busy}
              onClick={() => void model.start()}
            >
              Start Label Studio
            </Button>
          </>
        )
      ) : (
        <span className="wb-muted">checking…</span>
      )}
    </div>
  );
}

/** A labeled text input of the forms here (children go under the input). */
function TextField(props: {
  label: string;
  name: string;
  value: string;
  onChange: (value: string) => void;
  placeholder: string;
  wide?: boolean;
  children?: React.ReactNode;
}): JSX.Element {
  return (
    <label className={props.wide ? 'wb-field wb-field-wide' : 'wb-field'}>
      <span>{props.label}</span>
      <input
        className="jp-mod-styled"
        name={props.name}
        value={props.value}
        onChange={e => props.onChange(e.target.value)}
        placeholder={props.placeholder}
      />
      {props.children}
    </label>
  );
}

function CreateProject(props: ILabelingPanelProps): JSX.Element {
  const { model, datasets } = props;
  const [title, setTitle] = React.useState('');
  const [source, setSource] = React.useState<'folder' | 'dataset'>('folder');
  const [folder, setFolder] = React.useState('');
  const [dataset, setDataset] = React.useState('');
  const [classes, setClasses] = React.useState('');
  const [error, setError] = React.useState<string | null>(null);
  const refs = datasets.datasets.flatMap(d =>
    d.versions.map(v => `${d.name}@v${v}`)
  );
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setError(null);
    const names = classes
      .split(',')
      .map(s => s.trim())
      .filter(Boolean);
    await model.create({
      title: title.trim(),
      ...(source === 'folder' ? { images: folder.trim() } : { dataset }),
      ...(names.length ? { classes: names } : {})
    });
  };
  return (
    <form className="wb-create-project" onSubmit={submit}>
      <TextField
        label="Title"
        name="title"
        value={title}
        onChange={setTitle}
        placeholder="digits"
      />
      <label className="wb-field">
        <span>From</span>
        <select
          className="jp-mod-styled"
          name="source"
          value={source}
          onChange={e => setSource(e.target.value as 'folder' | 'dataset')}
        >
          <option value="folder">an image folder</option>
          <option value="dataset" disabled={refs.length === 0}>
            a dataset version
          </option>
        </select>
      </label>
      {source === 'folder' ? (
        <TextField
          wide
          label="Image folder"
          name="images"
          value={folder}
          onChange={setFolder}
          placeholder="a folder under the Jupyter root, e.g. data/digits"
        >
          <Button
            onClick={() => {
              const picked = props.pickFolder();
              if (picked) {
                setFolder(picked);
              } else {
                setError('Select a folder in the file browser first.');
              }
            }}
          >
            Use file browser selection
          </Button>
        </TextField>
      ) : (
        <label className="wb-field">
          <span>Dataset version</span>
          <select
            className="jp-mod-styled"
            name="dataset"
            value={dataset}
            onChange={e => setDataset(e.target.value)}
          >
            <option value="" />
            {refs.map(r => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </label>
      )}
      <TextField
        wide
        label="Classes"
        name="classes"
        value={classes}
        onChange={setClasses}
        placeholder="comma-separated; empty: the subfolder names"
      />
      <Button
        accent
        type="submit"
        className="wb-create"
        disabled={model.activity?.running}
      >
        Create project
      </Button>
      <ErrorBanner message={error} />
    </form>
  );
}

function thumb(
  config: IServerConfig | undefined,
  project: IProject,
  path: string
) {
  return config && project.images
    ? fileURL(config.root_dir, `${project.images}/${path}`)
    : null;
}

function ProjectCard(
  props: ILabelingPanelProps & { project: IProject; config?: IServerConfig }
) {
  const { model, project, config } = props;
  useSignal(model.changed);
  const activity = model.projectActivity(project.id);
  const strategies = config?.labeling?.batch_strategies ?? ['least-confidence'];
  const [strategy, setStrategy] = React.useState(strategies[0]);
  const [registered, setRegistered] = React.useState('');
  const [exportName, setExportName] = React.useState(project.title);
  const [batch, setBatch] = React.useState<INextBatch | null>(null);
  const [batchError, setBatchError] = React.useState<string | null>(null);
  const busy = activity?.running ?? false;
  const result =
    activity && !activity.running && !activity.error ? activity.result : null;
  const pct = project.total
    ? Math.round((100 * project.labeled) / project.total)
    : 0;

  const act = (
    action: 'predict' | 'accept' | 'issues' | 'export',
    body: Record<string, unknown>,
    label: string
  ) => void model.act(project.id, action, body, label);

  return (
    <li className="wb-project" data-project-id={project.id}>
      <div className="wb-project-head">
        <h4>{project.title}</h4>
        <span className="wb-muted">
          {project.labeled} / {project.total} labeled ({pct}%)
        </span>
        <Button
          accent
          className="wb-open-ls"
          onClick={() =>
            props.openLabelStudio(`projects/${project.id}/data`, project.title)
          }
        >
          Label in Label Studio
        </Button>
      </div>
      <progress
        className="wb-project-progress"
        max={project.total || 1}
        value={project.labeled}
      />
      <div className="wb-per-class">
        {Object.entries(project.per_class).map(([label, n]) => (
          <span key={label} className="wb-chip" data-class={label}>
            {label}: {n}
          </span>
        ))}
      </div>
      <div className="wb-project-actions">
        <Button
          className="wb-autolabel"
          disabled={busy}
          onClick={() => act('predict', { auto: true }, 'Auto-label')}
          title="Train a small model on the labels so far and pre-label the rest"
        >
          Auto-label
        </Button>
        <span className="wb-inline">
          <input
            className="jp-mod-styled"
            placeholder="registered model NAME[@VERSION]"
            value={registered}
            onChange={e => setRegistered(e.target.value)}
          />
          <Button
            disabled={busy || !registered.trim()}
            onClick={() =>
              act('predict', { model: registered.trim() }, 'Pre-label')
            }
          >
            Pre-label
          </Button>
        </span>
        <Button
          disabled={busy}
          onClick={() => act('accept', {}, 'Accept predictions')}
          title="Turn the current predictions on unlabeled tasks into labels"
        >
          Accept predictions
        </Button>
        <Button
          className="wb-issues"
          disabled={busy}
          onClick={() => act('issues', { top: 50, view: true }, 'Label issues')}
        >
          Find label issues
        </Button>
        <span className="wb-inline">
          <select
            className="jp-mod-styled"
            value={strategy}
            onChange={e => setStrategy(e.target.value)}
          >
            {strategies.map(s => (
              <option key={s}>{s}</option>
            ))}
          </select>
          <Button
            disabled={busy}
            onClick={async () => {
              setBatchError(null);
              try {
                setBatch(await nextBatch(project.id, 20, strategy));
              } catch (e) {
                setBatchError(errorMessage(e));
              }
            }}
          >
            Next batch
          </Button>
        </span>
        <span className="wb-inline">
          <input
            className="jp-mod-styled wb-export-name"
            value={exportName}
            onChange={e => setExportName(e.target.value)}
            aria-label="dataset name"
          />
          <Button
            accent
            className="wb-export"
            disabled={busy || !exportName.trim()}
            onClick={() =>
              act('export', { dataset: exportName.trim() }, 'Export')
            }
          >
            Export version
          </Button>
        </span>
      </div>
      <ActivityLine activity={activity} />
      <ErrorBanner message={batchError} prefix="Next batch: " />
      {result !== null && (
        <Outcome {...props} label={activity!.label} result={result} />
      )}
      {batch && (
        <div className="wb-batch">
          <h5>
            Next {batch.tasks.length} to label ({batch.strategy}
            {batch.ranked_by ? `, ranked by ${batch.ranked_by}` : ''})
          </h5>
          <div className="wb-thumbs">
            {batch.tasks.map(t => {
              const src = thumb(config, project, t.path);
              return (
                <button
                  type="button"
                  key={t.task}
                  className="wb-thumb"
                  title={`task ${t.task}, uncertainty ${t.uncertainty.toFixed(3)}`}
                  onClick={() =>
                    props.openLabelStudio(
                      `projects/${project.id}/data?task=${t.task}`,
                      project.title
                    )
                  }
                >
                  {src ? <img src={src} alt={t.path} /> : t.path}
                </button>
              );
            })}
          </div>
        </div>
      )}
    </li>
  );
}

function Outcome(
  props: ILabelingPanelProps & {
    project: IProject;
    config?: IServerConfig;
    label: string;
    result: unknown;
  }
): JSX.Element | null {
  const { label, result, project, config } = props;
  if (label === 'Auto-label' || label === 'Pre-label') {
    const r = result as IPrediction;
    return (
      <div className="wb-outcome" data-outcome="predict">
        Pre-labeled {r.predicted} tasks with {r.model_version}
        {r.held_out_accuracy !== undefined && r.held_out_accuracy !== null && (
          <>
            {' '}
            · held-out accuracy{' '}
            <strong className="wb-held-out">
              {(100 * r.held_out_accuracy).toFixed(1)}%
            </strong>
            {r.trained_on !== undefined
              ? ` (trained on ${r.trained_on} labels, ${r.cv_folds}-fold)`
              : ''}
          </>
        )}
      </div>
    );
  }
  if (label === 'Export') {
    const r = result as { ref: string; items: number; created: boolean };
    return (
      <div className="wb-outcome" data-outcome="export">
        {r.created ? 'Exported' : 'Unchanged since'}{' '}
        <code className="wb-version-ref">{r.ref}</code> ({r.items} items){' '}
        <Button onClick={() => props.openDataset(r.ref)}>
          Open in Datasets
        </Button>
      </div>
    );
  }
  if (label === 'Label issues') {
    const r = result as ILabelIssues;
    if (r.suspects.length === 0) {
      return <div className="wb-outcome">No likely label errors found.</div>;
    }
    return (
      <table className="wb-issues-table" data-outcome="issues">
        <thead>
          <tr>
            <th>Image</th>
            <th>Given</th>
            <th>Suggested</th>
            <th>Confidence in given</th>
          </tr>
        </thead>
        <tbody>
          {r.suspects.map(s => {
            const src = thumb(config, project, s.path);
            return (
              <tr
                key={s.task}
                className="wb-suspect"
                onClick={() =>
                  props.openLabelStudio(
                    `projects/${project.id}/data?task=${s.task}`,
                    project.title
                  )
                }
              >
                <td>
                  {src ? (
                    <img className="wb-thumb-img" src={src} alt={s.path} />
                  ) : (
                    s.path
                  )}
                </td>
                <td>{s.given}</td>
                <td>{s.suggested}</td>
                <td className="wb-num">{s.self_confidence.toFixed(3)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    );
  }
  if (label === 'Accept predictions') {
    const r = result as { accepted: number; below_threshold: number };
    return (
      <div className="wb-outcome">
        Accepted {r.accepted} predictions as labels ({r.below_threshold} below
        the threshold kept).
      </div>
    );
  }
  return null;
}

/** Label Studio's server, the projects with their progress, and the labeling loop's actions. */
export function LabelingPanel(props: ILabelingPanelProps): JSX.Element {
  const { model, server } = props;
  useSignal(props.datasets.changed);
  useSignal(model.changed);
  const [config] = usePromise(() => server.config, [server]);
  const running = model.status?.running ?? false;
  return (
    <div className="wb-panel wb-labeling-panel">
      <ServerBar model={model} />
      <ActivityLine activity={model.activity} />
      <ErrorBanner
        message={model.error}
        prefix="Label Studio: "
        hint="Start it here or with `workbench label start`; `workbench doctor` checks the install."
      />
      {running ? (
        <div className="wb-columns">
          <Section title="Projects" className="wb-col-wide">
            {model.projects.length === 0 && (
              <div className="wb-empty">
                No projects yet: create one from an image folder.
              </div>
            )}
            <ul className="wb-projects">
              {model.projects.map(p => (
                <ProjectCard
                  key={p.id}
                  {...props}
                  project={p}
                  config={config}
                />
              ))}
            </ul>
          </Section>
          <Section title="New project" className="wb-col-form">
            <CreateProject {...props} />
          </Section>
        </div>
      ) : (
        model.status && (
          <div className="wb-empty">
            Label Studio is not running. Start it to create projects and label.
          </div>
        )
      )}
    </div>
  );
}
