/**
 * Turn the server's pydantic JSON Schemas into schemas @rjsf renders well: `$ref`s
 * inlined, tuples in draft-07 form, optional scalars without their `null` branch, and
 * optional objects and tuples as an explicit "off / on" choice. The values stay the server's: the
 * enums (models, datasets, backends) come from its answers, not from here.
 */

export type Schema = { [key: string]: unknown };

function isObject(value: unknown): value is Schema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Resolve `#/$defs/...` references against `root` (the specs have no recursion). */
export function inlineRefs(schema: unknown, root: Schema): unknown {
  if (Array.isArray(schema)) {
    return schema.map(s => inlineRefs(s, root));
  }
  if (!isObject(schema)) {
    return schema;
  }
  const ref = schema['$ref'];
  if (typeof ref === 'string' && ref.startsWith('#/')) {
    let target: unknown = root;
    for (const part of ref.slice(2).split('/')) {
      target = isObject(target) ? target[part] : undefined;
    }
    if (!isObject(target)) {
      throw new Error(`schema: unresolved reference ${ref}`);
    }
    const { $ref: _ignored, ...siblings } = schema;
    void _ignored;
    return inlineRefs({ ...target, ...siblings }, root);
  }
  const out: Schema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key !== '$defs') {
      out[key] = inlineRefs(value, root);
    }
  }
  return out;
}

const isNull = (s: unknown) => isObject(s) && s.type === 'null';

/** Simplify a schema (already inlined) for the form; see the module doc. */
export function formSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) {
    return schema.map(formSchema);
  }
  if (!isObject(schema)) {
    return schema;
  }
  let node: Schema = { ...schema };
  const anyOf = node.anyOf;
  if (Array.isArray(anyOf) && anyOf.length === 2 && anyOf.some(isNull)) {
    const { anyOf: _drop, ...rest } = node;
    void _drop;
    const branch = anyOf.find(s => !isNull(s)) as Schema;
    if (branch.type === 'object' || branch.type === 'array') {
      // An optional section or tuple: "off" (null, the server's default) or filled in.
      const title = String(rest.title ?? branch.title ?? '');
      node = {
        ...rest,
        oneOf: [
          { type: 'null', title: 'Off' },
          { ...branch, title: `On (${title.toLowerCase() || 'settings'})` }
        ]
      };
    } else {
      node = { ...branch, ...rest };
      if (node.default === null) {
        delete node.default;
      }
    }
  }
  if (Array.isArray(node.prefixItems)) {
    node.items = node.prefixItems;
    delete node.prefixItems;
  }
  const out: Schema = {};
  for (const [key, value] of Object.entries(node)) {
    out[key] = key === 'default' || key === 'const' ? value : formSchema(value);
  }
  return out;
}

/** `obj.properties.a.properties.b`, creating nothing: undefined when absent. */
export function propertyAt(
  schema: unknown,
  path: string[]
): Schema | undefined {
  let node: unknown = schema;
  for (const key of path) {
    const props = isObject(node) ? node.properties : undefined;
    node = isObject(props) ? props[key] : undefined;
  }
  return isObject(node) ? node : undefined;
}

/** A copy of `schema` with the property at `path` replaced by `make(current)`. */
export function withProperty(
  schema: Schema,
  path: string[],
  make: (current: Schema) => Schema
): Schema {
  if (path.length === 0) {
    return make(schema);
  }
  const [head, ...rest] = path;
  const props = isObject(schema.properties) ? schema.properties : {};
  const current = isObject(props[head]) ? (props[head] as Schema) : {};
  return {
    ...schema,
    properties: { ...props, [head]: withProperty(current, rest, make) }
  };
}

/** Drop the keys of `values` that `schema` (an object schema) does not define. */
export function keepDefined(values: unknown, schema: Schema): Schema {
  const props = isObject(schema.properties) ? schema.properties : {};
  if (!isObject(values)) {
    return {};
  }
  return Object.fromEntries(Object.entries(values).filter(([k]) => k in props));
}

/** A copy of an object schema without the named properties (fields the form does not ask). */
export function withoutProperties(schema: Schema, names: string[]): Schema {
  const props = isObject(schema.properties) ? schema.properties : {};
  const required = Array.isArray(schema.required) ? schema.required : undefined;
  return {
    ...schema,
    properties: Object.fromEntries(
      Object.entries(props).filter(([k]) => !names.includes(k))
    ),
    ...(required
      ? { required: required.filter(r => !names.includes(String(r))) }
      : {})
  };
}

/**
 * The values that differ from the schema's defaults. Sent instead of everything the form
 * shows, so that what the user left alone stays the server's to decide (a model's input
 * size, say, is read from the data unless given).
 */
export function changedOnly(values: unknown, schema: Schema): Schema {
  const props = isObject(schema.properties) ? schema.properties : {};
  if (!isObject(values)) {
    return {};
  }
  return Object.fromEntries(
    Object.entries(values).filter(([key, value]) => {
      const field = props[key];
      return !(
        isObject(field) &&
        'default' in field &&
        JSON.stringify(field.default) === JSON.stringify(value)
      );
    })
  );
}
