// Money, sizes, durations and time ranges (web/src/lib/format.ts).
import { formatBytes, formatDuration, formatMiB, formatMoney, formatPercent, formatRelative, formatTime, forecastMonth, monthOf, niceStep, parseMoney, quotaFraction, rangeFor, toMs } from "../../../web/src/lib/format";

describe("formatMoney (integer micro-units)", () => {
  it("rounds to cents, half away from zero, without floating point", () => {
    expect(formatMoney(0, "EUR")).toBe("€0.00");
    expect(formatMoney(1_234_567, "EUR")).toBe("€1.23");
    expect(formatMoney(1_235_000, "EUR")).toBe("€1.24");
    expect(formatMoney(1_234_999, "USD")).toBe("$1.23");
    expect(formatMoney(4_999, "EUR")).toBe("€0.00");
    expect(formatMoney(5_000, "EUR")).toBe("€0.01");
    expect(formatMoney(-5_000, "EUR")).toBe("−€0.01");
    expect(formatMoney(-4_000, "EUR")).toBe("€0.00"); // no "minus zero"
  });
  it("groups thousands and keeps exactness for large amounts", () => {
    expect(formatMoney(1_234_567_890_123, "EUR")).toBe("€1,234,567.89");
    // 2^53 + 1 micro-units cannot be a double; as bigint it is exact
    expect(formatMoney(9_007_199_254_740_993n, "USD")).toBe("$9,007,199,254.74");
  });
  it("shows unit prices exactly with {exact}", () => {
    expect(formatMoney(12_500, "EUR", { exact: true })).toBe("€0.0125");
    expect(formatMoney(1, "EUR", { exact: true })).toBe("€0.000001");
    expect(formatMoney(2_000_000, "EUR", { exact: true })).toBe("€2.00");
    expect(formatMoney(2_100_000, "EUR", { exact: true })).toBe("€2.10");
  });
  it("names other currencies by code and handles missing values", () => {
    expect(formatMoney(1_500_000, "CHF")).toBe("1.50 CHF");
    expect(formatMoney(1_500_000, "")).toBe("1.50");
    expect(formatMoney(null, "EUR")).toBe("—");
    expect(formatMoney(undefined)).toBe("—");
    expect(formatMoney(3_000_000, "EUR", { decimals: 0 })).toBe("€3");
  });
  it("parses what people type into micro-units", () => {
    expect(parseMoney("12.34")).toBe(12_340_000);
    expect(parseMoney(" 0.000001 ")).toBe(1);
    expect(parseMoney("7")).toBe(7_000_000);
    expect(parseMoney("-1.5")).toBe(-1_500_000);
    expect(parseMoney("1.2345678")).toBeNull();
    expect(parseMoney("1,5")).toBeNull();
    expect(parseMoney("")).toBeNull();
  });
});

describe("sizes", () => {
  it("uses IEC units with at most 3 significant digits", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1023)).toBe("1023 B");
    expect(formatBytes(1024)).toBe("1 KiB");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(10.5 * 1024 * 1024)).toBe("10.5 MiB");
    expect(formatBytes(123.4 * 1024 ** 3)).toBe("123 GiB");
    expect(formatBytes(-2048)).toBe("−2 KiB");
    expect(formatBytes(null)).toBe("—");
    expect(formatBytes(NaN)).toBe("—");
  });
  it("formats flavor memory given in MiB", () => {
    expect(formatMiB(192)).toBe("192 MiB");
    expect(formatMiB(2048)).toBe("2 GiB");
    expect(formatMiB(65536)).toBe("64 GiB");
  });
  it("formats percentages", () => {
    expect(formatPercent(3.14159)).toBe("3.1 %");
    expect(formatPercent(73.6)).toBe("74 %");
    expect(formatPercent(null)).toBe("—");
  });
});

describe("times", () => {
  const now = Date.parse("2026-11-26T12:00:00.000Z");
  it("formats durations", () => {
    expect(formatDuration(45_000)).toBe("45 s");
    expect(formatDuration(3 * 60_000)).toBe("3 min");
    expect(formatDuration(2 * 3_600_000 + 5 * 60_000)).toBe("2 h 5 min");
    expect(formatDuration(2 * 3_600_000)).toBe("2 h");
    expect(formatDuration(3 * 86_400_000 + 4 * 3_600_000)).toBe("3 d 4 h");
  });
  it("says how long ago", () => {
    expect(formatRelative("2026-11-26T11:57:00.000Z", now)).toBe("3 min ago");
    expect(formatRelative("2026-11-26T11:59:58.000Z", now)).toBe("just now");
    expect(formatRelative("2026-11-26T14:00:00.000Z", now)).toBe("in 2 h");
    expect(formatRelative(null, now)).toBe("—");
    expect(formatRelative("garbage", now)).toBe("—");
  });
  it("shows the API's UTC times as UTC", () => {
    expect(formatTime("2026-11-26T15:04:05.123Z")).toBe("2026-11-26 15:04:05 UTC");
  });
  it("reads seconds, milliseconds and RFC 3339", () => {
    expect(toMs(1_764_158_400)).toBe(1_764_158_400_000);
    expect(toMs(1_764_158_400_000)).toBe(1_764_158_400_000);
    expect(toMs("2025-11-26T12:00:00Z")).toBe(1_764_158_400_000);
    expect(toMs("")).toBeNull();
  });
});

describe("time ranges", () => {
  const now = Date.parse("2026-11-26T12:34:56.789Z");
  it("picks a nice step for about 120 points", () => {
    expect(niceStep(15 * 60_000)).toBe(10);
    expect(niceStep(3_600_000)).toBe(30);
    expect(niceStep(86_400_000)).toBe(900);
    expect(niceStep(7 * 86_400_000)).toBe(7200);
    expect(niceStep(1000 * 86_400_000)).toBe(86400);
  });
  it("ends a preset at now aligned up to its step", () => {
    const r = rangeFor("1h", now);
    expect(r.stepS).toBe(30);
    expect(r.end % 30_000).toBe(0);
    expect(r.end).toBeGreaterThanOrEqual(now);
    expect(r.end - now).toBeLessThan(30_000);
    expect(r.end - r.start).toBe(3_600_000);
    expect(rangeFor("nonsense", now).key).toBe("1h");
    // the same range for every poll within one step
    expect(rangeFor("1h", now + 1000)).toEqual(r);
  });
  it("knows the calendar month and forecasts its total linearly", () => {
    const m = monthOf(Date.parse("2026-02-15T00:00:00Z"));
    expect(new Date(m.start).toISOString()).toBe("2026-02-01T00:00:00.000Z");
    expect(new Date(m.end).toISOString()).toBe("2026-03-01T00:00:00.000Z");
    expect(m.elapsed).toBe(0.5);
    expect(m.label).toBe("February 2026");
    expect(forecastMonth(5_000_000, Date.parse("2026-02-15T00:00:00Z"))).toBe(10_000_000);
    expect(forecastMonth(0, Date.parse("2026-02-01T00:00:00Z"))).toBe(0);
  });
  it("computes quota use", () => {
    expect(quotaFraction(5, 20)).toBe(0.25);
    expect(quotaFraction(30, 20)).toBe(1);
    expect(quotaFraction(0, 0)).toBe(0);
    expect(quotaFraction(1, 0)).toBe(1);
  });
});
