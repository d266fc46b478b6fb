// The geometry of the small SVG charts (components/Chart.tsx): scales,
// "nice" axis ticks and the path of a series with gaps where data is
// missing.  Pure (unit-tested).

export interface Point {
  t: number; // ms
  v: number | null; // null: no data in that step
}

export interface Frame {
  width: number;
  height: number;
  pad: { l: number; r: number; t: number; b: number };
}

/** A "nice" upper bound for an axis: 1, 2, 2.5 or 5 times a power of 10
 * at or above max (0 -> 1). */
export function niceMax(max: number): number {
  if (!(max > 0) || !Number.isFinite(max)) return 1;
  const e = Math.pow(10, Math.floor(Math.log10(max)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * e >= max) return m * e;
  return 10 * e;
}

/** Builds the SVG path ("M x y L x y ...") of the points, starting a new
 * sub-path after each gap; times map over [t0, t1], values over [0, vmax]. */
export function linePath(points: Point[], f: Frame, t0: number, t1: number, vmax: number): string {
  const w = f.width - f.pad.l - f.pad.r;
  const h = f.height - f.pad.t - f.pad.b;
  const span = t1 - t0 || 1;
  let d = "";
  let pen = false;
  for (const p of points) {
    if (p.v === null || !Number.isFinite(p.v)) {
      pen = false;
      continue;
    }
    const x = f.pad.l + ((p.t - t0) / span) * w;
    const y = f.pad.t + h - (Math.max(0, Math.min(p.v, vmax)) / vmax) * h;
    d += `${pen ? "L" : "M"}${x.toFixed(1)} ${y.toFixed(1)}`;
    pen = true;
  }
  return d;
}

/** The same as a closed area under the line (for a light fill), one
 * polygon per run of data. */
export function areaPath(points: Point[], f: Frame, t0: number, t1: number, vmax: number): string {
  const base = (f.height - f.pad.b).toFixed(1);
  const runs: Point[][] = [];
  let cur: Point[] = [];
  for (const p of points) {
    if (p.v === null || !Number.isFinite(p.v)) {
      if (cur.length) runs.push(cur);
      cur = [];
    } else cur.push(p);
  }
  if (cur.length) runs.push(cur);
  return runs
    .filter((run) => run.length > 1) // a lone point has no area (dots() draws it)
    .map((run) => {
      const line = linePath(run, f, t0, t1, vmax);
      const first = line.slice(1).split(" ")[0];
      const lastX = line.slice(line.lastIndexOf("L") >= 0 ? line.lastIndexOf("L") + 1 : 1).split(" ")[0];
      return `${line}L${lastX} ${base}L${first} ${base}Z`;
    })
    .join("");
}

/** Summary for screen readers and the caption: min, max, latest. */
export function summarize(points: Point[]): { min: number | null; max: number | null; last: number | null } {
  let min: number | null = null;
  let max: number | null = null;
  let last: number | null = null;
  for (const p of points) {
    if (p.v === null || !Number.isFinite(p.v)) continue;
    min = min === null ? p.v : Math.min(min, p.v);
    max = max === null ? p.v : Math.max(max, p.v);
    last = p.v;
  }
  return { min, max, last };
}

/** The points that a line cannot show: those without a neighbour with data
 * (a run of one), drawn as dots, and always the latest point.  Returns
 * their [x, y] in the frame. */
export function dots(points: Point[], f: Frame, t0: number, t1: number, vmax: number): [number, number][] {
  const w = f.width - f.pad.l - f.pad.r;
  const h = f.height - f.pad.t - f.pad.b;
  const span = t1 - t0 || 1;
  const has = (k: number) => k >= 0 && k < points.length && points[k].v !== null && Number.isFinite(points[k].v as number);
  let last = -1;
  for (let k = 0; k < points.length; k++) if (has(k)) last = k;
  const out: [number, number][] = [];
  for (let k = 0; k < points.length; k++) {
    if (!has(k) || (has(k - 1) || has(k + 1)) && k !== last) continue;
    const v = points[k].v as number;
    out.push([+(f.pad.l + ((points[k].t - t0) / span) * w).toFixed(1), +(f.pad.t + h - (Math.max(0, Math.min(v, vmax)) / vmax) * h).toFixed(1)]);
  }
  return out;
}
