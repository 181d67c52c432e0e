import { PageConfig } from '@jupyterlab/coreutils';

import {
  cancelJob,
  getMetricHistory,
  jobLogsPath,
  jobsPath,
  listRuns,
  metricHistoryPath,
  runsPath,
  submitTraining,
  withQuery
} from '../api';

const realFetch = globalThis.fetch;

function mockFetch(body: unknown, status = 200): jest.Mock {
  const fn = jest.fn(() =>
    Promise.resolve(
      new Response(JSON.stringify(body), {
        status,
        headers: { 'Content-Type': 'application/json' }
      })
    )
  );
  globalThis.fetch = fn as unknown as typeof fetch;
  return fn;
}

function requestOf(fn: jest.Mock): Request {
  return fn.mock.calls[0][0] as Request;
}

beforeAll(() => {
  PageConfig.setOption('baseUrl', 'http://localhost:8888/lab-base/');
  PageConfig.setOption('token', 'secret');
});

afterEach(() => {
  globalThis.fetch = realFetch;
});

describe('endpoint paths', () => {
  it('builds query strings, skipping empty values and encoding the rest', () => {
    expect(withQuery('jobs', [])).toBe('jobs');
    expect(
      withQuery('x', [
        ['a', 1],
        ['b', undefined],
        ['c', null],
        ['d', ''],
        ['e', 'a b&c']
      ])
    ).toBe('x?a=1&e=a%20b%26c');
  });

  it('jobs, logs and metric paths', () => {
    expect(jobsPath()).toBe('jobs?limit=50');
    expect(jobLogsPath('abc123')).toBe('jobs/abc123/logs?tail=200');
    expect(jobLogsPath('abc', 10)).toBe('jobs/abc/logs?tail=10');
    expect(metricHistoryPath('f'.repeat(32), 'test_accuracy')).toBe(
      `runs/${'f'.repeat(32)}/metrics/test_accuracy`
    );
    expect(metricHistoryPath('r', 'val/loss x')).toBe(
      'runs/r/metrics/val/loss%20x'
    );
  });

  it('runs path: experiment, page size, newest first, page token', () => {
    expect(runsPath({ experimentId: '7' })).toBe(
      'runs?experiment_id=7&page_size=100&order_by=attributes.start_time%20DESC'
    );
    expect(
      runsPath({ experimentId: '7', pageSize: 5, pageToken: 'tok=+/' })
    ).toBe(
      'runs?experiment_id=7&page_size=5&order_by=attributes.start_time%20DESC&page_token=tok%3D%2B%2F'
    );
  });
});

describe('requests', () => {
  it('POSTs the training request to train', async () => {
    const fetchMock = mockFetch({ id: 'j1', state: 'queued' }, 201);
    const body = {
      spec: { name: 'mlp-digits', model: { name: 'mlp' } },
      ranks: 1
    };
    await expect(submitTraining(body)).resolves.toEqual({
      id: 'j1',
      state: 'queued'
    });
    const request = requestOf(fetchMock);
    expect(request.method).toBe('POST');
    expect(new URL(request.url).pathname).toBe('/lab-base/workbench/api/train');
    expect(JSON.parse(await request.text())).toEqual(body);
  });

  it('cancels with a POST to jobs/<id>/cancel', async () => {
    const fetchMock = mockFetch({ id: 'j1', state: 'cancelling' });
    await cancelJob('j1');
    const request = requestOf(fetchMock);
    expect(request.method).toBe('POST');
    expect(new URL(request.url).pathname).toBe(
      '/lab-base/workbench/api/jobs/j1/cancel'
    );
  });

  it('keeps the query string intact through the URL join', async () => {
    const fetchMock = mockFetch({ runs: [], next_page_token: null });
    await listRuns({ experimentId: '3', pageToken: 'abc' });
    const url = new URL(requestOf(fetchMock).url);
    expect(url.pathname).toBe('/lab-base/workbench/api/runs');
    expect(url.searchParams.get('experiment_id')).toBe('3');
    expect(url.searchParams.get('page_size')).toBe('100');
    expect(url.searchParams.get('order_by')).toBe('attributes.start_time DESC');
    expect(url.searchParams.get('page_token')).toBe('abc');
  });

  it('unwraps the metric history', async () => {
    mockFetch({ run_id: 'r', key: 'k', history: [{ step: 0, value: 1 }] });
    await expect(getMetricHistory('r', 'k')).resolves.toEqual([
      { step: 0, value: 1 }
    ]);
  });
});
