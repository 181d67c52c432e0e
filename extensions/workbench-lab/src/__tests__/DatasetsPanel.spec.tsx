/**
 * @jest-environment ./jest-jsdom-env.js
 */
import * as React from 'react';
import {
  act,
  fireEvent,
  render,
  screen,
  waitFor
} from '@testing-library/react';
import { PageConfig } from '@jupyterlab/coreutils';

import { DatasetsPanel } from '../components/DatasetsPanel';
import { DatasetsModel } from '../model/datasets';

const version = (n: number) => ({
  ref: `digits@v${n}`,
  name: 'digits',
  version: n,
  kind: 'classification',
  items: 10 * n,
  classes: { '0': 4 * n, '1': 6 * n },
  provenance: { human: 8, auto: 2 * n },
  parent: n > 1 ? `digits@v${n - 1}` : null,
  created_at: 1,
  content_hash: 'abcdef0123456789'
});

function jsonResponse(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' }
  });
}

beforeAll(() => {
  PageConfig.setOption('baseUrl', 'http://localhost:8888/');
});

describe('DatasetsPanel', () => {
  let asked: string[];
  beforeEach(() => {
    asked = [];
    globalThis.fetch = jest.fn(async (input: RequestInfo | URL) => {
      const url = decodeURIComponent(
        typeof input === 'string' ? input : (input as Request).url
      );
      asked.push(url);
      if (url.includes('/datasets/diff')) {
        return jsonResponse({
          base: 'digits@v1',
          other: 'digits@v2',
          added: ['a.png'],
          removed: [],
          relabelled: [{ item: 'b.png', from: '0', to: '1' }]
        });
      }
      const ref = /datasets\/(digits@v\d)/.exec(url);
      if (ref) {
        return jsonResponse(version(Number(ref[1].slice(-1))));
      }
      return jsonResponse({
        datasets: [{ name: 'digits', versions: [1, 2], latest: version(2) }]
      });
    }) as unknown as typeof fetch;
  });

  it('shows the latest version with counts per class, diffs, and trains on a version', async () => {
    const model = new DatasetsModel(60_000);
    const onTrain = jest.fn();
    render(<DatasetsPanel model={model} onTrain={onTrain} />);
    model.show(); // as the panel's widget does when it shows
    await screen.findByText('digits@v2', { selector: 'h3' });
    const counts = document.querySelector('.wb-class-counts')!;
    expect(counts.querySelector('tr[data-key="1"] .wb-num')!.textContent).toBe(
      '12'
    );
    expect(screen.getByText(/20 items · classification/)).toBeTruthy();

    fireEvent.click(screen.getByText('Train on this version'));
    expect(onTrain).toHaveBeenCalledWith('digits@v2');

    fireEvent.click(screen.getByText('v1'));
    await screen.findByText('digits@v1', { selector: 'h3' });

    await act(async () => {
      fireEvent.click(screen.getByText('Diff'));
    });
    await waitFor(() =>
      expect(document.querySelector('.wb-diff-result')).toBeTruthy()
    );
    expect(document.querySelector('.wb-diff-result p')!.textContent).toBe(
      '1 added · 0 removed · 1 relabelled'
    );
    expect(asked.some(u => u.includes('base=digits@v1&other=digits@v2'))).toBe(
      true
    );
    model.dispose();
  });

  it('says what the server said when the datasets cannot load', async () => {
    globalThis.fetch = jest.fn(async () =>
      jsonResponse({ message: 'datasets dir unreadable' }, 500)
    ) as unknown as typeof fetch;
    const model = new DatasetsModel(60_000);
    render(<DatasetsPanel model={model} onTrain={() => undefined} />);
    model.show();
    await screen.findByText('Datasets: datasets dir unreadable');
    model.dispose();
  });
});
