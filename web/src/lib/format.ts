// Formatting for people: money from integer micro-units, sizes, times and
// time ranges.  Pure functions (unit-tested in tests/web/unit).

export const MICRO = 1_000_000;

/** Money is an integer number of micro-units of a currency (architecture
 * principle 6).  Formats it without going through floating point: 2
 * decimals by default (rounded half away from zero), or as many as needed
 * (up to 6) with `exact` — for unit prices such as 0.0125 per hour. */
export function formatMoney(
  micro: number | bigint | null | undefined,
  currency = "",
  opts: { exact?: boolean; decimals?: number } = {},
): string {
  if (micro === null || micro === undefined) return "—";
  let v: bigint;
  try {
    v = typeof micro === "bigint" ? micro : BigInt(Math.trunc(Number(micro)));
  } catch {
    return "—";
  }
  const neg = v < 0n;
  if (neg) v = -v;
  let decimals = opts.decimals ?? 2;
  if (opts.exact) {
    // as few decimals as show the exact value, at least `decimals`
    let frac = v % 1_000_000n;
    let d = 6;
    while (d > decimals && frac % 10n === 0n) {
      frac /= 10n;
      d--;
    }
    decimals = d;
  }
  decimals = Math.max(0, Math.min(6, decimals));
  const scale = 10n ** BigInt(6 - decimals);
  let q = v / scale;
  const r = v % scale;
  if (scale > 1n && r * 2n >= scale) q += 1n; // half away from zero
  const unit = 10n ** BigInt(decimals);
  const whole = (q / unit).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const frac = decimals > 0 ? "." + (q % unit).toString().padStart(decimals, "0") : "";
  const sign = neg && q !== 0n ? "−" : "";
  const sym = currencySymbol(currency);
  return sym.prefix ? `${sign}${sym.prefix}${whole}${frac}` : `${sign}${whole}${frac}${sym.suffix}`;
}

function currencySymbol(c: string): { prefix: string; suffix: string } {
  switch ((c || "").toUpperCase()) {
    case "USD":
      return { prefix: "$", suffix: "" };
    case "EUR":
      return { prefix: "€", suffix: "" };
    case "GBP":
      return { prefix: "£", suffix: "" };
    case "":
      return { prefix: "", suffix: "" };
    default:
      return { prefix: "", suffix: " " + c.toUpperCase() };
  }
}

/** Parses "12.34" (a user's input) into micro-units, or null when it is
 * not a plain decimal number with at most 6 decimals. */
export function parseMoney(s: string): number | null {
  const m = /^\s*(-?)(\d{1,12})(?:\.(\d{1,6}))?\s*$/.exec(s);
  if (!m) return null;
  const v = Number(m[2]) * MICRO + Number((m[3] ?? "").padEnd(6, "0"));
  return m[1] ? -v : v;
}

const IEC = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** 1536 -> "1.5 KiB"; integers below 1024 stay as bytes. */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "—";
  let v = Math.abs(n);
  let i = 0;
  while (v >= 1024 && i < IEC.length - 1) {
    v /= 1024;
    i++;
  }
  const digits = i === 0 || v >= 100 ? 0 : v >= 10 ? 1 : 2;
  let s = v.toFixed(digits);
  if (s.includes(".")) s = s.replace(/\.?0+$/, "");
  return (n < 0 ? "−" : "") + s + " " + IEC[i];
}

/** A size given in MiB (flavors, quotas): 512 -> "512 MiB", 2048 -> "2 GiB". */
export function formatMiB(mib: number | null | undefined): string {
  if (mib === null || mib === undefined) return "—";
  return formatBytes(mib * 1024 * 1024);
}

/** A rate in bytes per second. */
export function formatRate(bps: number | null | undefined): string {
  if (bps === null || bps === undefined || !Number.isFinite(bps)) return "—";
  return formatBytes(bps) + "/s";
}

/** A percentage with one decimal below 10, none above. */
export function formatPercent(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "—";
  return (Math.abs(v) < 10 ? v.toFixed(1) : Math.round(v).toString()) + " %";
}

