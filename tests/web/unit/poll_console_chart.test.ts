// Polling back-off, console following and chart geometry.
import { DEFAULT_POLICY, nextDelay } from "../../../web/src/lib/poll";
import { ConsoleBuffer, stripAnsi } from "../../../web/src/lib/consolebuf";
import { areaPath, dots, linePath, niceMax, summarize } from "../../../web/src/lib/chart";
import { fillGaps, readSeries } from "../../../web/src/lib/monitoring";
import { priceAt, readCost, readPrice } from "../../../web/src/lib/billing";
import { match } from "../../../web/src/router-match";

describe("nextDelay", () => {
  const P = DEFAULT_POLICY;
  it("polls fast while something moves, slower when settled", () => {
    expect(nextDelay(P, true, 0)).toBe(P.fastMs);
    expect(nextDelay(P, false, 0)).toBe(P.slowMs);
  });
  it("stretches the settled interval while nothing changes, up to 3x", () => {
    expect(nextDelay(P, false, 0, 4)).toBe(P.slowMs * 2);
    expect(nextDelay(P, false, 0, 100)).toBe(P.slowMs * 3);
  });
  it("backs off exponentially on errors, capped", () => {
    expect(nextDelay(P, false, 1)).toBe(P.slowMs * 2);
    expect(nextDelay(P, false, 2)).toBe(P.slowMs * 4);
    expect(nextDelay(P, true, 1)).toBe(P.fastMs * 2);
    expect(nextDelay(P, false, 50)).toBe(P.maxMs);
  });
});

describe("ConsoleBuffer", () => {
  it("follows the offsets the API gives", () => {
    const b = new ConsoleBuffer(1000, 0);
    b.push("boot\n", 5);
    expect(b.offset).toBe(5);
    b.push("NUBO-READY\n", 16);
    expect(b.text).toBe("boot\nNUBO-READY\n");
    expect(b.contains("NUBO-READY")).toBe(true);
    b.push("", 16);
    expect(b.offset).toBe(16);
  });
  it("starts again when the console was reset (a new VM)", () => {
    const b = new ConsoleBuffer(1000, 0);
    b.push("old output\n", 11);
    b.push("new\n", 4);
    expect(b.text).toBe("new\n");
  });
  it("keeps at most its cap, cutting at a line", () => {
    const b = new ConsoleBuffer(20, 0);
    b.push("line one\nline two\nline three\n", 29);
    expect(b.text.length).toBeLessThanOrEqual(20);
    expect(b.text.startsWith("line")).toBe(true);
    expect(b.dropped).toBeGreaterThan(0);
  });
  it("strips terminal escapes and carriage returns", () => {
    expect(stripAnsi("\x1b[1;32mOK\x1b[0m\r\n")).toBe("OK\n");
    expect(stripAnsi("50%\r100%\n")).toBe("50%100%\n");
  });
});

describe("charts", () => {
  const F = { width: 100, height: 50, pad: { l: 0, r: 0, t: 0, b: 0 } };
  it("rounds the axis up to a nice number", () => {
    expect(niceMax(0)).toBe(1);
    expect(niceMax(7)).toBe(10);
    expect(niceMax(1.7)).toBe(2);
    expect(niceMax(230)).toBe(250);
    expect(niceMax(4100)).toBe(5000);
  });
  it("maps points into the frame and breaks the line at gaps", () => {
    const pts = [
      { t: 0, v: 0 },
      { t: 50, v: 10 },
      { t: 60, v: null },
      { t: 100, v: 5 },
    ];
    expect(linePath(pts, F, 0, 100, 10)).toBe("M0.0 50.0L50.0 0.0M100.0 25.0");
    expect(areaPath(pts.slice(0, 2), F, 0, 100, 10)).toBe("M0.0 50.0L50.0 0.0L50.0 50.0L0.0 50.0Z");
    expect(linePath([], F, 0, 100, 10)).toBe("");
  });
  it("draws lone points and the latest one as dots", () => {
    const pts = [
      { t: 0, v: 5 },
      { t: 10, v: null },
      { t: 20, v: 5 },
      { t: 30, v: 10 },
    ];
    expect(dots(pts, F, 0, 100, 10)).toEqual([
      [0, 25],
      [30, 0],
    ]);
    expect(areaPath([{ t: 0, v: 5 }], F, 0, 100, 10)).toBe("");
    expect(dots([], F, 0, 100, 10)).toEqual([]);
  });
  it("clamps values outside the axis", () => {
    expect(linePath([{ t: 0, v: 20 }], F, 0, 100, 10)).toBe("M0.0 0.0");
  });
  it("summarizes for screen readers", () => {
    expect(summarize([{ t: 0, v: 3 }, { t: 1, v: null }, { t: 2, v: 9 }, { t: 3, v: 1 }])).toEqual({ min: 1, max: 9, last: 1 });
    expect(summarize([])).toEqual({ min: null, max: null, last: null });
  });
});

