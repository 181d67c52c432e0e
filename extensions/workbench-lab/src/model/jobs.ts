import { ISignal, Signal } from '@lumino/signaling';

import {
  ACTIVE_JOB_STATES,
  cancelJob,
  IJob,
  TrainRequest,
  listJobs,
  retryJob,
  submitTraining
} from '../api';
import { PolledModel } from './polled';

/** The jobs list, polled; reports when a job submitted from this page ends. */
export class JobsModel extends PolledModel {
  get jobs(): readonly IJob[] {
    return this._jobs;
  }

  get loaded(): boolean {
    return this._loaded;
  }

  get active(): IJob[] {
    return this._jobs.filter(j => ACTIVE_JOB_STATES.has(j.state));
  }

  /** A job submitted (or retried) from this page reached a final state. */
  get ended(): ISignal<this, IJob> {
    return this._ended;
  }

  async submit(body: TrainRequest): Promise<IJob> {
    const job = await submitTraining(body);
    this._adopt(job);
    return job;
  }

  async cancel(id: string): Promise<void> {
    this._replace(await cancelJob(id));
  }

  async retry(id: string): Promise<IJob> {
    const job = await retryJob(id);
    this._adopt(job);
    return job;
  }

  protected async load(): Promise<void> {
    const jobs = await listJobs(100);
    for (const job of jobs) {
      if (this._watched.has(job.id) && !ACTIVE_JOB_STATES.has(job.state)) {
        this._watched.delete(job.id);
        this._ended.emit(job);
      }
    }
    this._jobs = jobs;
    this._loaded = true;
  }

  protected keepPolling(): boolean {
    return this._watched.size > 0;
  }

  private _adopt(job: IJob): void {
    this._watched.add(job.id);
    this._jobs = [job, ...this._jobs.filter(j => j.id !== job.id)];
    this.emit();
    void this.refreshNow();
  }

  private _replace(job: IJob): void {
    this._jobs = this._jobs.map(j => (j.id === job.id ? job : j));
    this.emit();
    void this.refreshNow();
  }

  private _jobs: IJob[] = [];
  private _loaded = false;
  private _watched = new Set<string>();
  private _ended = new Signal<this, IJob>(this);
}
