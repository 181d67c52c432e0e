import { PageConfig } from '@jupyterlab/coreutils';

import { IJob, IRun } from '../api';
import { JobsModel } from '../model/jobs';
import { followOperation } from '../model/operations';
import { orderByClause, RunsModel } from '../model/runs';

const realFetch = globalThis.fetch;

type Handler = (url: URL, init: Request) => unknown;

/** Answer requests by path; returns the list of URLs asked for. */
function serve(handler: Handler): URL[] {
  const seen: URL[] = [];
  globalThis.fetch = jest.fn(async (input: RequestInfo | URL) => {
    const request = input as Request;
    const url = new URL(request.url);
    seen.push(url);
    const body = await handler(url, request);
    const status = (body as { __status?: number })?.__status ?? 200;
    return new Response(JSON.stringify(body), {
      status,
      headers: { 'Content-Type': 'application/json' }
    });
  }) as unknown as typeof fetch;
  return seen;
}

beforeAll(() => {
  PageConfig.setOption('baseUrl', 'http://localhost:8888/');
  PageConfig.setOption('token', 't');
});

afterEach(() => {
  globalThis.fetch = realFetch;
});

function run(i: number): IRun {
  return {
    run_id: `r${i}`,
    run_name: `run-${i}`,
    status: 'FINISHED',
    start_time: i,
    metrics: { test_accuracy: i / 1000 },
    params: { model: 'mlp' }
  };
}

describe('RunsModel', () => {
  it('pages from the server with the sort and filter, and knows when it is done', async () => {
    const seen = serve(url => {
      const token = url.searchParams.get('page_token');
      const start = token ? Number(token) : 0;
      const runs = Array.from({ length: 200 }, (_, i) => run(start + i));
      return {
        runs,
        next_page_token: start + 200 < 400 ? String(start + 200) : null
      };
    });
    const model = new RunsModel();
    await model.open('7');
    expect(model.runs).toHaveLength(200);
    expect(model.hasMore).toBe(true);
    await model.loadMore();
    expect(model.runs).toHaveLength(400);
    expect(model.hasMore).toBe(false);
    await model.loadMore(); // nothing more to ask for
    expect(seen).toHaveLength(2);
    expect(seen[0].searchParams.get('page_size')).toBe('200');
    expect(model.columns.map(c => c.key)).toEqual(['test_accuracy', 'model']);

    await model.setSort({ field: 'metrics.test_accuracy', direction: 'ASC' });
    await model.setFilter(" params.model = 'mlp' ");
    const last = seen[seen.length - 1];
    expect(last.searchParams.get('order_by')).toBe('metrics.test_accuracy ASC');
    expect(last.searchParams.get('filter')).toBe("params.model = 'mlp'");
    expect(last.searchParams.get('page_token')).toBeNull();
  });

  it('drops a page that arrives after the query changed, and loads the new one', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>(resolve => (release = resolve));
    serve(async url => {
      if (url.searchParams.get('order_by')?.startsWith('attributes')) {
        await gate; // the old query's page is slow
        return { runs: [run(1)], next_page_token: null };
      }
      return { runs: [run(2), run(3)], next_page_token: null };
    });
    const model = new RunsModel();
    const opening = model.open('7');
    const sorting = model.setSort({
      field: 'metrics.test_accuracy',
      direction: 'DESC'
    });
    await sorting;
    release();
    await opening;
    expect(model.runs.map(r => r.run_id)).toEqual(['r2', 'r3']);
    expect(model.loading).toBe(false);
  });

  it("shows the server's error", async () => {
    serve(() => ({ __status: 400, message: 'filter: bad syntax' }));
    const model = new RunsModel();
    await model.open('7');
    expect(model.error).toBe('filter: bad syntax');
  });

  it('quotes keys MLflow cannot read bare', () => {
    expect(
      orderByClause({ field: 'metrics.test_accuracy', direction: 'DESC' })
    ).toBe('metrics.test_accuracy DESC');
    expect(orderByClause({ field: 'metrics.val/loss', direction: 'ASC' })).toBe(
      'metrics.`val/loss` ASC'
    );
  });
});

function job(id: string, state: IJob['state']): IJob {
  return {
    id,
    name: id,
    backend: 'local',
    state,
    ranks: 1,
    created_at: 1,
    started_at: null,
    finished_at: null,
    reason: null
  };
}

describe('JobsModel', () => {
  it('reports the end of a job submitted here, once, and not of others', async () => {
    let states: IJob[] = [];
    serve((url, request) => {
      if (url.pathname.endsWith('/train') && request.method === 'POST') {
        return job('mine', 'queued');
      }
      return { jobs: states };
    });
    const model = new JobsModel(60_000);
    const ended: string[] = [];
    model.ended.connect((_, j) => ended.push(`${j.id}:${j.state}`));
    await model.submit({ spec: {}, ranks: 1 });
    expect(model.jobs[0].id).toBe('mine');
    states = [job('mine', 'running'), job('other', 'failed')];
    await model.refreshNow();
    expect(ended).toEqual([]);
    states = [job('mine', 'succeeded'), job('other', 'failed')];
    await model.refreshNow();
    await model.refreshNow();
    expect(ended).toEqual(['mine:succeeded']);
    model.dispose();
  });
});

describe('followOperation', () => {
  it('reports progress and returns the result', async () => {
    let polls = 0;
    serve(() => {
      polls += 1;
      return polls < 2
        ? {
            id: 'op1-1',
            kind: 'k',
            state: 'running',
            progress: { done: 1, total: 3 }
          }
        : {
            id: 'op1-1',
            kind: 'k',
            state: 'succeeded',
            progress: { done: 3, total: 3 },
            result: 42
          };
    });
    const progress: number[] = [];
    const result = await followOperation(
      Promise.resolve({ id: 'op1-1', kind: 'k', state: 'running', started: 0, finished: null,
        progress: { done: 0, total: 3 }, result: null, error: null }), // prettier-ignore
      p => progress.push(p.done ?? -1),
      1
    );
    expect(result).toBe(42);
    expect(progress).toEqual([0, 1, 3]);
  });

  it("throws the server's error", async () => {
    await expect(
      followOperation(
        Promise.resolve({ id: 'op1-1', kind: 'labeling.export', state: 'failed', started: 0,
          finished: 1, progress: {}, result: null, error: { message: 'dataset: no labels' } }), // prettier-ignore
        () => undefined,
        1
      )
    ).rejects.toThrow('dataset: no labels');
  });
});
