import { PageConfig } from '@jupyterlab/coreutils';

import { getVersion, requestAPI, WorkbenchAPIError } from '../api';

const realFetch = globalThis.fetch;

function mockFetch(impl: (request: Request) => Promise<Response>): jest.Mock {
  const fn = jest.fn(impl);
  globalThis.fetch = fn as unknown as typeof fetch;
  return fn;
}

function json(body: unknown, status = 200): Promise<Response> {
  return Promise.resolve(
    new Response(JSON.stringify(body), {
      status,
      headers: { 'Content-Type': 'application/json' }
    })
  );
}

beforeAll(() => {
  // Outside a browser there is no page URL: give the settings an absolute base.
  PageConfig.setOption('baseUrl', 'http://localhost:8888/lab-base/');
  PageConfig.setOption('token', 'secret');
});

afterEach(() => {
  globalThis.fetch = realFetch;
});

describe('requestAPI', () => {
  it('calls /workbench/api/<endpoint> and parses JSON', async () => {
    const fetchMock = mockFetch(() =>
      json({ name: 'workbench', version: '0.1.0' })
    );
    await expect(getVersion()).resolves.toEqual({
      name: 'workbench',
      version: '0.1.0'
    });
    const request = fetchMock.mock.calls[0][0] as Request;
    expect(new URL(request.url).pathname).toBe(
      '/lab-base/workbench/api/version'
    );
    expect(request.headers.get('Authorization')).toBe('token secret');
  });

  it('maps a JSON error body to WorkbenchAPIError', async () => {
    mockFetch(() =>
      json({ message: 'No such job: 42', reason: 'not-found' }, 404)
    );
    const error = await requestAPI('jobs/42').catch(e => e);
    expect(error).toBeInstanceOf(WorkbenchAPIError);
    expect(error.message).toBe('No such job: 42');
    expect(error.status).toBe(404);
    expect(error.reason).toBe('not-found');
  });

  it('falls back to the HTTP status when the body is not JSON', async () => {
    mockFetch(() =>
      Promise.resolve(
        new Response('<html>oops</html>', {
          status: 502,
          statusText: 'Bad Gateway'
        })
      )
    );
    const error = await requestAPI('version').catch(e => e);
    expect(error).toBeInstanceOf(WorkbenchAPIError);
    expect(error.status).toBe(502);
    expect(error.message).toBe('HTTP 502 Bad Gateway');
  });

  it('reports an unreachable server clearly', async () => {
    mockFetch(() => Promise.reject(new TypeError('Failed to fetch')));
    const error = await requestAPI('version').catch(e => e);
    expect(error).toBeInstanceOf(WorkbenchAPIError);
    expect(error.status).toBe(0);
    expect(error.message).toMatch(/unreachable/);
  });
});
