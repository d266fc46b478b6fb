// Monitoring as the portal sees it: an instance's metric series
// (GET /v1/instances/{id}/metrics?metric=&start=&end=&step=) and alarms.
// Shown only when the controller has the routes (features.ts).

import { api } from "./api";
import { Point } from "./chart";
import { toMs } from "./format";

export interface Series {
  metric: string;
  unit: string;
  stepS: number;
  points: Point[];
}

/** Reads a series answer: {metric, unit, step, points:[{t, avg, ...}]}. */
export function readSeries(s: any, stat: "avg" | "max" | "min" | "sum" = "avg"): Series {
  const pts: Point[] = [];
  for (const p of s?.points ?? []) {
    const t = toMs(p?.t ?? p?.at ?? p?.ts ?? null);
    const raw = p?.[stat] ?? p?.avg ?? p?.value ?? p?.v;
    if (t === null) continue;
    pts.push({ t, v: typeof raw === "number" && Number.isFinite(raw) ? raw : null });
  }
  // step: whole seconds (docs/openapi.json)
  const step = typeof s?.step === "number" ? s.step : 0;
  return { metric: String(s?.metric ?? ""), unit: String(s?.unit ?? ""), stepS: step, points: fillGaps(pts, step * 1000) };
}

/** Inserts null points where a step has no data, so the line breaks
 * there instead of drawing across the gap. */
export function fillGaps(points: Point[], stepMs: number): Point[] {
  if (!(stepMs > 0) || points.length < 2) return points;
  const out: Point[] = [];
  for (let k = 0; k < points.length; k++) {
    if (k > 0 && points[k].t - points[k - 1].t > stepMs * 1.5) out.push({ t: points[k - 1].t + stepMs, v: null });
    out.push(points[k]);
  }
  return out;
}

/** A series of an instance ("/v1/instances/<id>/metrics"), a host
 * ("/v1/hosts/<id>/metrics") or the project ("/v1/metrics/project"). */
export async function loadSeries(path: string, metric: string, start: number, end: number, stepS: number, stat: "avg" | "max" | "min" | "sum" = "avg"): Promise<Series> {
  const s = await api.get(path, {
    query: { metric, start: new Date(start).toISOString(), end: new Date(end).toISOString(), step: stepS },
  });
  return readSeries(s, stat);
}
