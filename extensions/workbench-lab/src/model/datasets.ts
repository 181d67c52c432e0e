import {
  diffDatasets,
  getDataset,
  IDataset,
  IDatasetDiff,
  IDatasetVersion,
  listDatasets
} from '../api';
import { PolledModel } from './polled';

/** Dataset versions (`name@vN`) and their diffs. */
export class DatasetsModel extends PolledModel {
  get datasets(): readonly IDataset[] {
    return this._datasets;
  }

  get loaded(): boolean {
    return this._loaded;
  }

  /** One version's summary (cached: versions are immutable). */
  version(ref: string): Promise<IDatasetVersion> {
    let found = this._versions.get(ref);
    if (!found) {
      found = getDataset(ref);
      found.catch(() => this._versions.delete(ref));
      this._versions.set(ref, found);
    }
    return found;
  }

  diff(base: string, other: string): Promise<IDatasetDiff> {
    return diffDatasets(base, other);
  }

  protected async load(): Promise<void> {
    this._datasets = await listDatasets();
    this._loaded = true;
  }

  private _datasets: IDataset[] = [];
  private _loaded = false;
  private _versions = new Map<string, Promise<IDatasetVersion>>();
}
