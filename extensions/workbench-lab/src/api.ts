import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import type { TrainRequest } from './generated/train_request';
import type { SelectRequest } from './generated/select_request';

export type { TrainRequest, SelectRequest };

/**
 * Error raised when the Workbench server answers with a non-2xx status,
 * or cannot be reached at all (status 0).
 */
export class WorkbenchAPIError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly reason: string = ''
  ) {
    super(message);
    this.name = 'WorkbenchAPIError';
  }
}

interface IErrorBody {
  message?: unknown;
  reason?: unknown;
}

/** `<baseUrl>/workbench/api/<endPoint>` (the query string kept out of the path join). */
export function apiURL(endPoint: string): string {
  const settings = ServerConnection.makeSettings();
  const queryAt = endPoint.indexOf('?');
  const path = queryAt < 0 ? endPoint : endPoint.slice(0, queryAt);
  const query = queryAt < 0 ? '' : endPoint.slice(queryAt);
  return URLExt.join(settings.baseUrl, 'workbench', 'api', path) + query;
}

/**
 * Call the Workbench REST API under `<baseUrl>/workbench/api/<endPoint>`.
 *
 * This is the only place in the extension that talks to the server.
 * `ServerConnection.makeRequest` adds the auth token and XSRF header.
 */
export async function requestAPI<T>(
  endPoint: string,
  init: RequestInit = {}
): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = apiURL(endPoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new WorkbenchAPIError(
      `Workbench server is unreachable (${detail})`,
      0,
      'network'
    );
  }

  const text = await response.text();
  let data: unknown = undefined;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      if (response.ok) {
        throw new WorkbenchAPIError(
          `Invalid JSON from ${endPoint}`,
          response.status,
          'invalid-json'
        );
      }
    }
  }

  if (!response.ok) {
    const body = (data ?? {}) as IErrorBody;
    const message =
      typeof body.message === 'string' && body.message
        ? body.message
        : `HTTP ${response.status} ${response.statusText}`.trim();
    const reason = typeof body.reason === 'string' ? body.reason : '';
    throw new WorkbenchAPIError(message, response.status, reason);
  }

  return data as T;
}

function post<T>(endPoint: string, body: unknown = {}): Promise<T> {
  return requestAPI<T>(endPoint, {
    method: 'POST',
    body: JSON.stringify(body)
  });
}

type QueryValue = string | number | undefined | null;

