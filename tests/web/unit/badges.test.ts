// State badges and the actions a state allows (web/src/lib/badges.ts).
import { alarmBadge, hostBadge, imageBadge, instanceActions, instanceBadge, instanceBusy, migrationBadge, taskBadge } from "../../../web/src/lib/badges";

describe("instance badges", () => {
  it("says what a settled instance is", () => {
    expect(instanceBadge("running", "running")).toMatchObject({ label: "running", tone: "ok", busy: false });
    expect(instanceBadge("stopped", "stopped")).toMatchObject({ label: "stopped", tone: "off", busy: false });
    expect(instanceBadge("deleted", "deleted")).toMatchObject({ tone: "off", busy: false });
  });
  it("shows transitions as busy, including ones the API has no status for", () => {
    expect(instanceBadge("building", "running")).toMatchObject({ label: "building", tone: "busy", busy: true });
    expect(instanceBadge("stopped", "running")).toMatchObject({ label: "starting", busy: true });
    expect(instanceBadge("stopping", "stopped")).toMatchObject({ label: "stopping", busy: true });
    expect(instanceBadge("running", "stopped")).toMatchObject({ label: "stopping", busy: true });
    expect(instanceBadge("rebooting", "running")).toMatchObject({ busy: true });
    expect(instanceBadge("deleting", "deleted")).toMatchObject({ busy: true });
    expect(instanceBusy("building", "running")).toBe(true);
    expect(instanceBusy("running", "running")).toBe(false);
  });
  it("puts the fault of an error in its help text", () => {
    const b = instanceBadge("error", "running", "no valid host: not enough memory");
    expect(b).toMatchObject({ label: "error", tone: "bad", busy: false });
    expect(b.help).toContain("no valid host");
  });
  it("keeps polling an unknown instance (its host is down)", () => {
    expect(instanceBadge("unknown", "running")).toMatchObject({ tone: "warn", busy: true });
  });
  it("offers only the actions the state allows", () => {
    expect(instanceActions("running", "running")).toEqual({ start: false, stop: true, reboot: true, delete: true });
    expect(instanceActions("stopped", "stopped")).toEqual({ start: true, stop: false, reboot: false, delete: true });
    expect(instanceActions("building", "running")).toEqual({ start: false, stop: false, reboot: false, delete: true });
    expect(instanceActions("stopped", "running")).toMatchObject({ start: false, stop: false });
    expect(instanceActions("deleting", "deleted")).toMatchObject({ delete: false });
    expect(instanceActions("error", "running")).toMatchObject({ start: false, delete: true });
  });
});

describe("other badges", () => {
  it("hosts", () => {
    expect(hostBadge("up").tone).toBe("ok");
    expect(hostBadge("down").tone).toBe("bad");
    expect(hostBadge("degraded")).toMatchObject({ label: "degraded", tone: "warn" });
    expect(hostBadge("weird")).toMatchObject({ label: "weird", tone: "info" });
  });
  it("images", () => {
    expect(imageBadge("active").tone).toBe("ok");
    expect(imageBadge("queued").tone).toBe("warn");
    expect(imageBadge("error").tone).toBe("bad");
  });
  it("tasks", () => {
    expect(taskBadge("succeeded")).toMatchObject({ label: "done", tone: "ok" });
    expect(taskBadge("running").busy).toBe(true);
    expect(taskBadge("failed").tone).toBe("bad");
  });
  it("alarms", () => {
    expect(alarmBadge("ALARM").tone).toBe("bad");
    expect(alarmBadge("OK").tone).toBe("ok");
    expect(alarmBadge("INSUFFICIENT_DATA")).toMatchObject({ label: "no data", tone: "warn" });
  });
});

describe("mobility badges", () => {
  it("shows migrating as a transition", () => {
    const m = instanceBadge("migrating", "running");
    expect(m.label).toBe("migrating");
    expect(m.busy).toBe(true);
    expect(instanceActions("migrating", "running")).toEqual({ start: false, stop: false, reboot: false, delete: true });
  });
  it("puts a host's maintenance before its heartbeat state, but not before down", () => {
    expect(hostBadge("up", "draining")).toMatchObject({ label: "draining", busy: true });
    expect(hostBadge("up", "drained")).toMatchObject({ label: "drained", busy: false });
    expect(hostBadge("up", null).label).toBe("up");
    expect(hostBadge("down", "drained").label).toBe("down");
    expect(hostBadge("fenced").tone).toBe("bad");
  });
  it("names a migration's states", () => {
    expect(migrationBadge("running")).toMatchObject({ label: "copying", busy: true });
    expect(migrationBadge("completed").tone).toBe("ok");
    expect(migrationBadge("failed").help).toContain("source");
  });
});
