// Live-migration progress as the instance page shows it (web/src/lib/mobility.ts).
import { migrationActive, migrationProgress } from "../../../web/src/lib/mobility";

describe("migrationProgress", () => {
  it("turns QEMU's figures into a fraction and a sentence", () => {
    const p = migrationProgress({
      status: "active",
      ram: { transferred_bytes: 200 << 20, remaining_bytes: 64 << 20, total_bytes: 256 << 20, dirty_pages_rate: 120 },
      disk: { transferred_bytes: 1, remaining_bytes: 0, total_bytes: 1 << 30 },
      expected_downtime_ms: 40,
      total_time_ms: 3000,
    });
    expect(p.fraction).toBeCloseTo(0.75);
    expect(p.text).toContain("RAM 75 %");
    expect(p.text).toContain("disk 100 %");
    expect(p.text).toContain("120 dirty pages/s");
    expect(p.text).toContain("expected pause 40 ms");
    expect(p.text).toContain("3 s");
    expect(p.text.startsWith("active")).toBe(false);
  });
  it("shows no percentage when QEMU gave no totals (the fake driver's zeros)", () => {
    const p = migrationProgress({ status: "active", ram: { transferred_bytes: 0, remaining_bytes: 0, total_bytes: 0 } });
    expect(p.fraction).toBeNull();
    expect(p.text).toBe("copying");
  });
  it("names a status other than active, and copes with nothing", () => {
    expect(migrationProgress({ status: "completed", ram: {} }).text).toBe("completed: copying");
    expect(migrationProgress(null)).toEqual({ fraction: null, text: "waiting for the first figures" });
    expect(migrationProgress({ ram: { transferred_bytes: 1048576 } }).text).toContain("RAM 1");
  });
  it("knows which states are under way", () => {
    expect(migrationActive("preparing")).toBe(true);
    expect(migrationActive("running")).toBe(true);
    expect(migrationActive("completed")).toBe(false);
    expect(migrationActive("failed")).toBe(false);
  });
});
