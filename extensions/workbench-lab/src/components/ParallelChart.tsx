import * as React from 'react';
import uPlot from 'uplot';

import { ITrial } from '../api';

/** One axis of the parallel-coordinates chart: a param (or the objective) and its scale. */
export interface IAxis {
  key: string;
  /** A value's position on the axis, 0 (bottom) to 1 (top). */
  position: (value: unknown) => number | null;
  ticks: string;
}

/** Axes for the params the trials tried, and the objective last; categories by order. */
export function parallelAxes(trials: ITrial[], objective: string): IAxis[] {
  const keys = [...new Set(trials.flatMap(t => Object.keys(t.params)))].sort();
  const axis = (key: string, values: unknown[]): IAxis => {
    const numbers = values.filter((v): v is number => typeof v === 'number');
    if (numbers.length === values.length && numbers.length > 0) {
      const lo = Math.min(...numbers);
      const hi = Math.max(...numbers);
      return {
        key,
        position: v =>
          typeof v === 'number' ? (hi > lo ? (v - lo) / (hi - lo) : 0.5) : null,
        ticks: `${lo.toPrecision(3)} – ${hi.toPrecision(3)}`
      };
    }
    const categories = [...new Set(values.map(v => JSON.stringify(v)))].sort();
    return {
      key,
      position: v => {
        if (v === undefined) {
          return null;
        }
        const i = categories.indexOf(JSON.stringify(v));
        return categories.length > 1 ? i / (categories.length - 1) : 0.5;
      },
      ticks: categories.join(' · ')
    };
  };
  const done = trials.filter(t => t.value !== null);
  return [
    ...keys.map(k =>
      axis(
        k,
        done.map(t => t.params[k]).filter(v => v !== undefined)
      )
    ),
    axis(
      objective,
      done.map(t => t.value)
    )
  ];
}

const BEST = '#d62728';
const OTHER = 'rgba(31, 119, 180, 0.45)';

/** Each completed trial as a line across the params' axes to its objective value (uPlot). */
export function ParallelChart(props: {
  trials: ITrial[];
  objective: string;
  best: number | null;
}): JSX.Element {
  const ref = React.useRef<HTMLDivElement>(null);
  const done = props.trials.filter(t => t.value !== null);
  React.useEffect(() => {
    const node = ref.current;
    if (!node || done.length === 0) {
      return;
    }
    const axes = parallelAxes(done, props.objective);
    const xs = axes.map((_, i) => i);
    const data = [
      xs,
      ...done.map(t =>
        axes.map((a, i) =>
          a.position(i === axes.length - 1 ? t.value : t.params[a.key])
        )
      )
    ] as uPlot.AlignedData;
    const plot = new uPlot(
      {
        width: Math.max(360, node.clientWidth || 560),
        height: 240,
        title: 'Parallel coordinates',
        legend: { show: false },
        cursor: { show: false },
        scales: {
          x: { time: false, range: [-0.1, xs.length - 0.9] },
          y: { range: [-0.05, 1.05] }
        },
        axes: [
          {
            values: (_u, splits) =>
              splits.map(s =>
                Number.isInteger(s) && axes[s] ? axes[s].key : ''
              ),
            incrs: [1]
          },
          { show: false }
        ],
        series: [
          {},
          ...done.map(t => ({
            label: `trial ${t.number}`,
            stroke: t.number === props.best ? BEST : OTHER,
            width: t.number === props.best ? 3 : 1.5,
            points: { show: true, size: 4 }
          }))
        ]
      },
      data,
      node
    );
    return () => plot.destroy();
  }, [props.trials, props.objective, props.best]);
  if (done.length === 0) {
    return <div className="wb-empty">No completed trial yet.</div>;
  }
  return (
    <figure className="wb-chart wb-parallel" data-chart="parallel" ref={ref} />
  );
}
