import * as React from 'react';
import { MainAreaWidget, ReactWidget } from '@jupyterlab/apputils';
import { IFrame } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';

import { labelStudioURL } from './api';
import { workbenchIcon } from './icon';
import { PanelKind, PANELS } from './components/Overview';

/** The React content of a main-area panel; `kind` names it for the layout restorer. */
export class PanelContent extends ReactWidget {
  constructor(
    readonly kind: PanelKind,
    private readonly _render: (widget: PanelContent) => JSX.Element
  ) {
    super();
    this.addClass('wb-panel-content');
  }

  /** Arguments passed by the command that opened (or re-focused) the panel. */
  args: Record<string, unknown> = {};

  setArgs(args: Record<string, unknown>): void {
    this.args = args;
    this.update();
  }

  render(): JSX.Element {
    return this._render(this);
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.update();
  }
}

export function createPanel(
  kind: PanelKind,
  render: (widget: PanelContent) => JSX.Element
): MainAreaWidget<PanelContent> {
  const content = new PanelContent(kind, render);
  const widget = new MainAreaWidget({ content });
  const spec = PANELS.find(p => p.kind === kind)!;
  widget.id = `workbench-${kind}`;
  widget.title.label = spec.title;
  widget.title.caption = `Workbench: ${spec.caption}`;
  widget.title.icon = workbenchIcon;
  widget.title.closable = true;
  widget.addClass('wb-main');
  return widget;
}

/** Label Studio's own UI in a tab, same origin, through the Jupyter server. */
export function createLabelStudioTab(
  path: string,
  title: string
): MainAreaWidget<IFrame> {
  const content = new IFrame({
    sandbox: [
      'allow-same-origin',
      'allow-scripts',
      'allow-forms',
      'allow-popups',
      'allow-downloads'
    ],
    referrerPolicy: 'same-origin'
  });
  content.url = labelStudioURL(path);
  content.addClass('wb-labelstudio-frame');
  const widget = new MainAreaWidget({ content });
  widget.id = 'workbench-labelstudio';
  widget.title.label = `Label Studio: ${title}`;
  widget.title.icon = workbenchIcon;
  widget.title.closable = true;
  return widget;
}

export { React };
