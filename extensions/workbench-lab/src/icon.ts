import { LabIcon } from '@jupyterlab/ui-components';

import workbenchSvg from '../style/icons/workbench.svg';

/** Sidebar icon: a chip with a 2x2 compute grid, themed via `jp-icon3`. */
export const workbenchIcon = new LabIcon({
  name: 'workbench-lab:icon',
  svgstr: workbenchSvg
});
