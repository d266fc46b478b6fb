// The cloud administrator's views: hosts, projects (quotas and members),
// users, flavors and the audit log.  The navigation shows them only to a
// cloud admin; the API refuses everyone else (403) whatever the portal
// does, and these views then say so.

import { useState } from "preact/hooks";
import { api, ApiError, getSession, listAll } from "../lib/api";
import { hostBadge, instanceBadge } from "../lib/badges";
import { flavorPrice, loadPrices } from "../lib/billing";
import { formatMiB, formatMoney, formatRelative, formatTime, quotaFraction, shortId } from "../lib/format";
import { useAsync, usePoll, useTitle } from "../hooks";
import { navigate } from "../router";
import { act, Badge, Bar, Empty, ErrorBox, FormError, PageHead, SelectField, Spinner, TextField, toast, useConfirm, useForm } from "../ui";
import { has, hasAction } from "../lib/features";
import { BudgetEditor } from "./billing";
import { HOST_CHARTS, Metrics } from "./metrics";

/** What a non-admin sees on an admin address. */
export function AdminOnly({ title }: { title: string }) {
  useTitle(title);
  return (
    <>
      <PageHead title={title} />
      <p class="form-error" role="alert">
        This page is for cloud administrators. Your role in {getSession()?.project.name} is {getSession()?.role}; a role in a project, admin included, reaches only that project.
      </p>
    </>
  );
}

function forbidden(e: ApiError | null, title: string) {
  if (e && e.status === 403) return <AdminOnly title={title} />;
  return null;
}

/* -------------------------------------------------------------- hosts */

