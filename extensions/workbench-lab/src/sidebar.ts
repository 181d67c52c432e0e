import { Widget } from '@lumino/widgets';

import { getVersion } from './api';
import { workbenchIcon } from './icon';

/** One collapsible section of the sidebar. */
interface ISectionSpec {
  key: 'labeling' | 'models' | 'jobs' | 'experiments';
  title: string;
  empty: string;
}

const SECTIONS: ISectionSpec[] = [
  {
    key: 'labeling',
    title: 'Labeling',
    empty: 'No labeling projects yet. Label Studio starts on demand.'
  },
  {
    key: 'models',
    title: 'Models',
    empty: 'Model zoo: PyTorch and Keras models appear here.'
  },
  {
    key: 'jobs',
    title: 'Jobs',
    empty: 'No jobs submitted yet.'
  },
  {
    key: 'experiments',
    title: 'Experiments',
    empty: 'No runs tracked yet. Runs are stored in MLflow.'
  }
];

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

/** Left-sidebar panel of the Workbench extension. */
export class WorkbenchSidebar extends Widget {
  constructor() {
    super();
    this.id = 'workbench-sidebar';
    this.addClass('wb-sidebar');
    this.title.icon = workbenchIcon;
    this.title.caption = 'Workbench';

    const header = el('header', 'wb-header');
    header.appendChild(el('h2', 'wb-title', 'Workbench'));
    this._status = el('div', 'wb-status');
    header.appendChild(this._status);
    this.node.appendChild(header);

    for (const spec of SECTIONS) {
      this.node.appendChild(this._createSection(spec));
    }

    void this.refresh();
  }

  /** (Re)load the server version into the header. */
  async refresh(): Promise<void> {
    this._setStatus('wb-loading', 'Connecting…');
    try {
      const info = await getVersion();
      this._setStatus('wb-version', `Workbench server v${info.version}`);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this._setStatus('wb-version-error', message);
    }
  }

  private _setStatus(className: string, text: string): void {
    this._status.replaceChildren(el('span', className, text));
  }

  private _createSection(spec: ISectionSpec): HTMLElement {
    const section = el('section', 'wb-section');
    section.dataset.section = spec.key;

    const bodyId = `wb-section-${spec.key}`;
    const heading = el('h3', 'wb-section-heading');
    const button = el('button', 'wb-section-toggle', spec.title);
    button.type = 'button';
    button.setAttribute('aria-expanded', 'true');
    button.setAttribute('aria-controls', bodyId);
    heading.appendChild(button);

    const body = el('div', 'wb-section-body');
    body.id = bodyId;
    body.appendChild(el('p', 'wb-empty', spec.empty));

    button.addEventListener('click', () => {
      const expanded = button.getAttribute('aria-expanded') === 'true';
      button.setAttribute('aria-expanded', String(!expanded));
      body.hidden = expanded;
      section.classList.toggle('wb-collapsed', expanded);
    });

    section.append(heading, body);
    return section;
  }

  private _status: HTMLDivElement;
}
