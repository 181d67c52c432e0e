import {
  ACTIVE_JOB_STATES,
  cancelJob,
  getJobLogs,
  IJob,
  ILogLine,
  IModelInfo,
  listJobs,
  submitTraining,
  trainingJob
} from '../api';
import { button, el, errorLine, errorMessage, timeAgo } from '../dom';
import { frameworkLabel } from './models';

/** Jobs are polled this often while any of them is active and the panel shows. */
export const POLL_MS = 2000;
const LOG_TAIL = 50;
const DATASETS = ['digits'];
const PREFERRED_MODEL = 'mlp';

function numberInput(
  name: string,
  value: number,
  min: number,
  max: number
): HTMLInputElement {
  const input = el('input', 'wb-input');
  input.type = 'number';
  input.name = name;
  input.min = String(min);
  input.max = String(max);
  input.step = '1';
  input.value = String(value);
  input.required = true;
  return input;
}

function field(label: string, control: HTMLElement, wide = false): HTMLElement {
  const node = el('label', wide ? 'wb-field wb-field-wide' : 'wb-field');
  node.append(el('span', 'wb-field-label', label), control);
  return node;
}

/** Parse an integer form value in [min, max], or throw a readable error. */
export function parseBoundedInt(
  label: string,
  raw: string,
  min: number,
  max: number
): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${label} must be a whole number from ${min} to ${max}.`);
  }
  return value;
}

/** One row of the jobs list, updated in place on every poll. */
class JobRow {
  readonly node = el('li', 'wb-job');

  constructor(
    job: IJob,
    private readonly _owner: JobsSection
  ) {
    this.id = job.id;
    this.node.dataset.jobId = job.id;
    this._logsButton.setAttribute('aria-expanded', 'false');
    this._logs.hidden = true;
    this._error.hidden = true;
    const head = el('div', 'wb-job-head');
    head.append(this._name, this._badge);
    const foot = el('div', 'wb-job-foot');
    const actions = el('span', 'wb-job-actions');
    actions.append(this._logsButton, this._cancelButton);
    foot.append(this._meta, actions);
    this.node.append(head, foot, this._reason, this._error, this._logs);
    this.update(job);
  }

  readonly id: string;
  job!: IJob;

  get logsOpen(): boolean {
    return !this._logs.hidden;
  }

  update(job: IJob): void {
    this.job = job;
    this.node.dataset.state = job.state;
    this._name.textContent = job.name;
    this._name.title = `${job.name} (${job.id})`;
    this._badge.textContent = job.state;
    this._badge.className = `wb-badge wb-state-${job.state}`;
    const when = job.finished_at ?? job.started_at ?? job.created_at;
    const ranks = `${job.ranks} rank${job.ranks === 1 ? '' : 's'}`;
    this._meta.textContent = `${ranks} · ${timeAgo(when)}`;
    this._meta.title = `${ranks} on the ${job.backend} backend, ${job.state} ${timeAgo(when)}`;
    this._reason.textContent = job.reason ?? '';
    this._reason.hidden = !job.reason;
    this._cancelButton.hidden =
      !ACTIVE_JOB_STATES.has(job.state) || job.state === 'cancelling';
  }

  /** Reload the log tail when the logs are open (and may still change). */
  async refreshLogs(force = false): Promise<void> {
    if (!this.logsOpen || (!force && this._logsLoaded && !this.active)) {
      return;
    }
    try {
      this._renderLogs(await getJobLogs(this.id, LOG_TAIL));
      this._logsLoaded = true;
    } catch (error) {
      this._logs.replaceChildren(errorLine(error, 'Logs: '));
    }
  }

  get active(): boolean {
    return ACTIVE_JOB_STATES.has(this.job.state);
  }

  private _renderLogs(lines: ILogLine[]): void {
    if (lines.length === 0) {
      this._logs.replaceChildren(el('span', 'wb-muted', 'No output yet.'));
      return;
    }
    const pre = el('pre', 'wb-log-lines');
    for (const line of lines) {
      const row = el('span', `wb-log-line wb-log-${line.stream}`);
      row.append(el('span', 'wb-log-rank', `[${line.rank}] `), line.text);
      pre.append(row, '\n');
    }
    this._logs.replaceChildren(pre);
    pre.scrollTop = pre.scrollHeight;
  }

  private async _toggleLogs(): Promise<void> {
    const open = !this.logsOpen;
    this._logs.hidden = !open;
    this._logsButton.setAttribute('aria-expanded', String(open));
    this._logsButton.classList.toggle('wb-toggled', open);
    if (open) {
      this._logs.replaceChildren(el('span', 'wb-muted', 'Loading logs…'));
      await this.refreshLogs(true);
    }
  }

  private async _cancel(): Promise<void> {
    this._cancelButton.disabled = true;
    this._error.hidden = true;
    try {
      this.update(await cancelJob(this.id));
    } catch (error) {
      this._error.textContent = `Cancel failed: ${errorMessage(error)}`;
      this._error.hidden = false;
    } finally {
      this._cancelButton.disabled = false;
    }
    void this._owner.refresh();
  }

  private _name = el('span', 'wb-job-name');
  private _badge = el('span', 'wb-badge');
  private _meta = el('span', 'wb-job-meta');
  private _reason = el('p', 'wb-job-reason');
  private _error = errorLine('');
  private _logs = el('div', 'wb-logs');
  private _logsLoaded = false;
  private _logsButton = button(
    'wb-button wb-button-small wb-logs-toggle',
    'Logs',
    () => {
      void this._toggleLogs();
    }
  );
  private _cancelButton = button(
    'wb-button wb-button-small wb-button-danger wb-cancel',
    'Cancel',
    () => {
      void this._cancel();
    }
  );
}

/** The Jobs section: a one-click training form and the recent jobs. */
export class JobsSection {
  readonly node = el('div', 'wb-jobs');

  constructor(
    models: Promise<IModelInfo[]>,
    private readonly _onJobFinished: (job: IJob) => void = () => undefined
  ) {
    this.node.append(this._buildForm(), this._buildList());
    this._error.hidden = true;
    this._listError.hidden = true;
    models.then(
      list => this._fillModels(list),
      error => this._showFormError(error, 'Models: ')
    );
    void this.refresh();
  }

  /** Poll only while the section can be seen. */
  setVisible(visible: boolean): void {
    if (this._disposed || visible === this._visible) {
      return;
    }
    this._visible = visible;
    if (visible) {
      void this.refresh();
    } else {
      this._stopPolling();
    }
  }

  get isPolling(): boolean {
    return this._timer !== null;
  }

  dispose(): void {
    this._disposed = true;
    this._stopPolling();
  }

  /** Reload the jobs list (and open logs), then schedule the next poll. */
  async refresh(): Promise<void> {
    if (this._disposed) {
      return;
    }
    if (this._loading) {
      this._again = true;
      return this._loading;
    }
    this._stopPolling();
    this._loading = this._load();
    try {
      await this._loading;
    } finally {
      this._loading = null;
    }
    if (this._again) {
      this._again = false;
      return this.refresh();
    }
    this._schedule();
  }

  private async _load(): Promise<void> {
    try {
      const jobs = await listJobs(20);
      this._listError.hidden = true;
      this._render(jobs);
      await Promise.all([...this._rows.values()].map(r => r.refreshLogs()));
    } catch (error) {
      this._listError.textContent = `Jobs: ${errorMessage(error)}`;
      this._listError.hidden = false;
    }
  }

  private _schedule(): void {
    const anyActive = [...this._rows.values()].some(r => r.active);
    if (this._disposed || !this._visible || !anyActive) {
      return;
    }
    this._timer = window.setTimeout(() => {
      this._timer = null;
      void this.refresh();
    }, POLL_MS);
  }

  private _stopPolling(): void {
    if (this._timer !== null) {
      window.clearTimeout(this._timer);
      this._timer = null;
    }
  }

  private _render(jobs: IJob[]): void {
    const seen = new Set<string>();
    const ordered: HTMLElement[] = [];
    for (const job of jobs) {
      seen.add(job.id);
      let row = this._rows.get(job.id);
      if (row) {
        const wasActive = row.active;
        row.update(job);
        if (wasActive && !row.active) {
          this._onJobFinished(job);
        }
      } else {
        row = new JobRow(job, this);
        this._rows.set(job.id, row);
      }
      ordered.push(row.node);
    }
    for (const id of [...this._rows.keys()]) {
      if (!seen.has(id)) {
        this._rows.delete(id);
      }
    }
    const current = [...this._list.children];
    const same =
      current.length === ordered.length &&
      current.every((node, i) => node === ordered[i]);
    if (!same) {
      this._list.replaceChildren(...ordered);
    }
    this._empty.hidden = jobs.length > 0;
  }

  private _buildForm(): HTMLElement {
    const form = el('form', 'wb-train-form');
    form.noValidate = true;
    this._model.name = 'model';
    this._model.disabled = true;
    this._model.appendChild(new Option('Loading models…', ''));
    this._dataset.name = 'dataset';
    for (const name of DATASETS) {
      this._dataset.appendChild(new Option(name, name));
    }
    this._submit.type = 'submit';
    this._submit.disabled = true;
    form.append(
      field('Model', this._model, true),
      field('Dataset', this._dataset),
      field('Ranks', this._ranks),
      field('Epochs', this._epochs),
      this._submit,
      this._error,
      this._notice
    );
    this._notice.hidden = true;
    form.addEventListener('submit', event => {
      event.preventDefault();
      void this._train();
    });
    return form;
  }

  private _buildList(): HTMLElement {
    const wrap = el('div', 'wb-jobs-recent');
    const head = el('div', 'wb-row-head');
    head.append(
      el('h4', 'wb-subheading', 'Recent jobs'),
      button('wb-icon-button wb-refresh', '↻', () => void this.refresh())
    );
    head.lastElementChild?.setAttribute('title', 'Refresh jobs');
    head.lastElementChild?.setAttribute('aria-label', 'Refresh jobs');
    this._empty.hidden = true;
    wrap.append(head, this._listError, this._list, this._empty);
    return wrap;
  }

  private _fillModels(models: IModelInfo[]): void {
    this._model.replaceChildren();
    const groups = new Map<string, HTMLOptGroupElement>();
    for (const model of [...models].sort((a, b) =>
      a.name.localeCompare(b.name)
    )) {
      const label = frameworkLabel(model.framework);
      let group = groups.get(label);
      if (!group) {
        group = document.createElement('optgroup');
        group.label = label;
        groups.set(label, group);
      }
      const option = new Option(model.name, model.name);
      option.title = model.description;
      group.appendChild(option);
    }
    const order = ['PyTorch', 'Keras', ...groups.keys()];
    for (const label of new Set(order)) {
      const group = groups.get(label);
      if (group) {
        this._model.appendChild(group);
      }
    }
    if (models.some(m => m.name === PREFERRED_MODEL)) {
      this._model.value = PREFERRED_MODEL;
    }
    this._model.disabled = models.length === 0;
    this._submit.disabled = models.length === 0;
  }

  private _showFormError(error: unknown, prefix = ''): void {
    this._error.textContent = prefix + errorMessage(error);
    this._error.hidden = false;
  }

  private async _train(): Promise<void> {
    this._error.hidden = true;
    this._notice.hidden = true;
    let ranks: number;
    let epochs: number;
    try {
      if (!this._model.value) {
        throw new Error('Choose a model.');
      }
      ranks = parseBoundedInt('Ranks', this._ranks.value, 1, 8);
      epochs = parseBoundedInt('Epochs', this._epochs.value, 1, 1000);
    } catch (error) {
      this._showFormError(error);
      return;
    }
    this._submit.disabled = true;
    this._submit.textContent = 'Submitting…';
    try {
      const job = await submitTraining(
        trainingJob({
          model: this._model.value,
          dataset: this._dataset.value,
          ranks,
          epochs
        })
      );
      this._notice.textContent = `Submitted ${job.name}.`;
      this._notice.hidden = false;
      await this.refresh();
    } catch (error) {
      this._showFormError(error, 'Train failed: ');
    } finally {
      this._submit.disabled = false;
      this._submit.textContent = 'Train';
    }
  }

  private _model = el('select', 'wb-select');
  private _dataset = el('select', 'wb-select');
  private _ranks = numberInput('ranks', 2, 1, 8);
  private _epochs = numberInput('epochs', 3, 1, 1000);
  private _submit = el(
    'button',
    'wb-button wb-button-accept wb-train',
    'Train'
  );
  private _error = errorLine('');
  private _notice = el('p', 'wb-notice');
  private _list = el('ul', 'wb-job-list');
  private _empty = el('p', 'wb-empty', 'No jobs submitted yet.');
  private _listError = errorLine('');
  private _rows = new Map<string, JobRow>();
  private _timer: number | null = null;
  private _loading: Promise<void> | null = null;
  private _again = false;
  private _visible = false;
  private _disposed = false;
}
