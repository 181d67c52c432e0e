import { IModelInfo } from '../api';
import { el, errorLine } from '../dom';

const FRAMEWORKS: [string, string][] = [
  ['torch', 'PyTorch'],
  ['keras', 'Keras']
];

export function frameworkLabel(framework: string): string {
  const known = FRAMEWORKS.find(([key]) => key === framework);
  return known ? known[1] : framework;
}

/** Models grouped by framework: PyTorch first, Keras next, anything else after. */
export function groupByFramework(
  models: IModelInfo[]
): [string, IModelInfo[]][] {
  const groups = new Map<string, IModelInfo[]>();
  for (const [key] of FRAMEWORKS) {
    groups.set(key, []);
  }
  for (const model of models) {
    const list = groups.get(model.framework) ?? [];
    list.push(model);
    groups.set(model.framework, list);
  }
  return [...groups.entries()]
    .filter(([, list]) => list.length > 0)
    .map(([key, list]) => [
      frameworkLabel(key),
      [...list].sort((a, b) => a.name.localeCompare(b.name))
    ]);
}

function hyperparameterSummary(model: IModelInfo): string {
  const props = model.hyperparameters?.properties ?? {};
  return Object.entries(props)
    .map(([name, p]) =>
      p.default === undefined ? name : `${name}=${JSON.stringify(p.default)}`
    )
    .join(', ');
}

/** The Models section: the model zoo, read-only. */
export class ModelsSection {
  readonly node = el('div', 'wb-models');

  constructor(models: Promise<IModelInfo[]>) {
    this.node.appendChild(el('p', 'wb-muted', 'Loading models…'));
    models.then(
      list => this._render(list),
      error => this.node.replaceChildren(errorLine(error, 'Models: '))
    );
  }

  private _render(models: IModelInfo[]): void {
    if (models.length === 0) {
      this.node.replaceChildren(
        el('p', 'wb-empty', 'No models are registered.')
      );
      return;
    }
    const children: HTMLElement[] = [];
    for (const [label, list] of groupByFramework(models)) {
      const group = el('div', 'wb-model-group');
      group.dataset.framework = label;
      group.appendChild(el('h4', 'wb-subheading', `${label} (${list.length})`));
      const ul = el('ul', 'wb-model-list');
      for (const model of list) {
        const li = el('li', 'wb-model');
        li.dataset.model = model.name;
        const params = hyperparameterSummary(model);
        if (params) {
          li.title = `Hyper-parameters: ${params}`;
        }
        li.append(
          el('span', 'wb-model-name', model.name),
          el('span', 'wb-model-desc', model.description)
        );
        ul.appendChild(li);
      }
      group.appendChild(ul);
      children.push(group);
    }
    this.node.replaceChildren(...children);
  }
}