/** Duration in ms -> "45 s", "3 min", "2 h 5 min", "3 d 4 h". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return "—";
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

/** "3 min ago" / "in 2 h" relative to now (both ms since the epoch). */
export function formatRelative(at: string | number | null | undefined, now = Date.now()): string {
  const t = toMs(at);
  if (t === null) return "—";
  const diff = now - t;
  if (Math.abs(diff) < 5000) return "just now";
  return diff >= 0 ? `${formatDuration(diff)} ago` : `in ${formatDuration(-diff)}`;
}

/** An RFC 3339 time -> "2026-11-26 15:04:05 UTC" (the API's times are UTC). */
export function formatTime(at: string | number | null | undefined): string {
  const t = toMs(at);
  if (t === null) return "—";
  return new Date(t).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

/** Milliseconds since the epoch from an RFC 3339 string, ms or s number. */
export function toMs(at: string | number | null | undefined): number | null {
  if (at === null || at === undefined || at === "") return null;
  if (typeof at === "number") return at < 1e11 ? at * 1000 : at; // seconds or ms
  const t = Date.parse(at);
  return Number.isNaN(t) ? null : t;
}

/* ------------------------------------------------------- time ranges */

export interface TimeRange {
  key: string;
  label: string;
  start: number; // ms, inclusive
  end: number; // ms, exclusive
  stepS: number; // seconds between points
}

export const RANGE_PRESETS: { key: string; label: string; ms: number }[] = [
  { key: "15m", label: "15 minutes", ms: 15 * 60_000 },
  { key: "1h", label: "1 hour", ms: 3_600_000 },
  { key: "6h", label: "6 hours", ms: 6 * 3_600_000 },
  { key: "24h", label: "24 hours", ms: 24 * 3_600_000 },
  { key: "7d", label: "7 days", ms: 7 * 86_400_000 },
];

const NICE_STEPS_S = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400];

/** The smallest "nice" step that gives at most `points` points over ms. */
export function niceStep(ms: number, points = 120): number {
  const want = ms / 1000 / points;
  for (const s of NICE_STEPS_S) if (s >= want) return s;
  return 86400;
}

/** A preset ("1h") ending now, with a step that gives ~120 points.  The
 * end is aligned up to the step so that repeated polls ask for the same
 * buckets. */
export function rangeFor(key: string, now = Date.now(), points = 120): TimeRange {
  const p = RANGE_PRESETS.find((r) => r.key === key) ?? RANGE_PRESETS[1];
  const stepS = niceStep(p.ms, points);
  const stepMs = stepS * 1000;
  const end = Math.ceil(now / stepMs) * stepMs;
  return { key: p.key, label: p.label, start: end - p.ms, end, stepS };
}

/** The calendar month (UTC) holding `now`: [start, end) in ms, and how far
 * into it now is (0..1) — what a month-to-date cost and its forecast use. */
export function monthOf(now = Date.now()): { start: number; end: number; elapsed: number; label: string } {
  const d = new Date(now);
  const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  const end = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  const label = d.toLocaleString("en", { month: "long", year: "numeric", timeZone: "UTC" });
  return { start, end, elapsed: (now - start) / (end - start), label };
}

/** A linear forecast of a month's total from its cost so far. */
export function forecastMonth(microSoFar: number, now = Date.now()): number {
  const m = monthOf(now);
  if (m.elapsed <= 0) return microSoFar;
  return Math.round(microSoFar / m.elapsed);
}

/** "3 of 20" style use of a quota, as a fraction 0..1 (limit 0: full). */
export function quotaFraction(used: number, limit: number): number {
  if (!(limit > 0)) return used > 0 ? 1 : 0;
  return Math.max(0, Math.min(1, used / limit));
}

/** A short id for tables: the first 8 characters of a UUID. */
export function shortId(id: string | null | undefined): string {
  return id ? id.slice(0, 8) : "—";
}
