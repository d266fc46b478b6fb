// Metric charts (when the controller has monitoring): an instance's CPU,
// memory, disk and network, a host's CPU, memory and disk, or the
// project's aggregate, over a chosen range, refreshed as new steps come.

import { useState } from "preact/hooks";
import { Chart } from "../chart";
import { formatBytes, formatPercent, formatRate, RANGE_PRESETS, rangeFor } from "../lib/format";
import { loadSeries, Series } from "../lib/monitoring";
import { usePoll } from "../hooks";
import { ErrorBox } from "../ui";

interface ChartDef {
  metric: string;
  title: string;
  fmt: (v: number) => string;
  max?: number;
  stat?: "avg" | "max" | "min" | "sum";
}



export const INSTANCE_CHARTS: ChartDef[] = [
  { metric: "cpu", title: "CPU", fmt: formatPercent, max: 100 },
  { metric: "memory", title: "Memory", fmt: formatBytes },
  { metric: "disk_read_bytes", title: "Disk read", fmt: formatRate },
  { metric: "disk_write_bytes", title: "Disk write", fmt: formatRate },
  { metric: "net_rx_bytes", title: "Network in", fmt: formatRate },
  { metric: "net_tx_bytes", title: "Network out", fmt: formatRate },
];

export const PROJECT_CHARTS: ChartDef[] = [
  { metric: "cpu", title: "CPU (average of instances)", fmt: formatPercent, max: 100 },
  { metric: "net_rx_bytes", title: "Network in (all instances)", fmt: formatRate, stat: "sum" },
  { metric: "net_tx_bytes", title: "Network out (all instances)", fmt: formatRate, stat: "sum" },
];

export const HOST_CHARTS: ChartDef[] = [
  { metric: "cpu", title: "CPU", fmt: formatPercent, max: 100 },
  { metric: "memory_used", title: "Memory used", fmt: formatBytes },
  { metric: "disk_used", title: "Disk used", fmt: formatBytes },
];


export function Metrics({ path, charts = INSTANCE_CHARTS, title = "Metrics", initial = "15m" }: { path: string; charts?: ChartDef[]; title?: string; initial?: string }) {
  const [key, setKey] = useState(initial);
  const data = usePoll(
    async () => {
      const r = rangeFor(key);
      const series = await Promise.all(charts.map((c) => loadSeries(path, c.metric, r.start, r.end, r.stepS, c.stat).catch(() => null as Series | null)));
      return { r, series };
    },
    () => false,
    [path, key],
  );
  const r = data.data?.r ?? rangeFor(key);
  const hid = "met-" + title.replace(/\W+/g, "-").toLowerCase();
  return (
    <section class="panel" aria-labelledby={hid}>
      <div class="panel-head">
        <h2 id={hid}>{title}</h2>
        <label class="inline">
          <span>Range</span>
          <select value={key} onChange={(e) => setKey((e.target as HTMLSelectElement).value)}>
            {RANGE_PRESETS.map((p) => (
              <option value={p.key}>last {p.label}</option>
            ))}
          </select>
        </label>
      </div>
      <ErrorBox error={data.error} />
      <div class="charts">
        {charts.map((c, k) => {
          const s = data.data?.series[k];
          const max = c.max !== undefined ? Math.max(c.max, ...(s?.points ?? []).map((p) => p.v ?? 0)) : undefined;
          return <Chart key={c.metric} title={c.title} points={s?.points ?? []} t0={r.start} t1={r.end} fmt={c.fmt} max={max} empty={s === null ? "not available" : undefined} />;
        })}
      </div>
    </section>
  );
}
