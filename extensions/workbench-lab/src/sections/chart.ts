/**
 * A tiny inline-SVG line chart (one series, axes, min/max tick labels).
 * Scaling is pure (`linearScale`, `chartGeometry`) so it can be unit-tested.
 */

export interface IPoint {
  step: number;
  value: number;
}

/** Maps [d0, d1] onto [r0, r1]; a zero-width domain maps to the range's middle. */
export function linearScale(
  domain: [number, number],
  range: [number, number]
): (x: number) => number {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  if (d1 === d0) {
    const mid = (r0 + r1) / 2;
    return () => mid;
  }
  const k = (r1 - r0) / (d1 - d0);
  return x => r0 + (x - d0) * k;
}

/** Domain of `values`, padded a little when flat so a constant line is visible. */
export function extent(values: number[]): [number, number] {
  if (values.length === 0) {
    return [0, 1];
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  if (lo === hi) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    return [lo - pad, hi + pad];
  }
  return [lo, hi];
}

export interface IChartBox {
  width: number;
  height: number;
  /** Margins: room for tick labels (left/bottom) and the axis titles. */
  margin: { top: number; right: number; bottom: number; left: number };
}

export const DEFAULT_BOX: IChartBox = {
  width: 260,
  height: 120,
  margin: { top: 8, right: 10, bottom: 30, left: 44 }
};

export interface IChartGeometry {
  xDomain: [number, number];
  yDomain: [number, number];
  /** Pixel coordinates of each point, in input order sorted by step. */
  coords: [number, number][];
  /** Plot area in pixels. */
  plot: { x0: number; x1: number; y0: number; y1: number };
}

/** Where every point goes in a `box`; y grows upwards (SVG y is inverted). */
export function chartGeometry(
  points: IPoint[],
  box: IChartBox = DEFAULT_BOX
): IChartGeometry {
  const sorted = [...points]
    .filter(p => Number.isFinite(p.step) && Number.isFinite(p.value))
    .sort((a, b) => a.step - b.step);
  const xDomain = extent(sorted.map(p => p.step));
  const yDomain = extent(sorted.map(p => p.value));
  const plot = {
    x0: box.margin.left,
    x1: box.width - box.margin.right,
    y0: box.height - box.margin.bottom,
    y1: box.margin.top
  };
  const x = linearScale(xDomain, [plot.x0, plot.x1]);
  const y = linearScale(yDomain, [plot.y0, plot.y1]);
  const coords = sorted.map(p => [x(p.step), y(p.value)] as [number, number]);
  return { xDomain, yDomain, coords, plot };
}

/** Short number for a tick label: 0.905, 12.3, 1.2e+4. */
export function formatTick(value: number): string {
  const abs = Math.abs(value);
  if (abs !== 0 && (abs >= 1e4 || abs < 1e-3)) {
    return value.toExponential(1);
  }
  return String(Number(value.toPrecision(3)));
}

const SVG_NS = 'http://www.w3.org/2000/svg';

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number>,
  text?: string
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    node.setAttribute(k, String(v));
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

/** Render `points` (metric `label` per step) as an SVG line chart. */
export function renderLineChart(
  points: IPoint[],
  label: string,
  box: IChartBox = DEFAULT_BOX
): SVGSVGElement {
  const g = chartGeometry(points, box);
  const { x0, x1, y0, y1 } = g.plot;
  const root = svg('svg', {
    class: 'wb-chart',
    viewBox: `0 0 ${box.width} ${box.height}`,
    width: box.width,
    height: box.height,
    role: 'img',
    'aria-label': `${label} per step`
  });
  root.appendChild(svg('title', {}, `${label} per step`));

  // Axes.
  root.appendChild(
    svg('path', { class: 'wb-chart-axis', d: `M${x0},${y1}V${y0}H${x1}` })
  );
  // Y ticks: min and max of the data.
  const [yMin, yMax] = g.yDomain;
  for (const [value, y] of [
    [yMin, y0],
    [yMax, y1]
  ]) {
    root.appendChild(
      svg('line', { class: 'wb-chart-axis', x1: x0 - 3, x2: x0, y1: y, y2: y })
    );
    root.appendChild(
      svg(
        'text',
        {
          class: 'wb-chart-tick',
          x: x0 - 5,
          y,
          'text-anchor': 'end',
          'dominant-baseline': 'middle'
        },
        formatTick(value)
      )
    );
  }
  // X ticks: first and last step.
  const [xMin, xMax] = g.xDomain;
  let xTicks: [number, number][] = [];
  if (g.coords.length > 1) {
    xTicks = [
      [xMin, x0],
      [xMax, x1]
    ];
  } else if (g.coords.length === 1) {
    xTicks = [[(xMin + xMax) / 2, g.coords[0][0]]];
  }
  for (const [value, x] of xTicks) {
    root.appendChild(
      svg('line', { class: 'wb-chart-axis', x1: x, x2: x, y1: y0, y2: y0 + 3 })
    );
    root.appendChild(
      svg(
        'text',
        { class: 'wb-chart-tick', x, y: y0 + 12, 'text-anchor': 'middle' },
        formatTick(value)
      )
    );
  }
  // Axis titles.
  root.appendChild(
    svg(
      'text',
      {
        class: 'wb-chart-label',
        x: (x0 + x1) / 2,
        y: box.height - 3,
        'text-anchor': 'middle'
      },
      'step'
    )
  );
  const cy = (y0 + y1) / 2;
  root.appendChild(
    svg(
      'text',
      {
        class: 'wb-chart-label',
        x: 10,
        y: cy,
        'text-anchor': 'middle',
        transform: `rotate(-90 10 ${cy})`
      },
      label
    )
  );

  // The series.
  if (g.coords.length > 1) {
    const d = g.coords
      .map(
        ([x, y], i) => `${i === 0 ? 'M' : 'L'}${x.toFixed(1)},${y.toFixed(1)}`
      )
      .join('');
    root.appendChild(svg('path', { class: 'wb-chart-line', d }));
  }
  const dots = g.coords.length <= 40 ? g.coords : [];
  for (const [x, y] of dots) {
    root.appendChild(
      svg('circle', {
        class: 'wb-chart-dot',
        cx: x.toFixed(1),
        cy: y.toFixed(1),
        r: 2
      })
    );
  }
  return root;
}
