import {
  getStudy,
  IStudy,
  IStudySummary,
  listStudies,
  registerBest,
  SelectRequest,
  startSelection
} from '../api';
import { errorMessage, followOperation, IProgress } from './operations';
import { PolledModel } from './polled';

/** Model-selection studies: the list, the one open (live while it runs), starting one. */
export class StudiesModel extends PolledModel {
  get studies(): readonly IStudySummary[] {
    return this._studies;
  }

  get open(): IStudy | null {
    return this._open;
  }

  get openName(): string | null {
    return this._openName;
  }

  /** The study started from this page, while it runs. */
  get running(): { name: string; progress: IProgress | null } | null {
    return this._running;
  }

  /** How many models were registered from this page (views of the registry reload). */
  get registrations(): number {
    return this._registrations;
  }

  get actionError(): string | null {
    return this._actionError;
  }

  select(name: string | null): void {
    this._openName = name;
    this._open = null;
    this.emit();
    void this.refreshNow();
  }

  async start(body: SelectRequest): Promise<void> {
    this._actionError = null;
    try {
      const started = startSelection(body);
      const { study } = await started;
      this._running = { name: study, progress: null };
      this.select(study);
      await followOperation(started, progress => {
        this._running = { name: study, progress };
        this.emit();
      });
    } catch (error) {
      this._actionError = errorMessage(error);
    } finally {
      this._running = null;
      this.emit();
      void this.refreshNow();
    }
  }

  async registerBest(name?: string): Promise<string | null> {
    if (!this._openName) {
      return null;
    }
    this._actionError = null;
    try {
      const out = await registerBest(this._openName, name);
      this._registrations += 1;
      this.emit();
      return `${out.model_version.name} v${out.model_version.version}`;
    } catch (error) {
      this._actionError = errorMessage(error);
      this.emit();
      return null;
    }
  }

  protected async load(): Promise<void> {
    this._studies = await listStudies();
    if (this._openName) {
      try {
        this._open = await getStudy(this._openName);
      } catch (error) {
        // Just started: the study exists once its first trial is asked for.
        if (
          (error as { status?: number }).status !== 404 ||
          this._running === null
        ) {
          throw error;
        }
      }
    }
  }

  protected keepPolling(): boolean {
    return this._running !== null;
  }

  private _studies: IStudySummary[] = [];
  private _open: IStudy | null = null;
  private _openName: string | null = null;
  private _running: { name: string; progress: IProgress | null } | null = null;
  private _actionError: string | null = null;
  private _registrations = 0;
}
