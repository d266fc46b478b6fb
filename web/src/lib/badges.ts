// State badges: what colour and word a resource's state shows as, and
// whether it is on its way somewhere (then the views poll faster and show
// progress).  Pure functions (unit-tested).

export type Tone = "ok" | "busy" | "warn" | "bad" | "off" | "info";

export interface Badge {
  label: string;
  tone: Tone;
  busy: boolean; // a transition in progress: poll fast, show a spinner
  help: string; // one sentence for the tooltip / screen readers
}

/** An instance's badge from its status and desired state (a stopped
 * instance that should run is "starting"; the API has no such status). */
export function instanceBadge(status: string, desired?: string, fault?: string | null): Badge {
  switch (status) {
    case "running":
      if (desired === "stopped") return b("stopping", "busy", true, "Shutting down.");
      if (desired === "deleted") return b("deleting", "busy", true, "Being deleted.");
      return b("running", "ok", false, "The instance is running.");
    case "stopped":
      if (desired === "running") return b("starting", "busy", true, "Starting up.");
      if (desired === "deleted") return b("deleting", "busy", true, "Being deleted.");
      return b("stopped", "off", false, "Stopped: it keeps its disk; start it again at any time.");
    case "building":
      return b("building", "busy", true, "Being placed and created on a host.");
    case "stopping":
      return b("stopping", "busy", true, "Shutting down.");
    case "rebooting":
      return b("rebooting", "busy", true, "Restarting.");
    case "migrating":
      return b("migrating", "busy", true, "Moving to another host while it runs.");
    case "deleting":
      return b("deleting", "busy", true, "Being deleted.");
    case "deleted":
      return b("deleted", "off", false, "Deleted.");
    case "error":
      return b("error", "bad", false, fault ? `Failed: ${fault}` : "Failed; delete it and try again.");
    case "unknown":
      return b("unknown", "warn", true, "Its host does not answer; the state will come back when it does.");
    default:
      return b(status || "?", "info", false, "");
  }
}

/** True when an instance is in a state from which it will move by itself. */
export function instanceBusy(status: string, desired?: string): boolean {
  return instanceBadge(status, desired).busy;
}

/** The actions a state allows (the API says 409 otherwise). */
export function instanceActions(status: string, desired?: string): { start: boolean; stop: boolean; reboot: boolean; delete: boolean } {
  const settled = status === desired;
  return {
    start: status === "stopped" && settled,
    stop: status === "running" && settled,
    reboot: status === "running" && settled,
    delete: status !== "deleted" && status !== "deleting" && desired !== "deleted",
  };
}

/** A host's badge.  maintenance (the drain API's "draining" or
 * "drained") wins over "up": the host takes no new instances. */
export function hostBadge(state: string, maintenance?: string | null): Badge {
  if (maintenance === "draining" && state !== "down" && state !== "fenced")
    return b("draining", "busy", true, "Maintenance: its instances are being moved off; takes no new instances.");
  if (maintenance === "drained" && state !== "down" && state !== "fenced")
    return b("drained", "off", false, "Maintenance: empty and takes no new instances until undrained.");
  switch (state) {
    case "up":
      return b("up", "ok", false, "Heartbeating.");
    case "degraded":
      return b("degraded", "warn", false, "Heartbeating, but its agent could not repair its network datapath: takes no new instances.");
    case "down":
      return b("down", "bad", false, "No heartbeat: its instances are unknown until it is back.");
    case "fenced":
      return b("fenced", "bad", false, "Force-removed for good: never a placement target again.");
    case "new":
    case "joining":
      return b(state, "busy", true, "Registering.");
    case "disabled":
    case "maintenance":
      return b(state, "off", false, "Takes no new instances.");
    default:
      return b(state || "?", "info", false, "");
  }
}

/** A live migration's badge (GET /v1/instances/{id}/migrations). */
export function migrationBadge(state: string): Badge {
  switch (state) {
    case "preparing":
      return b("preparing", "busy", true, "The target host is getting ready.");
    case "running":
      return b("copying", "busy", true, "Memory and disk are being copied while the guest runs.");
    case "completed":
      return b("completed", "ok", false, "The instance runs on the target host.");
    case "failed":
      return b("failed", "bad", false, "The instance still runs on its source host.");
    case "cancelled":
      return b("cancelled", "off", false, "Cancelled: the instance still runs on its source host.");
    default:
      return b(state || "?", "info", false, "");
  }
}

export function imageBadge(status: string): Badge {
  switch (status) {
    case "active":
      return b("active", "ok", false, "Ready to boot.");
    case "queued":
      return b("queued", "warn", false, "Created; upload its disk to use it.");
    case "saving":
    case "uploading":
      return b(status, "busy", true, "Receiving data.");
    case "error":
      return b("error", "bad", false, "The upload failed; delete it and try again.");
    default:
      return b(status || "?", "info", false, "");
  }
}

export function taskBadge(status: string): Badge {
  switch (status) {
    case "succeeded":
    case "done":
      return b("done", "ok", false, "Finished.");
    case "failed":
      return b("failed", "bad", false, "Failed.");
    case "pending":
      return b("pending", "busy", true, "Waiting to run.");
    case "running":
      return b("running", "busy", true, "In progress.");
    default:
      return b(status || "?", "info", false, "");
  }
}

export function alarmBadge(state: string): Badge {
  switch (state) {
    case "OK":
      return b("OK", "ok", false, "Within the threshold.");
    case "ALARM":
      return b("ALARM", "bad", false, "Past the threshold.");
    case "INSUFFICIENT_DATA":
      return b("no data", "warn", false, "Not enough samples yet.");
    default:
      return b(state || "?", "info", false, "");
  }
}

function b(label: string, tone: Tone, busy: boolean, help: string): Badge {
  return { label, tone, busy, help };
}
