import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  MainAreaWidget,
  Notification,
  WidgetTracker
} from '@jupyterlab/apputils';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { ILauncher } from '@jupyterlab/launcher';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import * as React from 'react';

import { getVersion, IJob } from './api';
import { DatasetsPanel } from './components/DatasetsPanel';
import { ExperimentsPanel } from './components/ExperimentsPanel';
import { JobsPanel } from './components/JobsPanel';
import { LabelingPanel } from './components/LabelingPanel';
import { ModelsPanel } from './components/ModelsPanel';
import { Overview, PanelKind, PANELS } from './components/Overview';
import { workbenchIcon } from './icon';
import { DatasetsModel } from './model/datasets';
import { JobsModel } from './model/jobs';
import { LabelingModel } from './model/labeling';
import { RunsModel } from './model/runs';
import { ServerInfo } from './model/server';
import { StudiesModel } from './model/studies';
import {
  createLabelStudioTab,
  createPanel,
  IShowable,
  PanelContent,
  ShownWidget
} from './panels';

export { requestAPI, getVersion, WorkbenchAPIError } from './api';

const PLUGIN_ID = 'workbench-lab:plugin';
const OPEN = 'workbench:open';
const OPEN_LABEL_STUDIO = 'workbench:open-label-studio';
const OPEN_SIDEBAR = 'workbench:open-sidebar';

interface ISettings {
  pollInterval: number;
  defaultRanks: number;
  defaultBackend: string;
  defaultModel: string;
}

const DEFAULTS: ISettings = {
  pollInterval: 2000,
  defaultRanks: 2,
  defaultBackend: 'local',
  defaultModel: 'mlp'
};

