import * as React from 'react';
import uPlot from 'uplot';

import { IMetricPoint } from '../api';

/** One line of a chart: a run's history of one metric. */
export interface ISeries {
  label: string;
  points: IMetricPoint[];
}

const COLORS = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f'
];

/** Steps are whole numbers: no ticks between them. */
const STEP_INCREMENTS = [
  1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 1e5, 1e6
];

/** Series on one shared step axis (uPlot wants aligned columns; gaps are null). */
export function alignSeries(series: ISeries[]): uPlot.AlignedData {
  const steps = [
    ...new Set(series.flatMap(s => s.points.map(p => p.step)))
  ].sort((a, b) => a - b);
  const columns = series.map(s => {
    const byStep = new Map(s.points.map(p => [p.step, p.value]));
    return steps.map(step => byStep.get(step) ?? null);
  });
  return [steps, ...columns] as uPlot.AlignedData;
}

/** A metric's history per run, overlaid, drawn by uPlot (fast for long series). */
export function MetricChart(props: {
  metric: string;
  series: ISeries[];
  width?: number;
  height?: number;
}): JSX.Element {
  const ref = React.useRef<HTMLDivElement>(null);
  React.useEffect(() => {
    const node = ref.current;
    if (!node || props.series.length === 0) {
      return;
    }
    const width = props.width ?? Math.max(280, node.clientWidth || 420);
    const plot = new uPlot(
      {
        width,
        height: props.height ?? 220,
        title: props.metric,
        scales: { x: { time: false } },
        axes: [
          { label: 'step', incrs: STEP_INCREMENTS },
          { label: props.metric }
        ],
        series: [
          { label: 'step' },
          ...props.series.map((s, i) => ({
            label: s.label,
            stroke: COLORS[i % COLORS.length],
            width: 2,
            points: { show: s.points.length < 60 },
            spanGaps: true
          }))
        ]
      },
      alignSeries(props.series),
      node
    );
    return () => plot.destroy();
  }, [props.metric, props.series, props.width, props.height]);
  return <figure className="wb-chart" data-metric={props.metric} ref={ref} />;
}
