import {
  describeDataset,
  getMetricHistory,
  IExperiment,
  IRun,
  listExperiments,
  listRuns
} from '../api';
import { button, el, errorLine, errorMessage } from '../dom';
import { renderLineChart } from './chart';

const PAGE_SIZE = 20;
/** Metrics shown in the runs table and charted for the selected run. */
export const RUN_METRICS: [string, string][] = [
  ['test_accuracy', 'acc'],
  ['train_loss', 'loss']
];
const PREFERRED_EXPERIMENT = 'workbench';

export function formatMetric(value: number | undefined): string {
  if (value === undefined || value === null || !Number.isFinite(value)) {
    return '–';
  }
  return Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(3);
}

/** The Experiments section: pick an experiment, page through its runs, chart one. */
export class ExperimentsSection {
  readonly node = el('div', 'wb-experiments');

  constructor() {
    const bar = el('div', 'wb-row-head');
    this._select.setAttribute('aria-label', 'Experiment');
    this._select.addEventListener('change', () => {
      this._selectedRun = null;
      this._detail.replaceChildren();
      void this._loadRuns();
    });
    const refresh = button('wb-icon-button wb-refresh', '↻', () => {
      void this.refresh();
    });
    refresh.title = 'Refresh experiments';
    refresh.setAttribute('aria-label', 'Refresh experiments');
    bar.append(this._select, refresh);

    const table = el('table', 'wb-runs');
    const head = el('tr', '');
    const columns: [string, string, string][] = [
      ['Run', 'wb-col-name', 'Run name'],
      ['Status', 'wb-col-status', 'Run status'],
      ...RUN_METRICS.map(([key, label]): [string, string, string] => [
        label,
        'wb-col-metric',
        key
      ])
    ];
    for (const [text, cls, title] of columns) {
      const th = el('th', cls, text);
      th.scope = 'col';
      th.title = title;
      head.appendChild(th);
    }
    const thead = el('thead', '');
    thead.appendChild(head);
    table.append(thead, this._tbody);
    this._tableWrap.appendChild(table);

    this._more.hidden = true;
    this._tableWrap.hidden = true;
    this.node.append(
      bar,
      this._message,
      this._tableWrap,
      this._more,
      this._detail
    );
    this._setMessage('Loading experiments…');
    void this.refresh();
  }

  /** Reload the experiments and the first page of runs (keeps the selection). */
  async refresh(): Promise<void> {
    let experiments: IExperiment[];
    try {
      experiments = await listExperiments();
    } catch (error) {
      this._message.replaceChildren(errorLine(error, 'Experiments: '));
      this._message.hidden = false;
      return;
    }
    const previous = this._select.value;
    this._select.replaceChildren(
      ...experiments.map(e => new Option(e.name, e.experiment_id))
    );
    this._select.disabled = experiments.length === 0;
    if (experiments.length === 0) {
      this._tableWrap.hidden = true;
      this._more.hidden = true;
      this._setMessage('No runs tracked yet. Runs are stored in MLflow.', true);
      return;
    }
    const preferred = experiments.find(e => e.name === PREFERRED_EXPERIMENT);
    if (experiments.some(e => e.experiment_id === previous)) {
      this._select.value = previous;
    } else if (preferred) {
      this._select.value = preferred.experiment_id;
    }
    await this._loadRuns();
  }

  private _setMessage(text: string, empty = false): void {
    this._message.replaceChildren(
      el('p', empty ? 'wb-empty' : 'wb-muted', text)
    );
    this._message.hidden = false;
  }

  private async _loadRuns(pageToken: string | null = null): Promise<void> {
    const experimentId = this._select.value;
    if (!experimentId) {
      return;
    }
    this._more.disabled = true;
    try {
      const page = await listRuns({
        experimentId,
        pageSize: PAGE_SIZE,
        pageToken
      });
      if (experimentId !== this._select.value) {
        return; // the selection changed meanwhile
      }
      if (!pageToken) {
        this._tbody.replaceChildren();
      }
      for (const run of page.runs) {
        this._tbody.appendChild(this._runRow(run));
      }
      this._nextToken = page.next_page_token || null;
      this._more.hidden = this._nextToken === null;
      const none = this._tbody.childElementCount === 0;
      this._tableWrap.hidden = none;
      if (none) {
        this._setMessage('No runs in this experiment yet.', true);
      } else {
        this._message.hidden = true;
      }
    } catch (error) {
      this._message.replaceChildren(errorLine(error, 'Runs: '));
      this._message.hidden = false;
    } finally {
      this._more.disabled = false;
    }
  }

  private _runRow(run: IRun): HTMLTableRowElement {
    const row = el('tr', 'wb-run');
    row.dataset.runId = run.run_id;
    row.tabIndex = 0;
    const name = run.run_name || run.run_id.slice(0, 8);
    const nameCell = el('td', 'wb-col-name', name);
    nameCell.title = `${name} (${run.run_id})`;
    const status = el('td', 'wb-col-status');
    status.appendChild(
      el(
        'span',
        `wb-badge wb-run-${run.status.toLowerCase()}`,
        run.status.toLowerCase()
      )
    );
    row.append(nameCell, status);
    for (const [key] of RUN_METRICS) {
      row.appendChild(
        el('td', 'wb-col-metric', formatMetric(run.metrics[key]))
      );
    }
    if (run.run_id === this._selectedRun) {
      row.classList.add('wb-selected');
    }
    const open = (): void => void this._showRun(run, row);
    row.addEventListener('click', open);
    row.addEventListener('keydown', event => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        open();
      }
    });
    return row;
  }

  private async _showRun(run: IRun, row: HTMLElement): Promise<void> {
    this._selectedRun = run.run_id;
    for (const other of this._tbody.querySelectorAll('.wb-selected')) {
      other.classList.remove('wb-selected');
    }
    row.classList.add('wb-selected');
    const title = el('h4', 'wb-subheading', run.run_name || run.run_id);
    this._detail.replaceChildren(
      title,
      el('p', 'wb-muted', 'Loading metrics…')
    );
    const charts = await Promise.all(
      RUN_METRICS.map(async ([key]) => {
        const figure = el('figure', 'wb-chart-figure');
        figure.dataset.metric = key;
        try {
          const history = await getMetricHistory(run.run_id, key);
          if (history.length === 0) {
            figure.appendChild(el('p', 'wb-muted', `No ${key} logged.`));
          } else {
            figure.appendChild(renderLineChart(history, key));
          }
        } catch (error) {
          figure.appendChild(
            el('p', 'wb-error', `${key}: ${errorMessage(error)}`)
          );
        }
        return figure;
      })
    );
    const datasets = (run.datasets ?? []).map(dataset => {
      const line = el('p', 'wb-muted wb-run-dataset', describeDataset(dataset));
      line.title = `dataset digest ${dataset.digest}`;
      return line;
    });
    if (this._selectedRun === run.run_id) {
      this._detail.replaceChildren(title, ...datasets, ...charts);
    }
  }

  private _select = el('select', 'wb-select wb-experiment-select');
  private _message = el('div', 'wb-experiments-message');
  private _tableWrap = el('div', 'wb-runs-wrap');
  private _tbody = el('tbody', '');
  private _more = button('wb-button wb-button-small wb-more', 'More', () => {
    void this._loadRuns(this._nextToken);
  });
  private _detail = el('div', 'wb-run-detail');
  private _nextToken: string | null = null;
  private _selectedRun: string | null = null;
}
