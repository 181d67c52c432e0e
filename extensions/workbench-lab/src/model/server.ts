import {
  getConfig,
  getSchemas,
  IModelInfo,
  IServerConfig,
  ISchemas,
  listModels
} from '../api';

/**
 * What the server offers, loaded once per page: config (backends, limits, MLflow UI),
 * the specs' schemas and the model zoo. The UI holds no policy of its own.
 */
export class ServerInfo {
  get config(): Promise<IServerConfig> {
    return (this._config ??= getConfig());
  }

  get schemas(): Promise<ISchemas> {
    return (this._schemas ??= getSchemas());
  }

  get models(): Promise<IModelInfo[]> {
    return (this._models ??= listModels());
  }

  /** Forget a failed load so the next view asks again. */
  reset(): void {
    this._config = this._schemas = this._models = null;
  }

  private _config: Promise<IServerConfig> | null = null;
  private _schemas: Promise<ISchemas> | null = null;
  private _models: Promise<IModelInfo[]> | null = null;
}
