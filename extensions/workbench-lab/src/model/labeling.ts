import {
  createProject,
  ILabelStudioStatus,
  IProject,
  IProjectRequest,
  labelingStatus,
  listProjects,
  ProjectAction,
  projectAction,
  startLabelStudio,
  stopLabelStudio
} from '../api';
import { errorMessage, followOperation, IProgress } from './operations';
import { PolledModel } from './polled';

/** One action running (or last run) on a project, as the panel shows it. */
export interface IActivity {
  label: string;
  progress: IProgress | null;
  error: string | null;
  result: unknown;
  running: boolean;
}

/** The managed Label Studio and its projects; actions run as server operations. */
export class LabelingModel extends PolledModel {
  get status(): ILabelStudioStatus | null {
    return this._status;
  }

  get projects(): readonly IProject[] {
    return this._projects;
  }

  /** The server start/stop or project creation in progress, or the last one's outcome. */
  get activity(): IActivity | null {
    return this._activity;
  }

  /** The latest action per project. */
  projectActivity(id: number): IActivity | null {
    return this._byProject.get(id) ?? null;
  }

  async start(): Promise<void> {
    await this._track(null, 'Starting Label Studio', () =>
      followOperation(startLabelStudio(), p => this._progress(null, p))
    );
  }

  async stop(): Promise<void> {
    await this._track(null, 'Stopping Label Studio', () => stopLabelStudio());
  }

  async create(request: IProjectRequest): Promise<void> {
    await this._track(null, `Creating ${request.title}`, () =>
      followOperation(createProject(request), p => this._progress(null, p))
    );
  }

  /** Run a project action (predict, accept, issues, export) to its end. */
  async act<T>(
    project: number,
    action: ProjectAction,
    body: Record<string, unknown>,
    label: string
  ): Promise<T | undefined> {
    return this._track(project, label, () =>
      followOperation<T>(projectAction<T>(project, action, body), p =>
        this._progress(project, p)
      )
    );
  }

  protected async load(): Promise<void> {
    this._status = await labelingStatus();
    this._projects = this._status.running ? await listProjects() : [];
  }

  private async _track<T>(
    project: number | null,
    label: string,
    work: () => Promise<T>
  ): Promise<T | undefined> {
    this._set(project, {
      label,
      progress: null,
      error: null,
      result: null,
      running: true
    });
    try {
      const result = await work();
      this._set(project, {
        label,
        progress: null,
        error: null,
        result,
        running: false
      });
      return result;
    } catch (error) {
      this._set(project, {
        label,
        progress: null,
        error: errorMessage(error),
        result: null,
        running: false
      });
      return undefined;
    } finally {
      void this.refreshNow();
    }
  }

  private _progress(project: number | null, progress: IProgress): void {
    const current =
      project === null ? this._activity : this._byProject.get(project);
    if (current) {
      this._set(project, { ...current, progress });
    }
  }

  private _set(project: number | null, activity: IActivity): void {
    if (project === null) {
      this._activity = activity;
    } else {
      this._byProject.set(project, activity);
    }
    this.emit();
  }

  private _status: ILabelStudioStatus | null = null;
  private _projects: IProject[] = [];
  private _activity: IActivity | null = null;
  private _byProject = new Map<number, IActivity>();
}
