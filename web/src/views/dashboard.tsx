// The dashboard: what runs, how much of the quota it uses, what it costs
// this month (with billing), alarms firing (with monitoring) and the
// latest activity.  It marks "nubo:dashboard-ready" in the performance
// timeline once its data is drawn (the browser test's time to interactive).

import { useEffect } from "preact/hooks";
import { api, getSession, listAll } from "../lib/api";
import { instanceBadge, instanceBusy, taskBadge } from "../lib/badges";
import { billingEnabled, loadCost } from "../lib/billing";
import { has } from "../lib/features";
import { formatMiB, formatMoney, formatRelative, formatTime, monthOf, quotaFraction } from "../lib/format";
import { usePoll, useTitle } from "../hooks";
import { Badge, Bar, Empty, ErrorBox, PageHead, Spinner } from "../ui";
import { Instance } from "./instances";
import { Metrics, PROJECT_CHARTS } from "./metrics";

interface Quota {
  limits: { instances: number; vcpus: number; ram_mib: number; disk_gib: number };
  usage: { instances: number; vcpus: number; ram_mib: number; disk_gib: number };
}

let marked = false;

export function Dashboard() {
  useTitle("Dashboard");
  const s = getSession()!;
  const data = usePoll(
    async () => {
      const [instances, quota, tasks, cost, alarms] = await Promise.all([
        listAll<Instance>("/v1/instances", "instances"),
        api.get<Quota>(`/v1/projects/${s.project.id}/quota`).catch(() => null),
        listAll<any>("/v1/tasks", "tasks", {}, 2000).catch(() => [] as any[]),
        billingEnabled() ? loadCost() : Promise.resolve(null),
        has("/v1/alarms") ? listAll<any>("/v1/alarms", "alarms").catch(() => null) : Promise.resolve(null),
      ]);
      return { instances, quota, tasks: tasks.slice(-8).reverse(), cost, alarms };
    },
    (d) => d.instances.some((i) => instanceBusy(i.status, i.desired)),
  );
  const d = data.data;
  useEffect(() => {
    if (d && !marked) {
      marked = true;
      // after this frame is painted
      requestAnimationFrame(() => setTimeout(() => performance.mark("nubo:dashboard-ready"), 0));
    }
  }, [d]);

  const running = d?.instances.filter((i) => i.status === "running").length ?? 0;
  const busy = d?.instances.filter((i) => instanceBusy(i.status, i.desired)) ?? [];
  const firing = (d?.alarms ?? []).filter((a: any) => a.state === "ALARM");
  const month = monthOf();
  const q = d?.quota;
  return (
    <>
      <PageHead title="Dashboard" sub={`Project ${s.project.name} · you are ${s.role}`} />
      <ErrorBox error={data.error} retry={data.poke} />
      {!d ? (
        <Spinner />
      ) : (
        <>
          <section class="stats" aria-label="At a glance">
            <a class="stat" href="/instances">
              <span class="stat-label">Running instances</span>
              <span class="stat-value" data-testid="running-count">
                {running}
              </span>
              <span class="stat-sub">of {d.instances.length} in the project</span>
            </a>
            <div class="stat">
              <span class="stat-label">vCPUs in use</span>
              <span class="stat-value">{q ? q.usage.vcpus : "—"}</span>
              <span class="stat-sub">{q ? `${formatMiB(q.usage.ram_mib)} memory` : ""}</span>
            </div>
            {d.cost && (
              <a class="stat" href="/billing">
                <span class="stat-label">Cost in {month.label}</span>
                <span class="stat-value" data-testid="cost-month">
                  {formatMoney(d.cost.soFar, d.cost.currency)}
                </span>
                <span class="stat-sub">forecast {formatMoney(d.cost.forecast, d.cost.currency)} by month end</span>
              </a>
            )}
            {d.alarms && (
              <a class={"stat" + (firing.length ? " stat-bad" : "")} href="/alarms">
                <span class="stat-label">Alarms firing</span>
                <span class="stat-value">{firing.length}</span>
                <span class="stat-sub">of {d.alarms.length} alarms</span>
              </a>
            )}
          </section>
          <div class="grid-2">
            <section class="panel" aria-labelledby="q-h">
              <h2 id="q-h">Quota</h2>
              {q ? (
                <>
                  <Bar label="Instances" fraction={quotaFraction(q.usage.instances, q.limits.instances)} text={`${q.usage.instances} of ${q.limits.instances}`} />
                  <Bar label="vCPUs" fraction={quotaFraction(q.usage.vcpus, q.limits.vcpus)} text={`${q.usage.vcpus} of ${q.limits.vcpus}`} />
                  <Bar label="Memory" fraction={quotaFraction(q.usage.ram_mib, q.limits.ram_mib)} text={`${formatMiB(q.usage.ram_mib)} of ${formatMiB(q.limits.ram_mib)}`} />
                  <Bar label="Disk" fraction={quotaFraction(q.usage.disk_gib, q.limits.disk_gib)} text={`${q.usage.disk_gib} of ${q.limits.disk_gib} GiB`} />
                </>
              ) : (
                <p class="muted">Quota not available.</p>
              )}
            </section>
            <section class="panel" aria-labelledby="act-h">
              <h2 id="act-h">Recent activity</h2>
              {busy.length > 0 && (
                <ul class="events">
                  {busy.map((i) => (
                    <li key={i.id}>
                      <Badge badge={instanceBadge(i.status, i.desired)} /> <a href={`/instances/${i.id}`}>{i.name}</a>
                    </li>
                  ))}
                </ul>
              )}
              {d.tasks.length === 0 ? (
                <Empty>Nothing has happened in this project yet.</Empty>
              ) : (
                <ol class="events">
                  {d.tasks.map((t: any) => {
                    const inst = d.instances.find((i) => i.id === t.instance_id);
                    return (
                      <li key={t.id}>
                        <Badge badge={taskBadge(t.status)} /> {t.kind}{" "}
                        {inst ? <a href={`/instances/${inst.id}`}>{inst.name}</a> : <span class="muted">a deleted instance</span>}{" "}
                        <time class="muted" dateTime={t.created_at} title={formatTime(t.created_at)}>
                          {formatRelative(t.created_at)}
                        </time>
                        {t.error && <span class="error-text"> {t.error}</span>}
                      </li>
                    );
                  })}
                </ol>
              )}
            </section>
          </div>
          {has("/v1/metrics/project") && d.instances.length > 0 && <Metrics path="/v1/metrics/project" charts={PROJECT_CHARTS} title="Project activity" />}
          {firing.length > 0 && (
            <section class="panel" aria-labelledby="al-h">
              <h2 id="al-h">Alarms firing</h2>
              <ul class="events">
                {firing.map((a: any) => (
                  <li key={a.id}>
                    <strong>{a.name}</strong> <span class="muted">{a.state_reason}</span>
                  </li>
                ))}
              </ul>
            </section>
          )}
        </>
      )}
    </>
  );
}
