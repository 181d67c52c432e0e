import { IDataset, IModelInfo, ISchemas, IServerConfig } from '../api';
import {
  formSchema,
  inlineRefs,
  propertyAt,
  Schema,
  withoutProperties,
  withProperty
} from './schemaform';

/** The training request's schema for the form, with the server's models, datasets, backends. */
export function trainSchema(
  schemas: ISchemas,
  models: IModelInfo[],
  datasets: readonly IDataset[],
  config: IServerConfig,
  modelName: string | undefined
): Schema {
  const root = schemas.train_request;
  // working_dir: the server's root, its default (the form does not ask for it)
  let schema = withoutProperties(formSchema(inlineRefs(root, root)) as Schema, [
    'working_dir'
  ]);
  delete schema.title;
  const names = models.map(m => m.name);
  schema = withProperty(schema, ['spec', 'model', 'name'], current => ({
    ...current,
    title: 'Model',
    enum: names,
    ...{ enumNames: models.map(m => `${m.name} (${m.framework})`) }
  }));
  const model = models.find(m => m.name === modelName);
  schema = withProperty(schema, ['spec', 'model', 'params'], () => {
    const params = model
      ? (formSchema(
          inlineRefs(model.hyperparameters, model.hyperparameters)
        ) as Schema)
      : { type: 'object', properties: {} };
    return {
      ...params,
      title: 'Hyper-parameters',
      description: model?.description
    };
  });
  const refs = datasets.flatMap(d => d.versions.map(v => `${d.name}@v${v}`));
  if (refs.length) {
    schema = withProperty(schema, ['spec', 'data', 'dataset'], current => ({
      ...current,
      enum: refs
    }));
  }
  const usable = (config.backends ?? [])
    .filter(b => b.available)
    .map(b => b.name);
  if (usable.length && propertyAt(schema, ['backend'])) {
    schema = withProperty(schema, ['backend'], current => ({
      ...current,
      enum: usable
    }));
  }
  return schema;
}
