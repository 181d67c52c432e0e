import * as React from 'react';

import { IModelInfo, listRegistered } from '../api';
import { formSchema, inlineRefs, Schema } from '../model/schemaform';
import { ServerInfo } from '../model/server';
import { StudiesModel } from '../model/studies';
import { SelectionView } from './SelectionView';
import {
  Button,
  ErrorBanner,
  Section,
  timeAgo,
  usePromise,
  useSignal
} from './common';
import { SchemaForm } from './SchemaForm';

const FRAMEWORKS: Record<string, string> = { torch: 'PyTorch', keras: 'Keras' };

function ModelCard(props: {
  model: IModelInfo;
  onTrain: (model: string, params: Record<string, unknown>) => void;
}): JSX.Element {
  const { model } = props;
  const [open, setOpen] = React.useState(false);
  const [params, setParams] = React.useState<Record<string, unknown>>({});
  const schema = React.useMemo(
    () =>
      formSchema(
        inlineRefs(model.hyperparameters, model.hyperparameters)
      ) as Schema,
    [model]
  );
  return (
    <li className="wb-model" data-model={model.name}>
      <div className="wb-job-head">
        <button
          type="button"
          className="wb-link"
          aria-expanded={open}
          onClick={() => setOpen(!open)}
        >
          {model.name}
        </button>
        <span className="wb-chip">{model.task ?? 'classification'}</span>
      </div>
      <div className="wb-model-desc">{model.description}</div>
      {open && (
        <div className="wb-hparams">
          <SchemaForm
            schema={{ ...schema, title: undefined, description: undefined }}
            formData={params}
            onChange={setParams}
            onSubmit={value => props.onTrain(model.name, value)}
            compact
          >
            <Button accent type="submit">
              Train with these
            </Button>
          </SchemaForm>
        </div>
      )}
    </li>
  );
}

/** The model zoo by framework (hyper-parameter forms from each schema) and the registry. */
export function ModelsPanel(props: {
  server: ServerInfo;
  studies: StudiesModel;
  onTrain: (model: string, params: Record<string, unknown>) => void;
}): JSX.Element {
  const [models, error] = usePromise(() => props.server.models, [props.server]);
  const [schemas] = usePromise(() => props.server.schemas, [props.server]);
  useSignal(props.studies.changed);
  const studying = props.studies.running !== null;
  // A study that ends, or a best registered here, changes the registry: ask again then.
  const [registry, registryError] = usePromise(
    () => listRegistered(),
    [studying, props.studies.registrations]
  );
  const frameworks = [...new Set((models ?? []).map(m => m.framework))];
  return (
    <div className="wb-panel wb-models-panel">
      <div className="wb-columns">
        <Section title="Model zoo" className="wb-col-wide">
          <ErrorBanner message={error} prefix="Models: " />
          {frameworks.map(fw => (
            <div key={fw} className="wb-model-group" data-framework={fw}>
              <h4 className="wb-subheading">{FRAMEWORKS[fw] ?? fw}</h4>
              <ul className="wb-model-list">
                {(models ?? [])
                  .filter(m => m.framework === fw)
                  .map(m => (
                    <ModelCard key={m.name} model={m} onTrain={props.onTrain} />
                  ))}
              </ul>
            </div>
          ))}
        </Section>
        <Section title="Registered models" className="wb-col-list">
          <ErrorBanner
            message={registryError}
            prefix="Registry: "
            hint="The MLflow tracking store must be reachable (`workbench doctor`)."
          />
          {registry && registry.length === 0 && (
            <div className="wb-empty">
              None yet: set register_model in a training spec, or register a
              study's best.
            </div>
          )}
          <ul className="wb-registry">
            {(registry ?? []).map(m => (
              <li key={m.name} className="wb-registered" data-name={m.name}>
                <strong>{m.name}</strong>
                <ul>
                  {m.versions.map(v => (
                    <li key={v.version}>
                      v{v.version} · {v.status.toLowerCase()}
                      {v.aliases?.length
                        ? ` · ${v.aliases.join(', ')}`
                        : ''} · {timeAgo(v.creation_timestamp)}
                    </li>
                  ))}
                </ul>
              </li>
            ))}
          </ul>
        </Section>
      </div>
      <h2 className="wb-panel-heading">Model selection</h2>
      <SelectionView model={props.studies} schemas={schemas} />
    </div>
  );
}
