import {
  changedOnly,
  formSchema,
  inlineRefs,
  keepDefined,
  propertyAt,
  Schema,
  withProperty
} from '../model/schemaform';
import { trainSchema } from '../model/trainschema';
import { IModelInfo, ISchemas } from '../api';

const TRAINING: Schema = {
  $defs: {
    ModelSpec: {
      type: 'object',
      properties: { name: { type: 'string' }, params: { type: 'object' } },
      required: ['name']
    },
    SwapSpec: {
      type: 'object',
      title: 'SwapSpec',
      properties: { tier: { enum: ['host'] } }
    },
    DataSpec: {
      type: 'object',
      properties: {
        dataset: {
          anyOf: [{ type: 'string' }, { type: 'null' }],
          default: null
        },
        shape: {
          type: 'array',
          prefixItems: [{ type: 'integer' }, { type: 'integer' }]
        }
      }
    }
  },
  type: 'object',
  properties: {
    model: { $ref: '#/$defs/ModelSpec' },
    data: { $ref: '#/$defs/DataSpec' },
    swap: {
      anyOf: [{ $ref: '#/$defs/SwapSpec' }, { type: 'null' }],
      default: null,
      title: 'Swap'
    }
  }
};

describe('schema preparation for @rjsf', () => {
  const prepared = formSchema(inlineRefs(TRAINING, TRAINING)) as Schema;

  it('inlines $refs and drops $defs', () => {
    expect(prepared.$defs).toBeUndefined();
    expect(propertyAt(prepared, ['model', 'name'])).toEqual({ type: 'string' });
  });

  it('turns an optional scalar into the scalar, without a null default', () => {
    expect(propertyAt(prepared, ['data', 'dataset'])).toEqual({
      type: 'string'
    });
  });

  it('offers an optional section as Off (the default) or On', () => {
    const swap = propertyAt(prepared, ['swap'])!;
    const options = swap.oneOf as Schema[];
    expect(options[0]).toEqual({ type: 'null', title: 'Off' });
    expect(options[1].title).toBe('On (swap)');
    expect(swap.default).toBeNull();
  });

  it('writes tuples the draft-07 way', () => {
    const shape = propertyAt(prepared, ['data', 'shape'])!;
    expect(shape.items).toEqual([{ type: 'integer' }, { type: 'integer' }]);
    expect(shape.prefixItems).toBeUndefined();
  });

  it('names an unresolved reference', () => {
    expect(() => inlineRefs({ $ref: '#/$defs/Nope' }, {})).toThrow(
      '#/$defs/Nope'
    );
  });

  it('replaces one property without touching the input', () => {
    const out = withProperty(prepared, ['model', 'name'], s => ({
      ...s,
      enum: ['mlp']
    }));
    expect(propertyAt(out, ['model', 'name'])!.enum).toEqual(['mlp']);
    expect(propertyAt(prepared, ['model', 'name'])!.enum).toBeUndefined();
    expect(keepDefined({ a: 1, b: 2 }, { properties: { a: {} } })).toEqual({
      a: 1
    });
  });

  it('keeps only what differs from the defaults', () => {
    const params = {
      properties: {
        in_features: { default: 64 },
        hidden: { default: [128, 64] },
        p: {}
      }
    };
    expect(
      changedOnly({ in_features: 64, hidden: [128, 64], p: 0.1 }, params)
    ).toEqual({
      p: 0.1
    });
    expect(changedOnly({ hidden: [32] }, params)).toEqual({ hidden: [32] });
  });
});

describe('trainSchema', () => {
  const schemas: ISchemas = {
    training: TRAINING,
    selection: {},
    train_request: {
      $defs: TRAINING.$defs,
      type: 'object',
      properties: {
        spec: { ...TRAINING, $defs: undefined },
        ranks: { type: 'integer', minimum: 1, maximum: 8 },
        backend: { type: 'string', enum: ['local', 'slurm'] }
      }
    }
  };
  const models: IModelInfo[] = [
    {
      name: 'mlp',
      framework: 'torch',
      description: 'MLP',
      hyperparameters: {
        type: 'object',
        properties: { hidden: { type: 'integer', default: 64 } }
      }
    },
    {
      name: 'small_cnn',
      framework: 'torch',
      description: 'CNN',
      hyperparameters: { type: 'object' }
    }
  ];

  it("offers the server's models, datasets and usable backends", () => {
    const schema = trainSchema(
      schemas,
      models,
      [{ name: 'digits-labels', versions: [1, 2], latest: {} as never }],
      {
        root_dir: '/r',
        backends: [
          { name: 'local', available: true, detail: '' },
          { name: 'slurm', available: false, detail: 'no sbatch' }
        ]
      },
      'mlp'
    );
    expect(propertyAt(schema, ['spec', 'model', 'name'])!.enum).toEqual([
      'mlp',
      'small_cnn'
    ]);
    expect(propertyAt(schema, ['spec', 'model', 'params', 'hidden'])).toEqual({
      type: 'integer',
      default: 64
    });
    expect(propertyAt(schema, ['spec', 'data', 'dataset'])!.enum).toEqual([
      'digits-labels@v1',
      'digits-labels@v2'
    ]);
    expect(propertyAt(schema, ['backend'])!.enum).toEqual(['local']);
    expect(propertyAt(schema, ['ranks'])!.maximum).toBe(8);
  });
});
