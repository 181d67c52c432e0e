import * as React from 'react';
import { MainAreaWidget, ReactWidget } from '@jupyterlab/apputils';
import { IFrame } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';

import { labelStudioURL } from './api';
import { workbenchIcon } from './icon';
import { PanelKind, PANELS } from './components/Overview';

/** A model a view polls while it shows (see `PolledModel`). */
export interface IShowable {
  show(): void;
  hide(): void;
}

/**
 * A React view that makes its models poll only while it is on screen: a background tab,
 * a collapsed sidebar or a closed panel asks the server nothing.
 */
export class ShownWidget extends ReactWidget {
  constructor(
    private readonly _render: () => JSX.Element,
    private readonly _models: IShowable[]
  ) {
    super();
  }

  render(): JSX.Element {
    return this._render();
  }

  dispose(): void {
    this._setShown(false);
    super.dispose();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this._setShown(this.isVisible);
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._setShown(true);
    this.update();
  }

  protected onBeforeHide(msg: Message): void {
    this._setShown(false);
    super.onBeforeHide(msg);
  }

  protected onBeforeDetach(msg: Message): void {
    this._setShown(false);
    super.onBeforeDetach(msg);
  }

  private _setShown(shown: boolean): void {
    if (shown !== this._shown) {
      this._shown = shown;
      this._models.forEach(m => (shown ? m.show() : m.hide()));
    }
  }

  private _shown = false;
}

/** The content of a main-area panel; `kind` names it for the layout restorer. */
export class PanelContent extends ShownWidget {
  constructor(
    readonly kind: PanelKind,
    render: (widget: PanelContent) => JSX.Element,
    models: IShowable[]
  ) {
    super(() => render(this), models);
    this.addClass('wb-panel-content');
  }

  /** Arguments passed by the command that opened (or re-focused) the panel. */
  args: Record<string, unknown> = {};

  setArgs(args: Record<string, unknown>): void {
    this.args = args;
    this.update();
  }
}

export function createPanel(
  kind: PanelKind,
  render: (widget: PanelContent) => JSX.Element,
  models: IShowable[]
): MainAreaWidget<PanelContent> {
  const content = new PanelContent(kind, render, models);
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