/** `path?k=v&...`, skipping undefined/null/'' values; values are URL-encoded. */
export function withQuery(
  path: string,
  params: [string, QueryValue][]
): string {
  const query = params
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(
      ([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`
    )
    .join('&');
  return query ? `${path}?${query}` : path;
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

export interface IVersionInfo {
  name: string;
  version: string;
}

export function getVersion(): Promise<IVersionInfo> {
  return requestAPI<IVersionInfo>('version');
}

export interface IBackendInfo {
  name: string;
  available: boolean;
  detail: string;
}

/** `GET /workbench/api/config`: what this server offers (no policy lives in the UI). */
export interface IServerConfig {
  root_dir: string;
  backends?: IBackendInfo[];
  limits?: { max_ranks?: number | null };
  mlflow_ui_url?: string | null;
  labeling?: ILabelingOptions;
}

export function getConfig(): Promise<IServerConfig> {
  return requestAPI<IServerConfig>('config');
}

/** A JSON Schema as the server's pydantic models emit it. */
export type JSONSchema = Record<string, unknown>;

/** `GET /workbench/api/schemas`: the specs' JSON Schemas. */
export interface ISchemas {
  training: JSONSchema;
  selection: JSONSchema;
  train_request: JSONSchema;
  select_request: JSONSchema;
}

export function getSchemas(): Promise<ISchemas> {
  return requestAPI<ISchemas>('schemas');
}

/** A long server-side operation (`202` + `GET operations/<id>`). */
export interface IOperation<T = unknown> {
  id: string;
  kind: string;
  state: 'running' | 'succeeded' | 'failed';
  started: number;
  finished: number | null;
  progress: { done?: number; total?: number; stage?: string };
  result: T | null;
  /** The server's error, as the REST errors are: message, reason, status. */
  error: { message: string; reason?: string; status?: number } | string | null;
}

export function getOperation<T>(id: string): Promise<IOperation<T>> {
  return requestAPI<IOperation<T>>(`operations/${encodeURIComponent(id)}`);
}

// ---------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------

/** One model of the zoo (`GET /workbench/api/models`). */
export interface IModelInfo {
  name: string;
  framework: string;
  description: string;
  task?: string;
  /** JSON schema of the model's hyper-parameters. */
  hyperparameters: JSONSchema & {
    properties?: Record<string, { default?: unknown; description?: string }>;
  };
}

export async function listModels(): Promise<IModelInfo[]> {
  const data = await requestAPI<{ models: IModelInfo[] }>('models');
  return data.models;
}

export interface IModelVersion {
  name?: string;
  version: string;
  run_id: string | null;
  status: string;
  creation_timestamp: number | null;
  aliases?: string[];
  tags?: Record<string, string>;
}

export interface IRegisteredModel {
  name: string;
  description?: string | null;
  versions: IModelVersion[];
}

export async function listRegistered(): Promise<IRegisteredModel[]> {
  const data = await requestAPI<{ models: IRegisteredModel[] }>('registry');
  return data.models;
}

// ---------------------------------------------------------------------------
// Jobs
// ---------------------------------------------------------------------------

export type JobState =
  | 'queued'
  | 'starting'
  | 'running'
  | 'cancelling'
  | 'succeeded'
  | 'failed'
  | 'cancelled'
  | 'lost';

/** States that still change (`cancelling`: asked to stop, not seen ending yet). */
export const ACTIVE_JOB_STATES: ReadonlySet<string> = new Set([
  'queued',
  'starting',
  'running',
  'cancelling'
]);

/** A job as the jobs API returns it (the fields the UI uses). */
export interface IJob {
  id: string;
  name: string;
  backend: string;
  state: JobState;
  ranks: number;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  reason: string | null;
  run_id?: string | null;
}

/** `POST /workbench/api/train` (body typed from the server's schema): the server builds the job. */
export function submitTraining(body: TrainRequest): Promise<IJob> {
  return post<IJob>('train', body);
}

export function jobsPath(limit = 50): string {
  return withQuery('jobs', [['limit', limit]]);
}

export async function listJobs(limit = 50): Promise<IJob[]> {
  const data = await requestAPI<{ jobs: IJob[] }>(jobsPath(limit));
  return data.jobs;
}

export function getJob(id: string): Promise<IJob> {
  return requestAPI<IJob>(`jobs/${encodeURIComponent(id)}`);
}

export function cancelJob(id: string): Promise<IJob> {
  return post<IJob>(`jobs/${encodeURIComponent(id)}/cancel`);
}

export function retryJob(id: string): Promise<IJob> {
  return post<IJob>(`jobs/${encodeURIComponent(id)}/retry`);
}

export interface ILogLine {
  rank: number;
  stream: string;
  text: string;
}

export function jobLogsPath(id: string, tail = 200): string {
  return withQuery(`jobs/${encodeURIComponent(id)}/logs`, [['tail', tail]]);
}

export async function getJobLogs(id: string, tail = 200): Promise<ILogLine[]> {
  const data = await requestAPI<{ lines: ILogLine[] }>(jobLogsPath(id, tail));
  return data.lines;
}

/** Server-sent events of a job's log lines (follow mode), ending with `end`. */
export function jobLogStreamURL(id: string, rank?: number): string {
  const settings = ServerConnection.makeSettings();
  const url = apiURL(
    withQuery(`jobs/${encodeURIComponent(id)}/logs/stream`, [['rank', rank]])
  );
  // EventSource cannot send headers: the token goes in the query, as Jupyter allows.
  const token = settings.token;
  return token
    ? `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`
    : url;
}

// ---------------------------------------------------------------------------
// Experiments
// ---------------------------------------------------------------------------

export interface IExperiment {
  experiment_id: string;
  name: string;
}

export async function listExperiments(): Promise<IExperiment[]> {
  const data = await requestAPI<{ experiments: IExperiment[] }>('experiments');
  return data.experiments;
}

export interface IRunDataset {
  name: string;
  digest: string;
  context: string | null;
  profile: Record<string, number>;
}

export interface IRun {
  run_id: string;
  run_name: string | null;
  experiment_id?: string;
  status: string;
  start_time: number | null;
  end_time?: number | null;
  metrics: Record<string, number>;
  params: Record<string, string>;
  tags?: Record<string, string>;
  datasets?: IRunDataset[];
}

export interface IArtifact {
  path: string;
  size: number | null;
  is_image: boolean;
}

export interface IRunDetail extends IRun {
  artifacts: IArtifact[];
}

/** One line naming the dataset version a run read, e.g. "digits@v3 · 1f2e3d4c5b6a · train 1347, test 450". */
export function describeDataset(dataset: IRunDataset): string {
  const sizes = Object.entries(dataset.profile)
    .map(([key, value]) => `${key.replace(/_samples$/, '')} ${value}`)
    .join(', ');
  const parts = [dataset.name, dataset.digest.slice(0, 12)];
  if (sizes) {
    parts.push(sizes);
  }
  return parts.join(' · ');
}

export interface IRunPage {
  runs: IRun[];
  next_page_token: string | null;
}

export interface IRunQuery {
  experimentId: string;
  pageSize?: number;
  pageToken?: string | null;
  orderBy?: string;
  filter?: string;
}

export function runsPath(query: IRunQuery): string {
  return withQuery('runs', [
    ['experiment_id', query.experimentId],
    ['page_size', query.pageSize ?? 100],
    ['order_by', query.orderBy ?? 'attributes.start_time DESC'],
    ['filter', query.filter],
    ['page_token', query.pageToken]
  ]);
}

export function listRuns(query: IRunQuery): Promise<IRunPage> {
  return requestAPI<IRunPage>(runsPath(query));
}

export function getRun(runId: string): Promise<IRunDetail> {
  return requestAPI<IRunDetail>(`runs/${encodeURIComponent(runId)}`);
}

/** Same-origin URL of one artifact file of a run (for `<img src>`; cookie-authenticated). */
export function artifactURL(runId: string, path: string): string {
  const segments = path.split('/').map(encodeURIComponent).join('/');
  return apiURL(`runs/${encodeURIComponent(runId)}/artifacts/${segments}`);
}

export interface IMetricPoint {
  step: number;
  value: number;
}

export function metricHistoryPath(runId: string, key: string): string {
  const segments = key.split('/').map(encodeURIComponent).join('/');
  return `runs/${encodeURIComponent(runId)}/metrics/${segments}`;
}

export async function getMetricHistory(
  runId: string,
  key: string
): Promise<IMetricPoint[]> {
  const data = await requestAPI<{ history: IMetricPoint[] }>(
    metricHistoryPath(runId, key)
  );
  return data.history;
}

/** `GET runs/compare`: params and metrics of several runs, differing keys first. */
export interface IComparison {
  run_ids: string[];
  run_names: (string | null)[];
  params: Record<string, (string | null)[]>;
  metrics: Record<string, (number | null)[]>;
}

export function compareRuns(runIds: string[]): Promise<IComparison> {
  return requestAPI<IComparison>(
    withQuery(
      'runs/compare',
      runIds.map(id => ['run_id', id])
    )
  );
}

// ---------------------------------------------------------------------------
// Labeling and datasets
// ---------------------------------------------------------------------------

export interface ILabelStudioStatus {
  running: boolean;
  managed: boolean;
  url: string;
  pid: number | null;
  version: string | null;
  detail: string;
}

export function labelingStatus(): Promise<ILabelStudioStatus> {
  return requestAPI<ILabelStudioStatus>('labeling/server');
}

export function startLabelStudio(): Promise<IOperation<ILabelStudioStatus>> {
  return post('labeling/server/start');
}

export function stopLabelStudio(): Promise<ILabelStudioStatus> {
  return post('labeling/server/stop');
}

export interface IProject {
  id: number;
  title: string;
  template: string;
  classes: string[];
  images: string | null;
  dataset: string | null;
  total: number;
  labeled: number;
  per_class: Record<string, number>;
  url: string;
}

export async function listProjects(): Promise<IProject[]> {
  const data = await requestAPI<{ projects: IProject[] }>('labeling/projects');
  return data.projects;
}

export interface IProjectRequest {
  title: string;
  images?: string;
  dataset?: string;
  classes?: string[];
  template?: string;
}

export function createProject(
  body: IProjectRequest
): Promise<IOperation<{ project: IProject }>> {
  return post('labeling/projects', body);
}

export type ProjectAction = 'predict' | 'accept' | 'issues' | 'export';

export function projectAction<T>(
  project: number,
  action: ProjectAction,
  body: Record<string, unknown>
): Promise<IOperation<T>> {
  return post(`labeling/projects/${project}/${action}`, body);
}

export interface IPrediction {
  project: number;
  model_version: string;
  predicted: number;
  held_out_accuracy?: number;
  cv_folds?: number;
  trained_on?: number;
  predicted_per_class?: Record<string, number>;
}

export interface ISuspect {
  task: number;
  path: string;
  given: string;
  suggested: string;
  self_confidence: number;
}

export interface ILabelIssues {
  project: number;
  suspects: ISuspect[];
  url: string;
}

export interface INextBatch {
  project: number;
  strategy: string;
  ranked_by?: string;
  tasks: { task: number; path: string; uncertainty: number; url: string }[];
}

export function nextBatch(
  project: number,
  n: number,
  strategy: string
): Promise<INextBatch> {
  return requestAPI<INextBatch>(
    withQuery(`labeling/projects/${project}/next`, [
      ['n', n],
      ['strategy', strategy]
    ])
  );
}

export interface IDatasetVersion {
  ref: string;
  name: string;
  version: number;
  kind: string;
  items: number;
  classes: Record<string, number>;
  provenance: Record<string, number>;
  parent: string | null;
  created_at: number | string;
  content_hash: string;
}

export interface IDataset {
  name: string;
  versions: number[];
  latest: IDatasetVersion;
}

export async function listDatasets(): Promise<IDataset[]> {
  const data = await requestAPI<{ datasets: IDataset[] }>('datasets');
  return data.datasets;
}

export function getDataset(ref: string): Promise<IDatasetVersion> {
  return requestAPI<IDatasetVersion>(`datasets/${encodeURIComponent(ref)}`);
}

export interface IDatasetDiff {
  base: string;
  other: string;
  added: unknown[];
  removed: unknown[];
  relabelled: { item: string; from: unknown; to: unknown }[];
}

export function diffDatasets(
  base: string,
  other: string
): Promise<IDatasetDiff> {
  return requestAPI<IDatasetDiff>(
    withQuery('datasets/diff', [
      ['base', base],
      ['other', other]
    ])
  );
}

/** Strategies of the labeling loop, as the server names them (`GET config`). */
export interface ILabelingOptions {
  uncertainty_strategies: string[];
  batch_strategies: string[];
}

/**
 * Same-origin URL of a file under the Jupyter root (`/files/...`, cookie-authenticated),
 * or null when `absolute` is outside the root.
 */
export function fileURL(rootDir: string, absolute: string): string | null {
  const root = rootDir.replace(/\/+$/, '');
  if (absolute !== root && !absolute.startsWith(`${root}/`)) {
    return null;
  }
  const rel = absolute.slice(root.length + 1);
  const settings = ServerConnection.makeSettings();
  return URLExt.join(
    settings.baseUrl,
    'files',
    ...rel.split('/').map(encodeURIComponent)
  );
}

/** Label Studio's page `path` (e.g. `projects/3/data?task=7`) through the Jupyter server. */
export function labelStudioURL(path = ''): string {
  const settings = ServerConnection.makeSettings();
  return URLExt.join(settings.baseUrl, 'workbench', 'labelstudio', path);
}

/** The newest runs over every experiment (the sidebar's "recent runs"). */
export async function recentRuns(n: number): Promise<IRun[]> {
  const experiments = await listExperiments();
  if (experiments.length === 0) {
    return [];
  }
  const path = withQuery('runs', [
    ...experiments.map(
      e => ['experiment_id', e.experiment_id] as [string, string]
    ),
    ['page_size', n],
    ['order_by', 'attributes.start_time DESC']
  ]);
  return (await requestAPI<IRunPage>(path)).runs;
}

// ---------------------------------------------------------------------------
// Model selection
// ---------------------------------------------------------------------------

export interface IStudySummary {
  name: string;
  direction: 'maximize' | 'minimize';
  metric: string;
  experiment: string;
  start_time: number | string | null;
  trials: number;
  states: Record<string, number>;
  best_trial: number | null;
  best_value: number | null;
  best_params: Record<string, unknown> | null;
}

export interface ITrial {
  number: number;
  state: string;
  value: number | null;
  params: Record<string, unknown>;
  intermediate_values: IMetricPoint[];
  run_name: string | null;
  run_id: string | null;
}

export interface IStudy extends Omit<IStudySummary, 'trials' | 'states'> {
  spec: Record<string, unknown>;
  trials: ITrial[];
}

export async function listStudies(): Promise<IStudySummary[]> {
  return (await requestAPI<{ studies: IStudySummary[] }>('studies')).studies;
}

export function getStudy(name: string): Promise<IStudy> {
  return requestAPI<IStudy>(`studies/${encodeURIComponent(name)}`);
}

/** `POST select`: the study runs on the server as an operation (202). */
export function startSelection(
  body: SelectRequest
): Promise<IOperation<Record<string, unknown>> & { study: string }> {
  return post('select', body);
}

export function registerBest(
  study: string,
  name?: string
): Promise<{
  study: string;
  trial: number;
  value: number;
  model_version: IModelVersion;
}> {
  return post(
    `studies/${encodeURIComponent(study)}/register-best`,
    name ? { name } : {}
  );
}
