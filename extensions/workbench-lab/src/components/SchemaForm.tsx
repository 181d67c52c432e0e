import * as React from 'react';
import { FormComponent, IFormComponentProps } from '@jupyterlab/ui-components';
import { IChangeEvent } from '@rjsf/core';
import { RJSFSchema, UiSchema } from '@rjsf/utils';
import validator from '@rjsf/validator-ajv8';

export type FormValue = Record<string, unknown>;

export interface ISchemaFormProps {
  schema: Record<string, unknown>;
  uiSchema?: UiSchema;
  formData: FormValue;
  onChange: (value: FormValue) => void;
  onSubmit: (value: FormValue) => void;
  onError?: () => void;
  compact?: boolean;
  /** Custom fields by name (`ui:field`). */
  fields?: IFormComponentProps['fields'];
  children?: React.ReactNode;
}

/**
 * A form generated from a JSON Schema by @rjsf, with JupyterLab's own field templates
 * (the settings editor's) and validation in the browser by ajv; the server checks again.
 */
export function SchemaForm(props: ISchemaFormProps): JSX.Element {
  const form: IFormComponentProps = {
    schema: props.schema as RJSFSchema,
    uiSchema: props.uiSchema as IFormComponentProps['uiSchema'],
    formData: props.formData as IFormComponentProps['formData'],
    validator: validator as unknown as IFormComponentProps['validator'],
    onChange: (e: IChangeEvent) => props.onChange(e.formData as FormValue),
    onSubmit: (e: IChangeEvent) => props.onSubmit(e.formData as FormValue),
    onError: () => props.onError?.(),
    showErrorList: false,
    noHtml5Validate: true,
    compact: props.compact,
    fields: props.fields,
    children: props.children
  };
  return <FormComponent {...form} />;
}
