import {
  chartGeometry,
  extent,
  formatTick,
  IChartBox,
  linearScale
} from '../sections/chart';

const BOX: IChartBox = {
  width: 200,
  height: 100,
  margin: { top: 10, right: 10, bottom: 20, left: 30 }
};

describe('linearScale', () => {
  it('maps the domain ends onto the range ends', () => {
    const s = linearScale([0, 10], [100, 200]);
    expect(s(0)).toBe(100);
    expect(s(10)).toBe(200);
    expect(s(2.5)).toBe(125);
  });

  it('supports inverted ranges (SVG y grows downwards)', () => {
    const s = linearScale([0, 1], [80, 10]);
    expect(s(0)).toBe(80);
    expect(s(1)).toBe(10);
    expect(s(0.5)).toBe(45);
  });

  it('maps a flat domain to the middle of the range', () => {
    expect(linearScale([3, 3], [0, 100])(3)).toBe(50);
  });
});

describe('extent', () => {
  it('is [min, max], padded when flat, [0, 1] when empty', () => {
    expect(extent([3, 1, 2])).toEqual([1, 3]);
    expect(extent([0.5, 0.5])).toEqual([0.45, 0.55]);
    expect(extent([0])).toEqual([-1, 1]);
    expect(extent([])).toEqual([0, 1]);
  });
});

describe('chartGeometry', () => {
  it('puts points inside the plot area, sorted by step, y upwards', () => {
    const g = chartGeometry(
      [
        { step: 2, value: 0.9 },
        { step: 0, value: 0.1 },
        { step: 1, value: 0.5 }
      ],
      BOX
    );
    expect(g.plot).toEqual({ x0: 30, x1: 190, y0: 80, y1: 10 });
    expect(g.xDomain).toEqual([0, 2]);
    expect(g.yDomain).toEqual([0.1, 0.9]);
    expect(g.coords[0]).toEqual([30, 80]); // step 0, lowest value: bottom left
    expect(g.coords[1][0]).toBe(110);
    expect(g.coords[1][1]).toBeCloseTo(45);
    expect(g.coords[2]).toEqual([190, 10]); // last step, highest value: top right
  });

  it('centres a single point and drops non-finite values', () => {
    const g = chartGeometry(
      [
        { step: 4, value: 0.3 },
        { step: 5, value: NaN }
      ],
      BOX
    );
    expect(g.coords).toHaveLength(1);
    expect(g.coords[0][0]).toBeCloseTo(110);
    expect(g.coords[0][1]).toBeCloseTo(45);
  });
});

describe('formatTick', () => {
  it('is short', () => {
    expect(formatTick(0.904999)).toBe('0.905');
    expect(formatTick(12.345)).toBe('12.3');
    expect(formatTick(0)).toBe('0');
    expect(formatTick(123456)).toBe('1.2e+5');
    expect(formatTick(0.00012)).toBe('1.2e-4');
  });
});
