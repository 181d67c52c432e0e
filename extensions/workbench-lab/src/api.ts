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
  const url = URLExt.join(settings.baseUrl, 'workbench', 'api', endPoint);

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
