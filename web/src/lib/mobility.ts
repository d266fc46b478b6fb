// Live migration as the portal shows it: the progress figures of a
// migration (GET /v1/instances/{id}/migrations) or of its task
// (GET /v1/tasks: a migrate task's `progress`), which are the source
// agent's QEMU `query-migrate` (docs/internals/mobility.md), turned into a
// fraction and a sentence.  Pure functions (unit-tested).

import { formatBytes, formatDuration } from "./format";

export interface MigrationProgress {
  fraction: number | null; // RAM copied / total, when QEMU said
  text: string;
}

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

/** The RAM (and disk) copied so far, the dirty rate and the expected
 * pause.  Figures QEMU did not give (or gave as 0 totals, as the fake
 * driver does) are left out rather than shown as 0 %. */
export function migrationProgress(p: any): MigrationProgress {
  if (!p || typeof p !== "object") return { fraction: null, text: "waiting for the first figures" };
  const parts: string[] = [];
  const ram = p.ram ?? {};
  const total = num(ram.total_bytes);
  const sent = num(ram.transferred_bytes);
  const left = num(ram.remaining_bytes);
  let fraction: number | null = null;
  if (total && total > 0 && left !== null) {
    fraction = Math.max(0, Math.min(1, (total - left) / total));
    parts.push(`RAM ${Math.round(fraction * 100)} % (${formatBytes(total - left)} of ${formatBytes(total)})`);
  } else if (sent) parts.push(`RAM ${formatBytes(sent)} sent`);
  const disk = p.disk ?? {};
  const dt = num(disk.total_bytes);
  const dl = num(disk.remaining_bytes);
  if (dt && dt > 0 && dl !== null) parts.push(`disk ${Math.round(((dt - dl) / dt) * 100)} %`);
  const rate = num(ram.dirty_pages_rate);
  if (rate) parts.push(`${rate} dirty pages/s`);
  const exp = num(p.expected_downtime_ms);
  if (exp !== null && exp > 0) parts.push(`expected pause ${exp} ms`);
  const t = num(p.total_time_ms);
  if (t !== null && t > 0) parts.push(`for ${formatDuration(t)}`);
  const status = typeof p.status === "string" && p.status !== "active" ? `${p.status}: ` : "";
  return { fraction, text: status + (parts.length ? parts.join(", ") : "copying") };
}

/** True while a migration is under way. */
export function migrationActive(state: string): boolean {
  return state === "preparing" || state === "running";
}
