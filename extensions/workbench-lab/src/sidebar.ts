import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { getVersion, listModels } from './api';
import { el } from './dom';
import { workbenchIcon } from './icon';
import { ExperimentsSection } from './sections/experiments';
import { JobsSection } from './sections/jobs';
import { ModelsSection } from './sections/models';

type SectionKey = 'labeling' | 'models' | 'jobs' | 'experiments';

/** One collapsible section of the sidebar. */
interface ISectionSpec {
  key: SectionKey;
  title: string;
  body: HTMLElement;
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

    const models = listModels();
    this._experiments = new ExperimentsSection();
    this._jobs = new JobsSection(
      models,
      () => void this._experiments.refresh()
    );
    const sections: ISectionSpec[] = [
      {
        key: 'labeling',
        title: 'Labeling',
        body: el(
          'p',
          'wb-empty',
          'Labeling runs from the terminal for now: `workbench label start`, ' +
            'then `workbench label create NAME --images DIR`.'
        )
      },
      {
        key: 'models',
        title: 'Models',
        body: new ModelsSection(models).node
      },
      { key: 'jobs', title: 'Jobs', body: this._jobs.node },
      {
        key: 'experiments',
        title: 'Experiments',
        body: this._experiments.node
      }
    ];
    for (const spec of sections) {
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

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._jobs.dispose();
    super.dispose();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._updateVisibility();
    void this._experiments.refresh();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this._updateVisibility();
  }

  protected onBeforeHide(msg: Message): void {
    super.onBeforeHide(msg);
    this._jobs.setVisible(false);
  }

  protected onBeforeDetach(msg: Message): void {
    this._jobs.setVisible(false);
    super.onBeforeDetach(msg);
  }

  /** Jobs poll only while the panel shows and their section is expanded. */
  private _updateVisibility(): void {
    const jobs = this.node.querySelector('.wb-section[data-section="jobs"]');
    const expanded = !jobs?.classList.contains('wb-collapsed');
    this._jobs.setVisible(this.isVisible && expanded);
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
    body.appendChild(spec.body);

    button.addEventListener('click', () => {
      const expanded = button.getAttribute('aria-expanded') === 'true';
      button.setAttribute('aria-expanded', String(!expanded));
      body.hidden = expanded;
      section.classList.toggle('wb-collapsed', expanded);
      this._updateVisibility();
    });

    section.append(heading, body);
    return section;
  }

  private _status: HTMLDivElement;
  private _jobs: JobsSection;
  private _experiments: ExperimentsSection;
}