export function Hosts() {
  useTitle("Hosts");
  const list = usePoll(
    () => listAll<any>("/v1/hosts", "hosts"),
    (l) => l.some((h) => h.maintenance === "draining"),
  );
  const confirm = useConfirm();
  const [chart, setChart] = useState<string | null>(null);
  const [shown, setShown] = useState<string | null>(null); // the host whose instances are listed
  // the drain API (issue 15 item 3) may not be there yet: the buttons
  // appear when the host actions' enum in the API document lists it
  const drainable = hasAction("/v1/hosts/{id}/actions", "drain");
  const drain = async (h: any) => {
    if (
      !(await confirm.ask(
        `Drain host ${h.name}?`,
        `Its ${h.instances} instance${h.instances === 1 ? "" : "s"} are live-migrated to other hosts, and it takes no new instances until you undrain it.`,
        "Drain host",
      ))
    )
      return;
    await act(`Draining ${h.name}`, () => api.post(`/v1/hosts/${h.id}/actions`, { action: "drain" }));
    list.poke();
  };
  const undrain = async (h: any) => {
    await act(`${h.name} takes instances again`, () => api.post(`/v1/hosts/${h.id}/actions`, { action: "undrain" }));
    list.poke();
  };
  const f = forbidden(list.error, "Hosts");
  if (f) return f;
  const del = async (h: any) => {
    if (!(await confirm.ask(`Remove host ${h.name}?`, "Only a host without instances can be removed. Its agent, if it still runs, joins again as a new host.", "Remove host"))) return;
    await act(`Removed ${h.name}`, () => api.del(`/v1/hosts/${h.id}`));
    list.poke();
  };
  const hosts = list.data ?? [];
  const sum = (k: string, used = false) => hosts.reduce((a, h) => a + ((used ? h.used?.[k] : h[k]) ?? 0), 0);
  return (
    <>
      <PageHead title="Hosts" sub="Physical machines running the host agent" />
      {confirm.node}
      <ErrorBox error={list.error} retry={list.poke} />
      {!list.data ? (
        <Spinner />
      ) : hosts.length === 0 ? (
        <Empty>No host has joined yet. Start nubo-hostd with --controller and the join token.</Empty>
      ) : (
        <>
          <section class="stats" aria-label="Cloud capacity">
            <div class="stat">
              <span class="stat-label">Hosts up</span>
              <span class="stat-value">{hosts.filter((h) => h.state === "up" || h.state === "degraded").length}</span>
              <span class="stat-sub">of {hosts.length}</span>
            </div>
            <div class="stat">
              <Bar label="vCPUs claimed" fraction={quotaFraction(sum("vcpus", true), sum("vcpus"))} text={`${sum("vcpus", true)} of ${sum("vcpus")}`} />
              <Bar label="Memory claimed" fraction={quotaFraction(sum("ram_mib", true), sum("ram_mib"))} text={`${formatMiB(sum("ram_mib", true))} of ${formatMiB(sum("ram_mib"))}`} />
            </div>
          </section>
          <table class="table" aria-label="Hosts">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">State</th>
                <th scope="col">Accel</th>
                <th scope="col">vCPUs</th>
                <th scope="col">Memory</th>
                <th scope="col">Disk</th>
                <th scope="col">Instances</th>
                <th scope="col">Last heartbeat</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {hosts.map((h) => (
                <tr key={h.id}>
                  <td data-label="Name">
                    {has("/v1/hosts/{id}/metrics") ? (
                      <button type="button" class="link" aria-expanded={chart === h.id} aria-controls="host-metrics" onClick={() => setChart(chart === h.id ? null : h.id)}>
                        <strong>{h.name}</strong>
                      </button>
                    ) : (
                      <strong>{h.name}</strong>
                    )}
                    <div class="muted small">{h.address}</div>
                  </td>
                  <td data-label="State">
                    <Badge badge={hostBadge(h.state, h.maintenance)} />
                    {h.maintenance && <span class="badge tone-warn maint">maintenance</span>}
                    {h.drain && (
                      <div class="muted small" data-testid={`drain-${h.name}`}>
                        {h.drain.left} left, {h.drain.migrating} migrating{h.drain.failed ? `, ${h.drain.failed} failed to move` : ""}
                        {h.drain.failures?.length > 0 && (
                          <ul aria-label={`Instances that could not leave ${h.name}`}>
                            {h.drain.failures.map((x: { instance_id: string; reason: string }) => (
                              <li key={x.instance_id}>
                                <a href={`/instances/${x.instance_id}`}>{shortId(x.instance_id)}</a>: {x.reason}
                              </li>
                            ))}
                          </ul>
                        )}
                      </div>
                    )}
                    {h.state === "degraded" && h.problems?.length ? (
                      <ul class="muted small" aria-label={`Datapath problems of ${h.name}`}>
                        {h.problems.map((p: { object: string; problem: string; since: string }) => (
                          <li key={p.object + p.problem}>
                            {p.object}: {p.problem} <span title={formatTime(p.since)}>({formatRelative(p.since)})</span>
                          </li>
                        ))}
                      </ul>
                    ) : null}
                  </td>
                  <td data-label="Accel">
                    {h.accel} <span class="muted">({h.driver})</span>
                  </td>
                  <td data-label="vCPUs">
                    <Bar label="" fraction={quotaFraction(h.used?.vcpus ?? 0, h.vcpus)} text={`${h.used?.vcpus ?? 0} / ${h.vcpus}`} />
                  </td>
                  <td data-label="Memory">
                    <Bar label="" fraction={quotaFraction(h.used?.ram_mib ?? 0, h.ram_mib)} text={`${formatMiB(h.used?.ram_mib ?? 0)} / ${formatMiB(h.ram_mib)}`} />
                  </td>
                  <td data-label="Disk">
                    <Bar label="" fraction={quotaFraction(h.used?.disk_gib ?? 0, h.disk_gib)} text={`${h.used?.disk_gib ?? 0} / ${h.disk_gib} GiB`} />
                  </td>
                  <td data-label="Instances">
                    {h.instances > 0 ? (
                      <button type="button" class="link" aria-expanded={shown === h.id} aria-controls="host-instances" aria-label={`Instances on ${h.name}: ${h.instances}`} onClick={() => setShown(shown === h.id ? null : h.id)}>
                        {h.instances}
                      </button>
                    ) : (
                      h.instances
                    )}
                  </td>
                  <td data-label="Last heartbeat">
                    <time dateTime={h.last_heartbeat_at} title={formatTime(h.last_heartbeat_at)}>
                      {formatRelative(h.last_heartbeat_at)}
                    </time>
                  </td>
                  <td data-label="Actions">
                    <div class="btn-row">
                      {drainable &&
                        (h.maintenance ? (
                          <>
                            {h.maintenance === "drained" && h.drain?.failed > 0 && (
                              <button type="button" aria-label={`Drain ${h.name} again`} onClick={() => drain(h)}>
                                Retry drain
                              </button>
                            )}
                            <button type="button" aria-label={`Undrain ${h.name}`} onClick={() => undrain(h)}>
                              Undrain
                            </button>
                          </>
                        ) : (
                          <button type="button" aria-label={`Drain ${h.name}`} disabled={h.state !== "up" && h.state !== "degraded"} onClick={() => drain(h)}>
                            Drain
                          </button>
                        ))}
                      <button type="button" class="danger" aria-label={`Remove ${h.name}`} disabled={h.instances > 0} onClick={() => del(h)}>
                        Remove
                      </button>
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {shown && hosts.some((h) => h.id === shown) && <HostInstances host={hosts.find((h) => h.id === shown)!} />}
          {chart && hosts.some((h) => h.id === chart) && (
            <div id="host-metrics">
              <Metrics path={`/v1/hosts/${chart}/metrics`} charts={HOST_CHARTS} title={`Host ${hosts.find((h) => h.id === chart)!.name}`} />
            </div>
          )}
        </>
      )}
    </>
  );
}

/** The instances placed on a host, every project's (admin), each a link
 * to its page (where a cloud admin finds the Migrate button). */
function HostInstances({ host }: { host: any }) {
  const list = usePoll(
    () => listAll<any>("/v1/instances", "instances", { all_projects: true, host: host.id }),
    (l) => l.some((i) => instanceBadge(i.status, i.desired).busy),
    [host.id],
  );
  const projects = useAsync(() => listAll<any>("/v1/projects", "projects").catch(() => [] as any[]));
  const pname = (id: string) => projects.data?.find((p) => p.id === id)?.name ?? shortId(id);
  return (
    <section class="panel" id="host-instances" aria-labelledby="hi-h">
      <h2 id="hi-h">Instances on {host.name}</h2>
      <ErrorBox error={list.error} retry={list.poke} />
      {!list.data ? (
        <Spinner />
      ) : list.data.length === 0 ? (
        <Empty>None.</Empty>
      ) : (
        <table class="table" aria-label={`Instances on ${host.name}`}>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Project</th>
              <th scope="col">State</th>
              <th scope="col">Size</th>
            </tr>
          </thead>
          <tbody>
            {list.data.map((i) => (
              <tr key={i.id}>
                <td data-label="Name">
                  <a href={`/instances/${i.id}`}>{i.name}</a>
                </td>
                <td data-label="Project">{pname(i.project_id)}</td>
                <td data-label="State">
                  <Badge badge={instanceBadge(i.status, i.desired, i.fault)} />
                </td>
                <td data-label="Size">
                  {i.vcpus} vCPU, {formatMiB(i.ram_mib)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/* ------------------------------------------------ every project's instances */

/** Every project's instances (admin: GET /v1/instances?all_projects=true),
 * with their project, host and addresses; each opens its page, where a
 * cloud admin finds the Migrate button. */
export function AllInstances() {
  useTitle("All instances");
  const list = usePoll(
    async () => {
      const [instances, projects] = await Promise.all([
        listAll<any>("/v1/instances", "instances", { all_projects: true }),
        listAll<any>("/v1/projects", "projects").catch(() => [] as any[]),
      ]);
      return { instances: instances.filter((i) => i.status !== "deleted"), projects };
    },
    (d) => d.instances.some((i) => instanceBadge(i.status, i.desired).busy),
  );
  const [filter, setFilter] = useState("");
  const fb = forbidden(list.error, "All instances");
  if (fb) return fb;
  const pname = (id: string) => list.data?.projects.find((p: any) => p.id === id)?.name ?? shortId(id);
  const rows = (list.data?.instances ?? []).filter(
    (i) => !filter || [i.name, i.status, pname(i.project_id), i.host?.name ?? "", ...(i.addresses ?? []).map((a: any) => a.ip)].some((x) => x.includes(filter)),
  );
  return (
    <>
      <PageHead title="All instances" sub="Every project's instances, where they run" />
      <ErrorBox error={list.error} retry={list.poke} />
      {!list.data ? (
        <Spinner />
      ) : (
        <>
          <div class="toolbar">
            <label class="inline">
              <span>Filter</span>
              <input type="search" value={filter} onInput={(e) => setFilter((e.target as HTMLInputElement).value)} placeholder="name, project, host, state or IP" />
            </label>
            <span class="muted" aria-live="polite">
              {rows.length} of {list.data.instances.length}
            </span>
          </div>
          <table class="table" aria-label="All instances">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Project</th>
                <th scope="col">State</th>
                <th scope="col">Host</th>
                <th scope="col">Addresses</th>
                <th scope="col">Size</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((i) => (
                <tr key={i.id} data-instance={i.name}>
                  <td data-label="Name">
                    <a href={`/instances/${i.id}`}>{i.name}</a>
                  </td>
                  <td data-label="Project">{pname(i.project_id)}</td>
                  <td data-label="State">
                    <Badge badge={instanceBadge(i.status, i.desired, i.fault)} />
                  </td>
                  <td data-label="Host">{i.host?.name ?? "—"}</td>
                  <td data-label="Addresses">{(i.addresses ?? []).map((a: any) => a.ip + (a.floating_ip ? ` ↔ ${a.floating_ip}` : "")).join(", ") || "—"}</td>
                  <td data-label="Size">
                    {i.vcpus} vCPU, {formatMiB(i.ram_mib)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </>
  );
}

/* ----------------------------------------------------------- projects */

export function Projects() {
  useTitle("Projects");
  const list = useAsync(() => listAll<any>("/v1/projects", "projects"));
  const f = useForm({ name: "", description: "" });
  const fb = forbidden(list.error, "Projects");
  if (fb) return fb;
  const submit = f.submit(
    async (v) => {
      const body: Record<string, string> = { name: v.name.trim() };
      if (v.description.trim()) body.description = v.description.trim();
      const p = await api.post("/v1/projects", body, { idempotent: true });
      toast(`Project ${p.name} created`);
      navigate(`/admin/projects/${p.id}`);
    },
    (v) => ({ name: v.name.trim() ? "" : "Give the project a name." }),
  );
  return (
    <>
      <PageHead title="Projects" sub="Tenants: each has its own instances, images, key pairs, quota and members" />
      <ErrorBox error={list.error} retry={list.reload} />
      {!list.data ? (
        <Spinner />
      ) : (
        <table class="table" aria-label="Projects">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Description</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {list.data.map((p: any) => (
              <tr key={p.id}>
                <td data-label="Name">
                  <a href={`/admin/projects/${p.id}`}>{p.name}</a>
                </td>
                <td data-label="Description">{p.description || <span class="muted">—</span>}</td>
                <td data-label="Created">{formatRelative(p.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form class="panel form grid2" onSubmit={submit} noValidate aria-label="Create a project">
        <h2 class="span2">Create a project</h2>
        <FormError error={f.errors.form} />
        <TextField label="Name" value={f.values.name} onValue={f.set("name")} error={f.err("name")} autocomplete="off" />
        <TextField label="Description" value={f.values.description} onValue={f.set("description")} error={f.err("description")} />
        <div class="span2">
          <button class="primary" type="submit" disabled={f.busy}>
            Create project
          </button>
        </div>
      </form>
    </>
  );
}

export function ProjectDetail({ id }: { id: string }) {
  const d = useAsync(async () => {
    const [project, quota, members, users] = await Promise.all([
      api.get(`/v1/projects/${id}`),
      api.get(`/v1/projects/${id}/quota`),
      api.get(`/v1/projects/${id}/members`).then((r) => r.members as any[]),
      listAll<any>("/v1/users", "users").catch(() => [] as any[]),
    ]);
    return { project, quota, members, users };
  }, [id]);
  useTitle(d.data ? `Project ${d.data.project.name}` : "Project");
  const confirm = useConfirm();
  const fb = forbidden(d.error, "Project");
  if (fb) return fb;
  if (!d.data)
    return (
      <>
        <ErrorBox error={d.error} retry={d.reload} />
        {d.loading && <Spinner />}
      </>
    );
  const { project, quota, members, users } = d.data;
  const delProject = async () => {
    if (!(await confirm.ask(`Delete project ${project.name}?`, "Only a project without instances can be deleted. Its images, key pairs and memberships go with it.", "Delete project"))) return;
    if (await act(`Deleted ${project.name}`, () => api.del(`/v1/projects/${project.id}`))) navigate("/admin/projects");
  };
  return (
    <>
      <nav class="crumbs" aria-label="Breadcrumb">
        <a href="/admin/projects">Projects</a> <span aria-hidden="true">›</span> <span aria-current="page">{project.name}</span>
      </nav>
      <PageHead title={`Project ${project.name}`} sub={project.description}>
        <button type="button" class="danger" onClick={delProject}>
          Delete project
        </button>
      </PageHead>
      {confirm.node}
      <div class="grid-2">
        <QuotaEditor projectId={project.id} quota={quota} saved={d.reload} />
        <Members projectId={project.id} members={members} users={users} changed={d.reload} />
        {has("/v1/budget") && <BudgetEditor projectId={project.id} />}
      </div>
    </>
  );
}

const QUOTA_KEYS: { key: "instances" | "vcpus" | "ram_mib" | "disk_gib"; label: string }[] = [
  { key: "instances", label: "Instances" },
  { key: "vcpus", label: "vCPUs" },
  { key: "ram_mib", label: "Memory (MiB)" },
  { key: "disk_gib", label: "Disk (GiB)" },
];

function QuotaEditor({ projectId, quota, saved }: { projectId: string; quota: any; saved: () => void }) {
  const f = useForm({
    instances: String(quota.limits.instances),
    vcpus: String(quota.limits.vcpus),
    ram_mib: String(quota.limits.ram_mib),
    disk_gib: String(quota.limits.disk_gib),
  });
  const submit = f.submit(
    async (v) => {
      await api.put(`/v1/projects/${projectId}/quota`, Object.fromEntries(QUOTA_KEYS.map((q) => [q.key, Number(v[q.key])])));
      toast("Quota saved");
      saved();
    },
    (v) => Object.fromEntries(QUOTA_KEYS.map((q) => [q.key, /^\d{1,10}$/.test(v[q.key]) && +v[q.key] <= 1e9 ? "" : "A whole number from 0 to 1000000000."])),
  );
  return (
    <form class="panel form" onSubmit={submit} noValidate aria-labelledby="quota-h">
      <h2 id="quota-h">Quota</h2>
      <FormError error={f.errors.form} />
      {QUOTA_KEYS.map((q) => (
        <div key={q.key}>
          <TextField label={q.label} type="number" min={0} inputMode="numeric" value={f.values[q.key]} onValue={f.set(q.key)} error={f.err(q.key)} hint={`In use: ${q.key === "ram_mib" ? formatMiB(quota.usage[q.key]) : quota.usage[q.key]}`} />
        </div>
      ))}
      <button class="primary" type="submit" disabled={f.busy}>
        Save quota
      </button>
    </form>
  );
}

function Members({ projectId, members, users, changed }: { projectId: string; members: any[]; users: any[]; changed: () => void }) {
  const f = useForm({ user: "", role: "member" });
  const confirm = useConfirm();
  const submit = f.submit(
    async (v) => {
      await api.put(`/v1/projects/${projectId}/members/${encodeURIComponent(v.user)}`, { role: v.role });
      toast(`${v.user} is ${v.role}`);
      f.setValues({ user: "", role: "member" });
      changed();
    },
    (v) => ({ user: v.user ? "" : "Choose a user." }),
  );
  const setRole = async (m: any, role: string) => {
    await act(`${m.user_name} is ${role}`, () => api.put(`/v1/projects/${projectId}/members/${m.user_id}`, { role }));
    changed();
  };
  const remove = async (m: any) => {
    if (!(await confirm.ask(`Remove ${m.user_name}?`, "They lose access to this project at once.", "Remove member"))) return;
    await act(`Removed ${m.user_name}`, () => api.del(`/v1/projects/${projectId}/members/${m.user_id}`));
    changed();
  };
  const roles = [
    { value: "reader", label: "reader (look only)" },
    { value: "member", label: "member (manage resources)" },
    { value: "admin", label: "admin (the whole cloud)" },
  ];
  return (
    <section class="panel" aria-labelledby="mem-h">
      <h2 id="mem-h">Members</h2>
      {confirm.node}
      {members.length === 0 ? (
        <Empty>No members.</Empty>
      ) : (
        <table class="table compact" aria-label="Members">
          <thead>
            <tr>
              <th scope="col">User</th>
              <th scope="col">Role</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {members.map((m) => (
              <tr key={m.user_id}>
                <td data-label="User">{m.user_name}</td>
                <td data-label="Role">
                  <select aria-label={`Role of ${m.user_name}`} value={m.role} onChange={(e) => setRole(m, (e.target as HTMLSelectElement).value)}>
                    {roles.map((r) => (
                      <option value={r.value}>{r.value}</option>
                    ))}
                  </select>
                </td>
                <td data-label="Actions">
                  <button type="button" class="danger" aria-label={`Remove ${m.user_name}`} onClick={() => remove(m)}>
                    Remove
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form class="form" onSubmit={submit} noValidate aria-label="Add a member">
        <h3>Add a member</h3>
        <FormError error={f.errors.form} />
        <SelectField
          label="User"
          value={f.values.user}
          onValue={f.set("user")}
          error={f.err("user")}
          placeholder="Choose…"
          options={users.filter((u) => !members.some((m) => m.user_id === u.id)).map((u) => ({ value: u.name, label: u.name }))}
        />
        <SelectField label="Role" value={f.values.role} onValue={f.set("role")} error={f.err("role")} options={roles} />
        <button class="primary" type="submit" disabled={f.busy}>
          Add member
        </button>
      </form>
    </section>
  );
}

/* -------------------------------------------------------------- users */

export function Users() {
  useTitle("Users");
  const list = useAsync(() => listAll<any>("/v1/users", "users"));
  const confirm = useConfirm();
  const [open, setOpen] = useState<string | null>(null);
  const roles = useAsync(() => (open ? api.get(`/v1/users/${open}`) : Promise.resolve(null)), [open]);
  const f = useForm({ name: "", email: "", password: "" });
  const fb = forbidden(list.error, "Users");
  if (fb) return fb;
  const me = getSession()!.user.id;
  const submit = f.submit(
    async (v) => {
      const body: Record<string, string> = { name: v.name.trim(), password: v.password };
      if (v.email.trim()) body.email = v.email.trim();
      await api.post("/v1/users", body);
      toast(`User ${v.name} created; add them to a project`);
      f.setValues({ name: "", email: "", password: "" });
      list.reload();
    },
    (v) => ({
      name: v.name.trim() ? "" : "Give the user a name.",
      password: v.password.length >= 8 ? "" : "At least 8 characters.",
    }),
  );
  const toggle = async (u: any) => {
    await act(u.disabled ? `Enabled ${u.name}` : `Disabled ${u.name}`, () => api.patch(`/v1/users/${u.id}`, { disabled: !u.disabled }));
    list.reload();
  };
  // Cloud admin is a flag on the user, not a project role (whoami's cloud_admin).
  const cloudAdmin = async (u: any) => {
    const on = !u.cloud_admin;
    if (on && !(await confirm.ask(`Make ${u.name} a cloud admin?`, "They can then run the whole cloud: hosts, flavors, prices, quotas, users and every project.", "Make cloud admin"))) return;
    await act(on ? `${u.name} is a cloud admin` : `${u.name} is no longer a cloud admin`, () => api.patch(`/v1/users/${u.id}`, { cloud_admin: on }));
    list.reload();
  };
  const del = async (u: any) => {
    if (!(await confirm.ask(`Delete user ${u.name}?`, "Their tokens and API keys stop working at once.", "Delete user"))) return;
    await act(`Deleted ${u.name}`, () => api.del(`/v1/users/${u.id}`));
    list.reload();
  };
  return (
    <>
      <PageHead title="Users" sub="People and their roles in projects" />
      {confirm.node}
      <ErrorBox error={list.error} retry={list.reload} />
      {!list.data ? (
        <Spinner />
      ) : (
        <table class="table" aria-label="Users">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Email</th>
              <th scope="col">State</th>
              <th scope="col">Created</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {list.data.map((u: any) => (
              <>
                <tr key={u.id}>
                  <td data-label="Name">
                    <button type="button" class="link" aria-expanded={open === u.id} onClick={() => setOpen(open === u.id ? null : u.id)}>
                      {u.name}
                    </button>
                  </td>
                  <td data-label="Email">{u.email || <span class="muted">—</span>}</td>
                  <td data-label="State">
                    {u.disabled ? <span class="badge tone-off">disabled</span> : <span class="badge tone-ok">active</span>}
                    {u.cloud_admin && (
                      <>
                        {" "}
                        <span class="badge tone-busy">cloud admin</span>
                      </>
                    )}
                  </td>
                  <td data-label="Created">{formatRelative(u.created_at)}</td>
                  <td data-label="Actions">
                    {u.id !== me && (
                      <div class="btn-row">
                        <button type="button" onClick={() => toggle(u)}>
                          {u.disabled ? "Enable" : "Disable"}
                        </button>
                        <button type="button" onClick={() => cloudAdmin(u)}>
                          {u.cloud_admin ? "Revoke cloud admin" : "Make cloud admin"}
                        </button>
                        <button type="button" class="danger" aria-label={`Delete ${u.name}`} onClick={() => del(u)}>
                          Delete
                        </button>
                      </div>
                    )}
                  </td>
                </tr>
                {open === u.id && (
                  <tr class="detail-row">
                    <td colSpan={5}>
                      {!roles.data ? (
                        <Spinner />
                      ) : (roles.data.roles ?? []).length === 0 ? (
                        <span class="muted">No role in any project.</span>
                      ) : (
                        <span>
                          Roles:{" "}
                          {(roles.data.roles ?? []).map((r: any) => (
                            <span class="chip">
                              <a href={`/admin/projects/${r.project_id}`}>{r.project_name}</a>: {r.role}
                            </span>
                          ))}
                        </span>
                      )}
                    </td>
                  </tr>
                )}
              </>
            ))}
          </tbody>
        </table>
      )}
      <form class="panel form grid2" onSubmit={submit} noValidate aria-label="Create a user">
        <h2 class="span2">Create a user</h2>
        <FormError error={f.errors.form} />
        <TextField label="Name" value={f.values.name} onValue={f.set("name")} error={f.err("name")} autocomplete="off" />
        <TextField label="Email (optional)" type="email" value={f.values.email} onValue={f.set("email")} error={f.err("email")} autocomplete="off" />
        <TextField label="Password" type="password" value={f.values.password} onValue={f.set("password")} error={f.err("password")} autocomplete="new-password" hint="8 to 256 characters." />
        <div class="span2">
          <button class="primary" type="submit" disabled={f.busy}>
            Create user
          </button>
        </div>
      </form>
    </>
  );
}

/* ------------------------------------------------------------ flavors */

export function Flavors() {
  useTitle("Flavors");
  const list = useAsync(async () => {
    const [flavors, prices] = await Promise.all([listAll<any>("/v1/flavors", "flavors"), loadPrices()]);
    return { flavors, prices };
  });
  const confirm = useConfirm();
  const f = useForm({ name: "", vcpus: "1", ram_mib: "512", disk_gib: "1", is_public: "true" });
  const s = getSession()!;
  if (!s.is_admin) return <AdminOnly title="Flavors" />;
  const submit = f.submit(
    async (v) => {
      await api.post(
        "/v1/flavors",
        { name: v.name.trim(), vcpus: Number(v.vcpus), ram_mib: Number(v.ram_mib), disk_gib: Number(v.disk_gib), is_public: v.is_public === "true" },
        { idempotent: true },
      );
      toast(`Flavor ${v.name} created`);
      f.setValues({ name: "", vcpus: "1", ram_mib: "512", disk_gib: "1", is_public: "true" });
      list.reload();
    },
    (v) => ({
      name: v.name.trim() ? "" : "Give the flavor a name.",
      vcpus: /^\d+$/.test(v.vcpus) && +v.vcpus >= 1 && +v.vcpus <= 64 ? "" : "From 1 to 64.",
      ram_mib: /^\d+$/.test(v.ram_mib) && +v.ram_mib >= 64 ? "" : "At least 64 MiB.",
      disk_gib: /^\d+$/.test(v.disk_gib) && +v.disk_gib >= 1 ? "" : "At least 1 GiB.",
    }),
  );
  const del = async (fl: any) => {
    if (!(await confirm.ask(`Delete flavor ${fl.name}?`, "Running instances keep their size; no new ones can use it.", "Delete flavor"))) return;
    await act(`Deleted ${fl.name}`, () => api.del(`/v1/flavors/${fl.id}`));
    list.reload();
  };
  const prices = list.data?.prices ?? null;
  return (
    <>
      <PageHead title="Flavors" sub="Instance sizes offered to projects" />
      {confirm.node}
      <ErrorBox error={list.error} retry={list.reload} />
      {!list.data ? (
        <Spinner />
      ) : (
        <table class="table" aria-label="Flavors">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">vCPUs</th>
              <th scope="col">Memory</th>
              <th scope="col">Disk</th>
              <th scope="col">Public</th>
              {prices && <th scope="col">Price / hour</th>}
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {list.data.flavors.map((fl: any) => {
              const p = flavorPrice(prices, fl);
              return (
                <tr key={fl.id}>
                  <td data-label="Name">{fl.name}</td>
                  <td data-label="vCPUs">{fl.vcpus}</td>
                  <td data-label="Memory">{formatMiB(fl.ram_mib)}</td>
                  <td data-label="Disk">{fl.disk_gib} GiB</td>
                  <td data-label="Public">{fl.is_public ? "yes" : "no"}</td>
                  {prices && <td data-label="Price / hour">{p ? formatMoney(p.micro, p.currency, { exact: true }) : <span class="muted">no price</span>}</td>}
                  <td data-label="Actions">
                    <button type="button" class="danger" aria-label={`Delete ${fl.name}`} onClick={() => del(fl)}>
                      Delete
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <form class="panel form grid2" onSubmit={submit} noValidate aria-label="Create a flavor">
        <h2 class="span2">Create a flavor</h2>
        <FormError error={f.errors.form} />
        <TextField label="Name" value={f.values.name} onValue={f.set("name")} error={f.err("name")} autocomplete="off" />
        <TextField label="vCPUs" type="number" min={1} max={64} value={f.values.vcpus} onValue={f.set("vcpus")} error={f.err("vcpus")} />
        <TextField label="Memory (MiB)" type="number" min={64} value={f.values.ram_mib} onValue={f.set("ram_mib")} error={f.err("ram_mib")} />
        <TextField label="Disk (GiB)" type="number" min={1} value={f.values.disk_gib} onValue={f.set("disk_gib")} error={f.err("disk_gib")} />
        <SelectField
          label="Offered to"
          value={f.values.is_public}
          onValue={f.set("is_public")}
          options={[
            { value: "true", label: "every project" },
            { value: "false", label: "projects it is shared with" },
          ]}
        />
        <div class="span2">
          <button class="primary" type="submit" disabled={f.busy}>
            Create flavor
          </button>
        </div>
      </form>
    </>
  );
}

/* -------------------------------------------------------------- audit */

export function Audit() {
  useTitle("Audit log");
  const [filters, setFilters] = useState({ user: "", project: "", action: "", result: "" });
  const [applied, setApplied] = useState(filters);
  const [shown, setShown] = useState(100);
  // The API pages in creation order; the log reads newest first, so the
  // portal takes the (filtered) entries and shows them from the end.
  const page = useAsync(() => listAll<any>("/v1/audit", "audit", applied, 20000).then((r) => r.reverse()), [applied]);
  const fb = forbidden(page.error, "Audit log");
  if (fb) return fb;
  const rows = (page.data ?? []).slice(0, shown);
  return (
    <>
      <PageHead title="Audit log" sub="Every change made through the API: who, where, what, and how it ended" />
      <form
        class="toolbar filters"
        onSubmit={(e) => {
          e.preventDefault();
          setShown(100);
          setApplied({ ...filters });
        }}
        aria-label="Filter the audit log"
      >
        {(["user", "project", "action"] as const).map((k) => (
          <label class="inline" key={k}>
            <span>{k[0].toUpperCase() + k.slice(1)}</span>
            <input value={filters[k]} onInput={(e) => setFilters({ ...filters, [k]: (e.target as HTMLInputElement).value })} />
          </label>
        ))}
        <label class="inline">
          <span>Result</span>
          <select value={filters.result} onChange={(e) => setFilters({ ...filters, result: (e.target as HTMLSelectElement).value })}>
            <option value="">any</option>
            <option value="success">success</option>
            <option value="failure">failure</option>
            <option value="denied">denied</option>
          </select>
        </label>
        <button type="submit">Filter</button>
      </form>
      <ErrorBox error={page.error} retry={page.reload} />
      {page.loading && !page.data ? (
        <Spinner />
      ) : rows.length === 0 ? (
        <Empty>Nothing matches.</Empty>
      ) : (
        <>
          <table class="table" aria-label="Audit log">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">User</th>
                <th scope="col">Action</th>
                <th scope="col">Target</th>
                <th scope="col">Result</th>
                <th scope="col">Request</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((a) => (
                <tr key={a.id}>
                  <td data-label="When">
                    <time dateTime={a.at}>{formatTime(a.at)}</time>
                  </td>
                  <td data-label="User">{a.user_name ?? shortId(a.user_id)}</td>
                  <td data-label="Action">
                    {a.action}{" "}
                    <span class="muted small">
                      {a.method} {a.path}
                    </span>
                  </td>
                  <td data-label="Target" class="mono small">
                    {a.target ?? "—"}
                  </td>
                  <td data-label="Result">
                    <span class={`badge tone-${a.result === "success" ? "ok" : a.result === "denied" ? "warn" : "bad"}`}>
                      {a.result} {a.status}
                    </span>
                  </td>
                  <td data-label="Request" class="mono small">
                    {a.request_id}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {(page.data?.length ?? 0) > shown && (
            <button type="button" onClick={() => setShown(shown + 100)}>
              Show older entries
            </button>
          )}
        </>
      )}
    </>
  );
}
