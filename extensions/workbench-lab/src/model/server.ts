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
 * the specs' schemas and the model zoo. The UI holds no policy of its own. A load that
 * failed is forgotten, so the next view asks again.
 */
export class ServerInfo {
  get config(): Promise<IServerConfig> {
    return this._once('config', getConfig);
  }

  get schemas(): Promise<ISchemas> {
    return this._once('schemas', getSchemas);
  }

  get models(): Promise<IModelInfo[]> {
    return this._once('models', listModels);
  }

  private _once<T>(key: string, load: () => Promise<T>): Promise<T> {
    let found = this._loads.get(key) as Promise<T> | undefined;
    if (!found) {
      found = load();
      found.catch(() => this._loads.delete(key));
      this._loads.set(key, found);
    }
    return found;
  }

  private _loads = new Map<string, Promise<unknown>>();
}