const isPanel = (value: unknown): value is PanelKind =>
  PANELS.some(p => p.kind === value);

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Workbench: labeling, datasets, models, jobs and experiments.',
  autoStart: true,
  requires: [ILabShell],
  optional: [
    ICommandPalette,
    ILauncher,
    ILayoutRestorer,
    ISettingRegistry,
    IDefaultFileBrowser
  ],
  activate: async (
    app: JupyterFrontEnd,
    labShell: ILabShell,
    palette: ICommandPalette | null,
    launcher: ILauncher | null,
    restorer: ILayoutRestorer | null,
    registry: ISettingRegistry | null,
    fileBrowser: IDefaultFileBrowser | null
  ) => {
    const settings: ISettings = { ...DEFAULTS };
    const server = new ServerInfo();
    const jobs = new JobsModel(settings.pollInterval);
    const labeling = new LabelingModel(settings.pollInterval * 2);
    const datasets = new DatasetsModel(settings.pollInterval * 5);
    const runs = new RunsModel();
    const studies = new StudiesModel(settings.pollInterval * 2);
    const tracker = new WidgetTracker<MainAreaWidget<PanelContent>>({
      namespace: 'workbench'
    });

    const render = (widget: PanelContent): JSX.Element => {
      const args = widget.args;
      switch (widget.kind) {
        case 'labeling':
          return (
            <LabelingPanel
              model={labeling}
              datasets={datasets}
              server={server}
              pickFolder={() => pickFolder(fileBrowser)}
              openLabelStudio={(path, title) =>
                void app.commands.execute(OPEN_LABEL_STUDIO, { path, title })
              }
              openDataset={ref => void open('datasets', { dataset: ref })}
            />
          );
        case 'datasets':
          return (
            <DatasetsPanel
              model={datasets}
              selected={
                typeof args.dataset === 'string' ? args.dataset : undefined
              }
              onTrain={ref => void open('jobs', { dataset: ref })}
            />
          );
        case 'models':
          return (
            <ModelsPanel
              server={server}
              studies={studies}
              onTrain={(model, params) => void open('jobs', { model, params })}
            />
          );
        case 'jobs':
          return (
            <JobsPanel
              jobs={jobs}
              datasets={datasets}
              server={server}
              defaults={{
                model:
                  typeof args.model === 'string'
                    ? args.model
                    : settings.defaultModel,
                ranks: settings.defaultRanks,
                backend: settings.defaultBackend,
                dataset:
                  typeof args.dataset === 'string' ? args.dataset : undefined,
                params:
                  typeof args.params === 'object' && args.params !== null
                    ? (args.params as Record<string, unknown>)
                    : undefined
              }}
              openRun={job => void openRunOf(job)}
            />
          );
        case 'experiments':
          return <ExperimentsPanel model={runs} server={server} />;
      }
    };

    // The models each panel polls while it shows.
    const SHOWS: Record<PanelKind, IShowable[]> = {
      labeling: [labeling, datasets],
      datasets: [datasets],
      models: [studies],
      jobs: [jobs, datasets],
      experiments: []
    };

    const open = async (
      kind: PanelKind,
      args: Record<string, unknown> = {}
    ): Promise<MainAreaWidget<PanelContent>> => {
      let widget = tracker.find(w => w.content.kind === kind);
      if (!widget || widget.isDisposed) {
        widget = createPanel(kind, render, SHOWS[kind]);
        void tracker.add(widget);
        labShell.add(widget, 'main');
      }
      widget.content.setArgs(args);
      labShell.activateById(widget.id);
      return widget;
    };

    const openRunOf = async (job: IJob) => {
      await open('experiments');
      await runs.loadExperiments();
      await runs.setFilter(`tags.\`workbench.job_id\` = '${job.id}'`);
      const only = runs.runs.length === 1 ? runs.runs[0] : null;
      if (!only) {
        Notification.info(
          runs.runs.length
            ? `${runs.runs.length} runs of job ${job.id}`
            : `No run of job ${job.id} in this experiment yet`,
          { autoClose: 4000 }
        );
      }
    };

    app.commands.addCommand(OPEN, {
      label: args => {
        const spec = PANELS.find(p => p.kind === args.panel);
        return spec ? `Open Workbench ${spec.title}` : 'Open a Workbench panel';
      },
      caption: args => PANELS.find(p => p.kind === args.panel)?.caption ?? '',
      icon: args => (args.isLauncher ? workbenchIcon : undefined),
      execute: async args => {
        const kind = args.panel;
        if (!isPanel(kind)) {
          throw new Error(`workbench:open: unknown panel ${String(kind)}`);
        }
        const { panel: _kind, isLauncher: _l, ...rest } = args;
        void _kind;
        void _l;
        return open(kind, rest as Record<string, unknown>);
      }
    });

    app.commands.addCommand(OPEN_LABEL_STUDIO, {
      label: 'Open Label Studio',
      caption: 'Label Studio in a JupyterLab tab (through the Jupyter server)',
      execute: args => {
        const path = typeof args.path === 'string' ? args.path : '';
        const title = typeof args.title === 'string' ? args.title : 'projects';
        const existing = Array.from(labShell.widgets('main')).find(
          w => w.id === 'workbench-labelstudio'
        );
        existing?.dispose();
        const tab = createLabelStudioTab(path, title);
        labShell.add(tab, 'main');
        labShell.activateById(tab.id);
      }
    });

    const sidebar = new ShownWidget(
      () => (
        <Overview
          version={getVersion}
          jobs={jobs}
          labeling={labeling}
          open={kind => void open(kind)}
        />
      ),
      [jobs, labeling]
    );
    sidebar.id = 'workbench-sidebar';
    sidebar.addClass('wb-sidebar');
    sidebar.title.icon = workbenchIcon;
    sidebar.title.caption = 'Workbench';
    labShell.add(sidebar, 'left', { rank: 200 });
    restorer?.add(sidebar, 'workbench-sidebar');

    app.commands.addCommand(OPEN_SIDEBAR, {
      label: 'Open Workbench sidebar',
      caption: 'Show the Workbench overview in the left sidebar',
      execute: () => labShell.activateById(sidebar.id)
    });

    palette?.addItem({ command: OPEN_SIDEBAR, category: 'Workbench' });
    PANELS.forEach((p, rank) => {
      palette?.addItem({
        command: OPEN,
        args: { panel: p.kind },
        category: 'Workbench'
      });
      launcher?.add({
        command: OPEN,
        args: { panel: p.kind, isLauncher: true },
        category: 'Workbench',
        rank
      });
    });

    if (restorer) {
      void restorer.restore(tracker, {
        command: OPEN,
        args: widget => ({ panel: widget.content.kind }),
        name: widget => widget.content.kind
      });
    }

    jobs.ended.connect((_, job) => {
      const actions = [
        { label: 'Open run', callback: () => void openRunOf(job) },
        { label: 'Show job', callback: () => void open('jobs') }
      ];
      if (job.state === 'succeeded') {
        Notification.success(`Job ${job.name} succeeded`, {
          actions,
          autoClose: 8000
        });
      } else {
        Notification.error(
          `Job ${job.name} ${job.state}${job.reason ? `: ${job.reason}` : ''}`,
          { actions, autoClose: false }
        );
      }
    });

    if (registry) {
      try {
        const loaded = await registry.load(PLUGIN_ID);
        const apply = () => {
          Object.assign(
            settings,
            loaded.composite as unknown as Partial<ISettings>
          );
          jobs.interval = settings.pollInterval;
          labeling.interval = settings.pollInterval * 2;
          datasets.interval = settings.pollInterval * 5;
          studies.interval = settings.pollInterval * 2;
          tracker.forEach(w => w.content.update());
        };
        apply();
        loaded.changed.connect(apply);
      } catch (error) {
        console.warn(
          'workbench-lab: settings not loaded, using defaults',
          error
        );
      }
    }
  }
};

/** The directory selected in the default file browser, as an absolute path. */
function pickFolder(browser: IDefaultFileBrowser | null): string | null {
  if (!browser) {
    return null;
  }
  const item = Array.from(browser.selectedItems()).find(
    i => i.type === 'directory'
  );
  return item ? item.path : browser.model.path || null;
}

export default plugin;
