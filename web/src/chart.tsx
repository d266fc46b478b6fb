// A small SVG line chart (no chart library: a few hundred bytes of code).
// Accessible: role="img" with a label that says min, max and latest, and
// the numbers under the chart for sighted users too.

import { areaPath, dots, Frame, linePath, niceMax, Point, summarize } from "./lib/chart";

const F: Frame = { width: 320, height: 120, pad: { l: 56, r: 6, t: 8, b: 18 } };

export function Chart(props: { title: string; points: Point[]; t0: number; t1: number; fmt: (v: number) => string; max?: number; empty?: string }) {
  const { title, points, t0, t1, fmt } = props;
  const s = summarize(points);
  const vmax = props.max ?? niceMax(s.max ?? 0);
  const line = linePath(points, F, t0, t1, vmax);
  const area = areaPath(points, F, t0, t1, vmax);
  const label =
    s.last === null ? `${title}: ${props.empty ?? "no data yet"}` : `${title}: latest ${fmt(s.last)}, minimum ${fmt(s.min!)}, maximum ${fmt(s.max!)}`;
  const yMid = F.pad.t + (F.height - F.pad.t - F.pad.b) / 2;
  const time = (t: number) => new Date(t).toISOString().slice(11, 16);
  return (
    <figure class="chart">
      <figcaption>
        <span>{title}</span>
        <span class="num">{s.last === null ? "—" : fmt(s.last)}</span>
      </figcaption>
      <svg viewBox={`0 0 ${F.width} ${F.height}`} role="img" aria-label={label}>
        <line class="grid" x1={F.pad.l} x2={F.width - F.pad.r} y1={F.pad.t} y2={F.pad.t} />
        <line class="grid" x1={F.pad.l} x2={F.width - F.pad.r} y1={yMid} y2={yMid} />
        <line class="axis" x1={F.pad.l} x2={F.width - F.pad.r} y1={F.height - F.pad.b} y2={F.height - F.pad.b} />
        <text class="tick" x={F.pad.l - 4} y={F.pad.t + 4} text-anchor="end">
          {fmt(vmax)}
        </text>
        <text class="tick" x={F.pad.l - 4} y={F.height - F.pad.b} text-anchor="end">
          0
        </text>
        <text class="tick" x={F.pad.l} y={F.height - 4}>
          {time(t0)}
        </text>
        <text class="tick" x={F.width - F.pad.r} y={F.height - 4} text-anchor="end">
          {time(t1)}
        </text>
        {area && <path class="area" d={area} />}
        {line && <path class="line" d={line} />}
        {dots(points, F, t0, t1, vmax).map(([x, y]) => (
          <circle class="dot" cx={x} cy={y} r="2.5" />
        ))}
        {!line && (
          <text class="nodata" x={(F.width + F.pad.l) / 2} y={yMid} text-anchor="middle">
            {props.empty ?? "no data yet"}
          </text>
        )}
      </svg>
    </figure>
  );
}

/** Bars with a label under each (cost per month). */
export function BarChart(props: { title: string; bars: { label: string; value: number; note?: string }[]; fmt: (v: number) => string }) {
  const W = 320;
  const H = 130;
  const pad = { l: 8, r: 8, t: 16, b: 20 };
  const n = props.bars.length || 1;
  const max = niceMax(Math.max(0, ...props.bars.map((b) => b.value)));
  const slot = (W - pad.l - pad.r) / n;
  const bw = Math.max(4, Math.min(36, slot * 0.6));
  const label = `${props.title}: ` + props.bars.map((b) => `${b.label} ${props.fmt(b.value)}`).join(", ");
  return (
    <figure class="chart">
      <figcaption>
        <span>{props.title}</span>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={label}>
        <line class="axis" x1={pad.l} x2={W - pad.r} y1={H - pad.b} y2={H - pad.b} />
        {props.bars.map((b, k) => {
          const h = ((H - pad.t - pad.b) * Math.max(0, b.value)) / max;
          const x = pad.l + slot * k + (slot - bw) / 2;
          return (
            <g key={b.label}>
              <rect class="bar-rect" x={x.toFixed(1)} y={(H - pad.b - h).toFixed(1)} width={bw.toFixed(1)} height={h.toFixed(1)} rx="2">
                <title>{`${b.label}: ${props.fmt(b.value)}${b.note ? " " + b.note : ""}`}</title>
              </rect>
              {(n - 1 - k) % Math.ceil(n / 6) === 0 && (
                <text class="tick" x={(x + bw / 2).toFixed(1)} y={H - 6} text-anchor="middle">
                  {b.label}
                </text>
              )}
              {n <= 8 && (
                <text class="tick" x={(x + bw / 2).toFixed(1)} y={(H - pad.b - h - 3).toFixed(1)} text-anchor="middle">
                  {props.fmt(b.value)}
                </text>
              )}
            </g>
          );
        })}
      </svg>
    </figure>
  );
}
