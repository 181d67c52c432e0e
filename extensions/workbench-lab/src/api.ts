import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

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

/** Version information reported by `GET /workbench/api/version`. */
export interface IVersionInfo {
  name: string;
  version: string;
}

interface IErrorBody {
  message?: unknown;
  reason?: unknown;
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
  // Keep the query string out of the path join (it would be normalised as a path).
  const queryAt = endPoint.indexOf('?');
  const path = queryAt < 0 ? endPoint : endPoint.slice(0, queryAt);
  const query = queryAt < 0 ? '' : endPoint.slice(queryAt);
  const url = URLExt.join(settings.baseUrl, 'workbench', 'api', path) + query;

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

/** Fetch the Workbench server name and version. */
export function getVersion(): Promise<IVersionInfo> {
  return requestAPI<IVersionInfo>('version');
}

// ---------------------------------------------------------------------------
// Endpoint paths (pure, unit-tested) and typed helpers per endpoint.
// ---------------------------------------------------------------------------

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

/** One model of the zoo (`GET /workbench/api/models`). */
export interface IModelInfo {
  name: string;
  framework: string;
  description: string;
  /** JSON schema of the model's hyper-parameters. */
  hyperparameters: {
    properties?: Record<string, { default?: unknown; description?: string }>;
  };
}

export async function listModels(): Promise<IModelInfo[]> {
  const data = await requestAPI<{ models: IModelInfo[] }>('models');
  return data.models;
}

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

/** A job as the jobs API returns it (subset of the fields the UI uses). */
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
}

/** Body of `POST /workbench/api/train`: the server builds the job from the spec. */
export interface ITrainingSubmission {
  spec: Record<string, unknown>;
  ranks: number;
  backend?: string;
}

export interface ITrainingRequest {
  model: string;
  dataset: string;
  ranks: number;
  epochs: number;
}

/**
 * The one-click training: `<model>` on `<dataset>` over `ranks` ranks. Only the training
 * spec is built here; its defaults and the job around it are the server's.
 */
export function trainingJob(request: ITrainingRequest): ITrainingSubmission {
  return {
    spec: {
      name: `${request.model}-${request.dataset}`,
      experiment: 'workbench',
      model: { name: request.model },
      data: { source: request.dataset },
      train: { epochs: request.epochs }
    },
    ranks: request.ranks
  };
}

export function submitTraining(body: ITrainingSubmission): Promise<IJob> {
  return requestAPI<IJob>('train', {
    method: 'POST',
    body: JSON.stringify(body)
  });
}

export function jobsPath(limit = 20): string {
  return withQuery('jobs', [['limit', limit]]);
}

export async function listJobs(limit = 20): Promise<IJob[]> {
  const data = await requestAPI<{ jobs: IJob[] }>(jobsPath(limit));
  return data.jobs;
}

export function cancelJob(id: string): Promise<IJob> {
  return requestAPI<IJob>(`jobs/${encodeURIComponent(id)}/cancel`, {
    method: 'POST',
    body: ''
  });
}

export interface ILogLine {
  rank: number;
  stream: string;
  text: string;
}

export function jobLogsPath(id: string, tail = 50): string {
  return withQuery(`jobs/${encodeURIComponent(id)}/logs`, [['tail', tail]]);
}

export async function getJobLogs(id: string, tail = 50): Promise<ILogLine[]> {
  const data = await requestAPI<{ lines: ILogLine[] }>(jobLogsPath(id, tail));
  return data.lines;
}

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
  status: string;
  start_time: number | null;
  metrics: Record<string, number>;
  params: Record<string, string>;
  datasets?: IRunDataset[];
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
}

export function runsPath(query: IRunQuery): string {
  return withQuery('runs', [
    ['experiment_id', query.experimentId],
    ['page_size', query.pageSize ?? 20],
    ['order_by', query.orderBy ?? 'attributes.start_time DESC'],
    ['page_token', query.pageToken]
  ]);
}

export function listRuns(query: IRunQuery): Promise<IRunPage> {
  return requestAPI<IRunPage>(runsPath(query));
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
