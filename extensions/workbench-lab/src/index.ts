import {
  ILabShell,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';

import { WorkbenchSidebar } from './sidebar';

export { requestAPI, getVersion, WorkbenchAPIError } from './api';

const OPEN_COMMAND = 'workbench:open-sidebar';

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'workbench-lab:plugin',
  description: 'Workbench sidebar: labeling, models, jobs and experiments.',
  autoStart: true,
  requires: [ILabShell],
  optional: [ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    labShell: ILabShell,
    palette: ICommandPalette | null
  ) => {
    const sidebar = new WorkbenchSidebar();
    labShell.add(sidebar, 'left', { rank: 200 });

    app.commands.addCommand(OPEN_COMMAND, {
      label: 'Open Workbench sidebar',
      caption: 'Show the Workbench panel in the left sidebar',
      execute: () => {
        labShell.activateById(sidebar.id);
      }
    });
    palette?.addItem({ command: OPEN_COMMAND, category: 'Workbench' });
  }
};

export default plugin;
