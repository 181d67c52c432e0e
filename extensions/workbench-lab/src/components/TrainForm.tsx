import * as React from 'react';
import { UiSchema } from '@rjsf/utils';

import {
  IDataset,
  IJob,
  IModelInfo,
  ISchemas,
  IServerConfig,
  TrainRequest
} from '../api';
import { errorMessage } from '../model/operations';
import { changedOnly, keepDefined, propertyAt } from '../model/schemaform';
import { trainSchema } from '../model/trainschema';
import { Button, ErrorBanner } from './common';
import { FormValue, SchemaForm } from './SchemaForm';

export interface ITrainDefaults {
  model: string;
  ranks: number;
  backend: string;
  dataset?: string;
  params?: Record<string, unknown>;
}

export interface ITrainFormProps {
  schemas: ISchemas;
  models: IModelInfo[];
  datasets: readonly IDataset[];
  config: IServerConfig;
  defaults: ITrainDefaults;
  onSubmit: (body: TrainRequest) => Promise<IJob>;
}

type FormData = {
  spec: {
    name?: string;
    model?: { name?: string; params?: Record<string, unknown> };
    data?: Record<string, unknown>;
    [key: string]: unknown;
  };
  ranks?: number;
  backend?: string;
};

const UI_SCHEMA: UiSchema = {
  'ui:order': ['spec', 'ranks', 'backend', '*'],
  spec: {
    'ui:order': ['name', 'experiment', 'model', 'data', 'train', 'swap', '*'],
    parent_run_id: { 'ui:widget': 'hidden' }
  }
};

/** The one-click Train form, generated from the server's training-request schema. */
export function TrainForm(props: ITrainFormProps): JSX.Element {
  const { defaults } = props;
  const [data, setData] = React.useState<FormData>(() => ({
    spec: {
      name: `${defaults.model}-${defaults.dataset ? defaults.dataset.split('@')[0] : 'digits'}`,
      experiment: 'workbench',
      model: { name: defaults.model, params: defaults.params ?? {} },
      data: defaults.dataset
        ? { source: 'dataset', dataset: defaults.dataset }
        : {}
    },
    ranks: defaults.ranks,
    backend: defaults.backend
  }));
  const [error, setError] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState(false);
  const [submitted, setSubmitted] = React.useState<IJob | null>(null);
  const modelName = data.spec?.model?.name;
  const schema = React.useMemo(
    () =>
      trainSchema(
        props.schemas,
        props.models,
        props.datasets,
        props.config,
        modelName
      ),
    [props.schemas, props.models, props.datasets, props.config, modelName]
  );

  const onChange = (value: FormValue) => {
    const next = value as FormData;
    const before = data.spec?.model?.name;
    const after = next.spec?.model?.name;
    if (before !== after && next.spec?.model) {
      // Another model: keep only the hyper-parameters it has.
      const params = propertyAt(trainSchema(props.schemas, props.models, props.datasets,
        props.config, after), ['spec', 'model', 'params']); // prettier-ignore
      next.spec.model.params = params
        ? keepDefined(next.spec.model.params, params)
        : {};
    }
    setData(next);
  };

  const onSubmit = async (value: FormValue) => {
    const body = value as FormData;
    setBusy(true);
    setError(null);
    try {
      // The schema validated it in the browser; the server validates it again. Only the
      // hyper-parameters changed from the model's defaults go: the rest is the server's.
      const params = propertyAt(schema, ['spec', 'model', 'params']);
      const model = body.spec.model;
      const spec =
        model && params
          ? {
              ...body.spec,
              model: { ...model, params: changedOnly(model.params, params) }
            }
          : body.spec;
      const job = await props.onSubmit({
        ...body,
        spec
      } as unknown as TrainRequest);
      setSubmitted(job);
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="wb-train-form">
      <SchemaForm
        schema={schema}
        uiSchema={UI_SCHEMA}
        formData={data}
        onChange={onChange}
        onSubmit={value => void onSubmit(value)}
        onError={() =>
          setError('Fix the fields marked above, then train again.')
        }
        compact
      >
        <div className="wb-form-actions">
          <Button accent type="submit" className="wb-train" disabled={busy}>
            {busy ? 'Submitting…' : 'Train'}
          </Button>
          {submitted && !error && (
            <span className="wb-submitted">
              Submitted <code>{submitted.name}</code> ({submitted.id})
            </span>
          )}
        </div>
      </SchemaForm>
      <ErrorBanner message={error} prefix="Train failed: " />
    </div>
  );
}
