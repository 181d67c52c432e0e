import { ISignal, Signal } from '@lumino/signaling';

import { IExperiment, IRun, listExperiments, listRuns } from '../api';

/** A column the runs table can show: an attribute, a metric or a param. */
export interface IRunColumn {
  kind: 'metric' | 'param';
  key: string;
}

export type SortDirection = 'ASC' | 'DESC';

export interface ISort {
  /** `attributes.start_time`, `metrics.test_accuracy`, `params.lr`, ... */
  field: string;
  direction: SortDirection;
}

/** MLflow's order-by clause for a sort; keys with spaces or dots are quoted. */
export function orderByClause(sort: ISort): string {
  const [scope, ...rest] = sort.field.split('.');
  const key = rest.join('.');
  const quoted = /^[A-Za-z0-9_]+$/.test(key) ? key : `\`${key}\``;
  return `${scope}.${quoted} ${sort.direction}`;
}

export const PAGE_SIZE = 200;

/**
 * The runs of one experiment, paged from the server as the table scrolls; sort and
 * filter run on the server (MLflow's order-by and filter strings), so 10,000 runs
 * never travel at once.
 */
export class RunsModel {
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get experiments(): readonly IExperiment[] {
    return this._experiments;
  }

  get experimentId(): string | null {
    return this._experimentId;
  }

  get runs(): readonly IRun[] {
    return this._runs;
  }

  get hasMore(): boolean {
    return this._next !== null;
  }

  get loading(): boolean {
    return this._loadingGen !== null && this._loadingGen === this._generation;
  }

  get error(): string | null {
    return this._error;
  }

  get sort(): ISort {
    return this._sort;
  }

  get filter(): string {
    return this._filter;
  }

  /** Metric and param keys seen in the loaded runs, for the column picker. */
  get available(): IRunColumn[] {
    return [
      ...[...this._metricKeys]
        .sort()
        .map(key => ({ kind: 'metric' as const, key })),
      ...[...this._paramKeys]
        .sort()
        .map(key => ({ kind: 'param' as const, key }))
    ];
  }

  get columns(): readonly IRunColumn[] {
    return this._columns ?? this._defaultColumns();
  }

  set columns(columns: readonly IRunColumn[]) {
    this._columns = [...columns];
    this._changed.emit();
  }

  get selected(): ReadonlySet<string> {
    return this._selected;
  }

  toggle(runId: string): void {
    if (!this._selected.delete(runId)) {
      this._selected.add(runId);
    }
    this._selected = new Set(this._selected);
    this._changed.emit();
  }

  clearSelection(): void {
    this._selected = new Set();
    this._changed.emit();
  }

  /** Load the experiments; pick `preferred` (or the one with the newest runs). */
  async loadExperiments(preferred?: string): Promise<void> {
    try {
      this._experiments = await listExperiments();
      this._error = null;
    } catch (error) {
      this._error = error instanceof Error ? error.message : String(error);
      this._changed.emit();
      return;
    }
    const pick =
      this._experiments.find(
        e => e.name === preferred || e.experiment_id === preferred
      ) ??
      this._experiments.find(e => e.experiment_id === this._experimentId) ??
      this._experiments.find(e => e.name === 'workbench') ??
      this._experiments[0];
    if (pick && pick.experiment_id !== this._experimentId) {
      await this.open(pick.experiment_id);
    } else {
      this._changed.emit();
    }
  }

  async open(experimentId: string): Promise<void> {
    this._experimentId = experimentId;
    this._columns = null;
    this._metricKeys.clear();
    this._paramKeys.clear();
    this._selected = new Set();
    await this.reload();
  }

  async setSort(sort: ISort): Promise<void> {
    this._sort = sort;
    await this.reload();
  }

  async setFilter(filter: string): Promise<void> {
    this._filter = filter.trim();
    await this.reload();
  }

  /** Start over from the first page (new experiment, sort or filter). */
  async reload(): Promise<void> {
    this._generation += 1;
    this._runs = [];
    this._next = null;
    this._started = false;
    await this.loadMore();
  }

  /** The next page, if any and none is loading. */
  async loadMore(): Promise<void> {
    if (this._experimentId === null || this._loadingGen === this._generation) {
      return;
    }
    if (this._started && this._next === null) {
      return;
    }
    const generation = this._generation;
    this._loadingGen = generation;
    this._changed.emit();
    try {
      const page = await listRuns({
        experimentId: this._experimentId,
        pageSize: PAGE_SIZE,
        pageToken: this._next,
        orderBy: orderByClause(this._sort),
        filter: this._filter
      });
      if (generation !== this._generation) {
        return; // the query changed while this page was on its way
      }
      this._runs = [...this._runs, ...page.runs];
      this._next = page.next_page_token || null;
      this._started = true;
      for (const run of page.runs) {
        Object.keys(run.metrics).forEach(k => this._metricKeys.add(k));
        Object.keys(run.params).forEach(k => this._paramKeys.add(k));
      }
      this._error = null;
    } catch (error) {
      if (generation === this._generation) {
        this._error = error instanceof Error ? error.message : String(error);
      }
    } finally {
      if (this._loadingGen === generation) {
        this._loadingGen = null;
      }
      this._changed.emit();
    }
  }

  private _defaultColumns(): IRunColumn[] {
    const metrics = [...this._metricKeys].sort();
    const preferred = ['test_accuracy', 'train_loss', 'test_loss'].filter(k =>
      this._metricKeys.has(k)
    );
    const chosen = preferred.length ? preferred : metrics.slice(0, 3);
    const params = ['model', 'ranks'].filter(k => this._paramKeys.has(k));
    return [
      ...chosen.map(key => ({ kind: 'metric' as const, key })),
      ...params.map(key => ({ kind: 'param' as const, key }))
    ];
  }

  private _changed = new Signal<this, void>(this);
  private _experiments: IExperiment[] = [];
  private _experimentId: string | null = null;
  private _runs: IRun[] = [];
  private _next: string | null = null;
  private _started = false;
  private _loadingGen: number | null = null;
  private _generation = 0;
  private _error: string | null = null;
  private _sort: ISort = { field: 'attributes.start_time', direction: 'DESC' };
  private _filter = '';
  private _columns: IRunColumn[] | null = null;
  private _metricKeys = new Set<string>();
  private _paramKeys = new Set<string>();
  private _selected = new Set<string>();
}