describe("series and billing readers", () => {
  it("reads a metric series and marks missing steps", () => {
    const s = readSeries({ metric: "cpu", unit: "percent", step: 10, points: [{ t: "2026-01-01T00:00:00Z", avg: 5 }, { t: "2026-01-01T00:00:10Z", avg: 7 }, { t: "2026-01-01T00:00:40Z", avg: 9 }] });
    expect(s.stepS).toBe(10);
    expect(s.points.map((p) => p.v)).toEqual([5, 7, null, 9]);
    expect(fillGaps([], 1000)).toEqual([]);
  });
  it("finds the price in force", () => {
    const prices = [
      readPrice({ meter: "instance", flavor: { id: "f1", name: "tiny" }, unit_price_micros: 10_000, currency: "EUR", effective_from: "2026-01-01T00:00:00Z", effective_until: "2026-06-01T00:00:00Z" }),
      readPrice({ meter: "instance", flavor: { id: "f1", name: "tiny" }, unit_price_micros: 12_000, currency: "EUR", effective_from: "2026-06-01T00:00:00Z", effective_until: null }),
      readPrice({ meter: "disk", unit_price_micros: 50_000, currency: "EUR", effective_from: "2026-01-01T00:00:00Z" }),
    ];
    expect(priceAt(prices, "instance", "f1", Date.parse("2026-03-01T00:00:00Z"))?.micro).toBe(10_000);
    expect(priceAt(prices, "instance", "f1", Date.parse("2026-07-01T00:00:00Z"))?.micro).toBe(12_000);
    expect(priceAt(prices, "instance", "", Date.parse("2026-07-01T00:00:00Z"), "tiny")?.micro).toBe(12_000);
    expect(priceAt(prices, "instance", "f2", Date.parse("2026-07-01T00:00:00Z"))).toBeNull();
    expect(priceAt(prices, "instance", "f1", Date.parse("2025-07-01T00:00:00Z"))).toBeNull();
    expect(priceAt(null, "disk", "")).toBeNull();
  });
  it("reads a cost answer", () => {
    const c = readCost({ currency: "EUR", so_far_micros: 1_500_000, forecast_micros: 3_000_000 });
    expect(c).toMatchObject({ currency: "EUR", soFar: 1_500_000, forecast: 3_000_000 });
    expect(readCost({})).toMatchObject({ soFar: null, forecast: null });
  });
});

describe("client routes", () => {
  it("matches patterns with parameters", () => {
    expect(match("/instances/:id", "/instances/abc")).toEqual({ id: "abc" });
    expect(match("/instances/:id", "/instances/abc?x=1")).toEqual({ id: "abc" });
    expect(match("/instances/:id", "/instances")).toBeNull();
    expect(match("/instances/:id", "/instances/")).toBeNull();
    expect(match("/admin/projects/:id", "/admin/projects/a%20b")).toEqual({ id: "a b" });
  });
});
