import { ISignal, Signal } from '@lumino/signaling';
import { Poll } from '@lumino/polling';
import { IDisposable } from '@lumino/disposable';

/**
 * Base of the models: state that views read, a `changed` signal, and one `Poll`
 * that runs only while a view of the model shows (or `keepPolling()` says so), backs
 * off on errors and stands by when the browser tab is hidden.
 */
export abstract class PolledModel implements IDisposable {
  constructor(intervalMs: number) {
    this._poll = new Poll({
      factory: () => this.refresh(),
      frequency: { interval: intervalMs, backoff: true, max: 30_000 },
      standby: () =>
        (this._viewers === 0 && !this.keepPolling()) || 'when-hidden',
      name: `workbench:${this.constructor.name}`
    });
  }

  /** Emitted whenever the state a view shows has changed. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** The last refresh's failure, as the server worded it (null when it worked). */
  get error(): string | null {
    return this._error;
  }

  get isDisposed(): boolean {
    return this._poll.isDisposed;
  }

  /** A view starts showing this model: poll now, then every interval. */
  show(): void {
    this._viewers += 1;
    if (this._viewers === 1) {
      void this._poll.refresh();
    }
  }

  hide(): void {
    this._viewers = Math.max(0, this._viewers - 1);
  }

  get visible(): boolean {
    return this._viewers > 0;
  }

  set interval(ms: number) {
    this._poll.frequency = { ...this._poll.frequency, interval: ms };
  }

  /** Refresh now (after an action); the poll's schedule restarts from here. */
  async refreshNow(): Promise<void> {
    await this._poll.refresh();
    await this._poll.tick;
  }

  dispose(): void {
    this._poll.dispose();
    Signal.clearData(this);
  }

  /** Load the state from the server; throw to make the poll back off. */
  protected abstract load(): Promise<void>;

  /** Keep polling while no view shows (e.g. a job to report on). */
  protected keepPolling(): boolean {
    return false;
  }

  protected emit(): void {
    this._changed.emit();
  }

  private async refresh(): Promise<void> {
    try {
      await this.load();
      this._error = null;
    } catch (error) {
      this._error = error instanceof Error ? error.message : String(error);
      this.emit();
      throw error;
    }
    this.emit();
  }

  private _poll: Poll;
  private _viewers = 0;
  private _error: string | null = null;
  private _changed = new Signal<this, void>(this);
}
