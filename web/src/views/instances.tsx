// Instances: the list (live, polled with back-off), the launch form, and
// one instance's page with its actions, progress, console and metrics.

import { useEffect, useRef, useState } from "preact/hooks";
import { api, canWrite, getSession, listAll, request } from "../lib/api";
import { hostBadge, instanceActions, instanceBadge, instanceBusy, migrationBadge, taskBadge } from "../lib/badges";
import { ConsoleBuffer } from "../lib/consolebuf";
import { formatMiB, formatMoney, formatRelative, formatTime } from "../lib/format";
import { navigate } from "../router";
import { useAsync, usePoll, useTitle } from "../hooks";
import { act, Badge, Dialog, Empty, ErrorBox, FormError, PageHead, SelectField, Spinner, TextArea, TextField, toast, useConfirm, useForm } from "../ui";
import { migrationActive, migrationProgress } from "../lib/mobility";
import { flavorPrice, loadPrices } from "../lib/billing";
import { has, hasAction } from "../lib/features";
import { Metrics } from "./metrics";
import { checkFixedIp, defaultNetworks } from "../lib/net";
import { cidrsOf, loadLaunchNetworking, networkingEnabled, NoNetwork } from "./network";

export interface Instance {
  id: string;
  name: string;
  project_id: string;
  flavor: { id: string; name: string };
  image: { id: string; name: string };
  keypair: string | null;
  vcpus: number;
  ram_mib: number;
  disk_gib: number;
  host: { id: string; name: string } | null;
  status: string;
  desired: string;
  power_state: string;
  fault: string | null;
  boots: number;
  created_at: string;
  updated_at: string;
  server_group_id?: string | null;
  addresses?: Address[];
}

export interface Address {
  network_id: string;
  network: string;
  port_id: string;
  ip: string;
  mac: string;
  floating_ip: string | null;
}

/** An instance's addresses, one line each: "10.0.0.5 on net-a
 * (floating 203.0.113.7)". */
export function Addresses({ list, empty = "—" }: { list?: Address[]; empty?: string }) {
  if (!list || list.length === 0) return <span class="muted">{empty}</span>;
  return (
    <ul class="addresses">
      {list.map((a) => (
        <li key={a.port_id}>
          <span class="mono" data-ip={a.ip}>
            {a.ip}
          </span>{" "}
          <span class="muted">on {a.network}</span>
          {a.floating_ip && (
            <>
              {" "}
              <span class="badge tone-info" title="floating IP" data-floating-ip={a.floating_ip}>
                ↔ {a.floating_ip}
              </span>
            </>
          )}
        </li>
      ))}
    </ul>
  );
}

export function listInstances(): Promise<Instance[]> {
  return listAll<Instance>("/v1/instances", "instances");
}

/** Runs an action on an instance (start/stop/reboot/delete), asking first
 * for a delete. */
export function useInstanceActions(after: () => void) {
  const confirm = useConfirm();
  const run = async (i: Instance, action: "start" | "stop" | "reboot" | "delete") => {
    if (action === "delete") {
      if (!(await confirm.ask(`Delete ${i.name}?`, "The instance and its disk are deleted. This cannot be undone.", "Delete instance"))) return false;
      const ok = await act(`Deleting ${i.name}`, () => api.del(`/v1/instances/${i.id}`));
      after();
      return ok;
    }
    const ok = await act(`${action === "start" ? "Starting" : action === "stop" ? "Stopping" : "Rebooting"} ${i.name}`, () =>
      api.post(`/v1/instances/${i.id}/actions`, { action }),
    );
    after();
    return ok;
  };
  return { run, node: confirm.node };
}

function ActionButtons({ i, run, compact }: { i: Instance; run: (i: Instance, a: "start" | "stop" | "reboot" | "delete") => void; compact?: boolean }) {
  const a = instanceActions(i.status, i.desired);
  const label = (verb: string) => (compact ? `${verb} ${i.name}` : undefined);
  return (
    <div class="btn-row">
      {a.start && (
        <button type="button" aria-label={label("Start")} onClick={() => run(i, "start")}>
          Start
        </button>
      )}
      {a.stop && (
        <button type="button" aria-label={label("Stop")} onClick={() => run(i, "stop")}>
          Stop
        </button>
      )}
      {a.reboot && (
        <button type="button" aria-label={label("Reboot")} onClick={() => run(i, "reboot")}>
          Reboot
        </button>
      )}
      {a.delete && (
        <button type="button" class="danger" aria-label={label("Delete")} onClick={() => run(i, "delete")}>
          Delete
        </button>
      )}
    </div>
  );
}

/* --------------------------------------------------------------- list */

export function Instances() {
  useTitle("Instances");
  const s = getSession();
  const write = canWrite(s);
  const list = usePoll(listInstances, (l) => l.some((i) => instanceBusy(i.status, i.desired)));
  const actions = useInstanceActions(list.poke);
  const [filter, setFilter] = useState("");
  const net = networkingEnabled();
  const rows = (list.data ?? []).filter(
    (i) => !filter || i.name.includes(filter) || i.status.includes(filter) || (i.addresses ?? []).some((a) => a.ip.startsWith(filter) || a.floating_ip?.startsWith(filter)),
  );
  return (
    <>
      <PageHead title="Instances" sub={s ? `Virtual machines of project ${s.project.name}` : undefined}>
        {write && (
          <a class="button primary" href="/instances/new">
            Launch instances
          </a>
        )}
      </PageHead>
      {actions.node}
      <ErrorBox error={list.error} retry={list.poke} />
      {list.loading && !list.data ? (
        <Spinner />
      ) : list.data && list.data.length === 0 ? (
        <Empty>
          No instances yet.{" "}
          {write ? (
            <a href="/instances/new">Launch the first one</a>
          ) : (
            "A member of the project can launch some."
          )}
        </Empty>
      ) : (
        <>
          <div class="toolbar">
            <label class="inline">
              <span>Filter</span>
              <input type="search" value={filter} onInput={(e) => setFilter((e.target as HTMLInputElement).value)} placeholder="name, state or IP" />
            </label>
            <span class="muted" aria-live="polite">
              {rows.length} of {list.data?.length ?? 0}
            </span>
          </div>
          <table class="table" aria-label="Instances">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">State</th>
                <th scope="col">Flavor</th>
                <th scope="col">Image</th>
                {net && <th scope="col">Addresses</th>}
                <th scope="col">Host</th>
                <th scope="col">Created</th>
                {write && <th scope="col">Actions</th>}
              </tr>
            </thead>
            <tbody>
              {rows.map((i) => (
                <tr key={i.id} data-instance={i.name}>
                  <td data-label="Name">
                    <a href={`/instances/${i.id}`}>{i.name}</a>
                  </td>
                  <td data-label="State">
                    <Badge badge={instanceBadge(i.status, i.desired, i.fault)} />
                  </td>
                  <td data-label="Flavor">
                    {i.flavor?.name} <span class="muted">({i.vcpus} vCPU, {formatMiB(i.ram_mib)})</span>
                  </td>
                  <td data-label="Image">{i.image?.name}</td>
                  {net && (
                    <td data-label="Addresses">
                      <Addresses list={i.addresses} />
                    </td>
                  )}
                  <td data-label="Host">{i.host?.name ?? "—"}</td>
                  <td data-label="Created">
                    <time dateTime={i.created_at} title={formatTime(i.created_at)}>
                      {formatRelative(i.created_at)}
                    </time>
                  </td>
                  {write && (
                    <td data-label="Actions">
                      <ActionButtons i={i} run={actions.run} compact />
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </>
  );
}

/* ------------------------------------------------------------- launch */

interface Flavor {
  id: string;
  name: string;
  vcpus: number;
  ram_mib: number;
  disk_gib: number;
}

interface Image {
  id: string;
  name: string;
  status: string;
  visibility: string;
  min_disk_gib: number;
}

export function Launch() {
  useTitle("Launch instances");
  const s = getSession();
  const refs = useAsync(async () => {
    const [flavors, images, keypairs, quota, prices, net] = await Promise.all([
      listAll<Flavor>("/v1/flavors", "flavors"),
      listAll<Image>("/v1/images", "images"),
      listAll<{ name: string; fingerprint: string }>("/v1/keypairs", "keypairs"),
      api.get(`/v1/projects/${s!.project.id}/quota`).catch(() => null),
      loadPrices(),
      loadLaunchNetworking(),
    ]);
    return { flavors, images: images.filter((i) => i.status === "active"), keypairs, quota, prices, net };
  });
  const f = useForm(
    { name: "", flavor: "", image: "", keypair: "", user_data: "", count: "1", server_group: "", networks: "", fixed_ip: "", security_groups: "" },
    {
      name: ["instance name"],
      user_data: ["user data"],
      keypair: ["key pair"],
      server_group: ["server group"],
      fixed_ip: ["fixed ip", "fixed_ip", "address"],
      networks: ["network", "networks"],
      security_groups: ["security group", "security groups", "security_groups"],
    },
  );
  // per network: the fixed IP asked for ("" = the API picks)
  const [fixed, setFixed] = useState<Record<string, string>>({});
  // default choices once the lists are in: the first flavor and image, the
  // project's only network, the "default" security group
  useEffect(() => {
    const d = refs.data;
    if (!d) return;
    f.setValues((v) => ({
      ...v,
      flavor: v.flavor || d.flavors[0]?.name || "",
      image: v.image || d.images[0]?.name || "",
      networks: v.networks || defaultNetworks(d.net.networks).join(","),
      security_groups: v.security_groups || (d.net.groups.some((g) => g.name === "default") ? "default" : ""),
    }));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [refs.data]);

  if (!canWrite(s))
    return (
      <>
        <PageHead title="Launch instances" />
        <p>Your role in this project is {s?.role}: you can look, not launch.</p>
      </>
    );
  const d = refs.data;
  const flavor = d?.flavors.find((x) => x.name === f.values.flavor);
  const count = Math.max(1, Number(f.values.count) || 1);
  const price = d && flavor ? flavorPrice(d.prices, flavor) : null;
  const q = d?.quota;
  const left = q
    ? {
        instances: q.limits.instances - q.usage.instances,
        vcpus: q.limits.vcpus - q.usage.vcpus,
        ram_mib: q.limits.ram_mib - q.usage.ram_mib,
      }
    : null;
  const overQuota =
    left && flavor ? (count > left.instances ? "instances" : count * flavor.vcpus > left.vcpus ? "vCPUs" : count * flavor.ram_mib > left.ram_mib ? "memory" : null) : null;
  const list = (v: string) => v.split(",").filter(Boolean);
  const chosenNets = list(f.values.networks);
  const chosenGroups = list(f.values.security_groups);
  const toggle = (k: "networks" | "security_groups", id: string, on: boolean) => {
    const cur = list(f.values[k]).filter((x) => x !== id);
    f.set(k)((on ? [...cur, id] : cur).join(","));
  };

  const submit = f.submit(
    async (v) => {
      const body: Record<string, unknown> = { name: v.name.trim(), flavor: v.flavor, image: v.image };
      if (v.keypair) body.keypair = v.keypair;
      if (v.user_data) body.user_data = v.user_data;
      if (count > 1) body.count = count;
      if (v.server_group) body.server_group = v.server_group;
      const nets = list(v.networks);
      if (nets.length) {
        body.networks = nets.map((id) => (fixed[id]?.trim() && count === 1 ? { network: id, fixed_ip: fixed[id].trim() } : { network: id }));
        body.security_groups = list(v.security_groups);
      }
      const r = await request<any>("POST", "/v1/instances", { body, idempotent: true });
      const made = r.data?.instances ?? [];
      toast(made.length > 1 ? `Launching ${made.length} instances` : `Launching ${made[0]?.name ?? v.name}`);
      navigate(made.length === 1 ? `/instances/${made[0].id}` : "/instances");
    },
    (v) => {
      const nets = list(v.networks);
      const fixedErr =
        count === 1 && d
          ? nets
              .map((id) => {
                const e = checkFixedIp(fixed[id] ?? "", cidrsOf(d.net, id));
                return e && `${d.net.networks.find((n) => n.id === id)?.name}: ${e}`;
              })
              .find(Boolean) ?? ""
          : "";
      return {
        name: !v.name.trim() ? "Give the instance a name." : !/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(v.name.trim()) ? "Use letters, digits, '.', '_' and '-', starting with a letter or a digit (at most 63)." : "",
        flavor: v.flavor ? "" : "Choose a flavor.",
        image: v.image ? "" : "Choose an image.",
        count: /^\d+$/.test(v.count) && +v.count >= 1 && +v.count <= 50 ? "" : "From 1 to 50.",
        user_data: new Blob([v.user_data]).size > 65536 ? "At most 64 KiB." : "",
        networks: nets.length > 8 ? "At most 8 networks." : "",
        security_groups: nets.length && list(v.security_groups).length === 0 ? "Choose at least one security group (default lets the instance out and its group in)." : "",
        fixed_ip: fixedErr,
      };
    },
  );

  const net = d?.net;
  return (
    <>
      <PageHead title="Launch instances" sub={`In project ${s!.project.name}`} />
      <ErrorBox error={refs.error} retry={refs.reload} />
      {!d ? (
        refs.loading && <Spinner />
      ) : (
        <form class="form grid2" onSubmit={submit} noValidate aria-label="Launch instances">
          <FormError error={f.errors.form} />
          <TextField label="Name" value={f.values.name} onValue={f.set("name")} error={f.err("name")} hint="With a count above 1, instances are named name-1, name-2…" required autocomplete="off" />
          <TextField label="Count" type="number" min={1} max={50} inputMode="numeric" value={f.values.count} onValue={f.set("count")} error={f.err("count")} />
          <fieldset class="span2 choices">
            <legend>Flavor</legend>
            {d.flavors.length === 0 && <p class="muted">No flavor is available to this project; ask an administrator.</p>}
            <div class="cards" role="radiogroup" aria-describedby={f.err("flavor") ? "flavor-err" : undefined}>
              {d.flavors.map((fl) => {
                const p = flavorPrice(d.prices, fl);
                return (
                  <label class={"card-choice" + (f.values.flavor === fl.name ? " selected" : "")} key={fl.id}>
                    <input type="radio" name="flavor" value={fl.name} checked={f.values.flavor === fl.name} onChange={() => f.set("flavor")(fl.name)} />
                    <strong>{fl.name}</strong>
                    <span>
                      {fl.vcpus} vCPU · {formatMiB(fl.ram_mib)} · {fl.disk_gib} GiB disk
                    </span>
                    {p && <span class="price">{formatMoney(p.micro, p.currency, { exact: true })} / hour</span>}
                  </label>
                );
              })}
            </div>
            {f.err("flavor") && (
              <p class="error" id="flavor-err" role="alert">
                {f.err("flavor")}
              </p>
            )}
          </fieldset>
          <SelectField
            label="Image"
            value={f.values.image}
            onValue={f.set("image")}
            error={f.err("image")}
            options={d.images.map((i) => ({ value: i.name, label: `${i.name}${i.visibility === "public" ? "" : " (private)"}` }))}
            placeholder={d.images.length ? undefined : "No active image"}
          />
          <SelectField
            label="Key pair"
            value={f.values.keypair}
            onValue={f.set("keypair")}
            error={f.err("keypair")}
            options={d.keypairs.map((k) => ({ value: k.name, label: k.name }))}
            placeholder="None"
            hint={
              <>
                Its public key is installed for SSH. <a href="/keypairs">Add a key pair</a>
              </>
            }
          />
          {networkingEnabled() &&
            net &&
            (net.networks.length === 0 ? (
              <NoNetwork
                write
                created={(n) => {
                  f.set("networks")(n.id);
                  refs.reload();
                }}
              />
            ) : (
              <fieldset class="span2 choices" aria-describedby={[f.err("networks") && "networks-err", f.err("fixed_ip") && "fixed-err"].filter(Boolean).join(" ") || undefined}>
                <legend>Networks</legend>
                <p class="hint">One port on each chosen network; the address is picked from its subnet unless you give one (one instance only).</p>
                <ul class="checks">
                  {net.networks.map((n) => {
                    const cidrs = cidrsOf(net, n.id);
                    const on = chosenNets.includes(n.id);
                    return (
                      <li key={n.id}>
                        <label class="check">
                          <input type="checkbox" checked={on} disabled={cidrs.length === 0} onChange={(e) => toggle("networks", n.id, (e.target as HTMLInputElement).checked)} />
                          <span>
                            <strong>{n.name}</strong> <span class="muted">{cidrs.length ? cidrs.join(", ") : "no subnet yet"}</span>
                          </span>
                        </label>
                        {on && count === 1 && (
                          <label class="inline fixed-ip">
                            <span>Fixed IP on {n.name} (optional)</span>
                            <input
                              type="text"
                              inputMode="decimal"
                              autocomplete="off"
                              spellcheck={false}
                              placeholder={cidrs[0] ? `in ${cidrs[0]}` : ""}
                              value={fixed[n.id] ?? ""}
                              aria-invalid={f.err("fixed_ip") && f.err("fixed_ip")!.startsWith(n.name + ":") ? "true" : undefined}
                              onInput={(e) => {
                                setFixed({ ...fixed, [n.id]: (e.target as HTMLInputElement).value });
                                if (f.err("fixed_ip")) f.setErrors((x) => ({ ...x, fields: { ...x.fields, fixed_ip: "" } }));
                              }}
                            />
                          </label>
                        )}
                      </li>
                    );
                  })}
                </ul>
                {f.err("networks") && (
                  <p class="error" id="networks-err" role="alert">
                    {f.err("networks")}
                  </p>
                )}
                {f.err("fixed_ip") && (
                  <p class="error" id="fixed-err" role="alert">
                    {f.err("fixed_ip")}
                  </p>
                )}
                {chosenNets.length === 0 && <p class="warn-text">Without a network the instance gets no IP address.</p>}
              </fieldset>
            ))}
          {net && net.groups.length > 0 && chosenNets.length > 0 && (
            <fieldset class="span2 choices" aria-describedby={f.err("security_groups") ? "sg-err" : undefined}>
              <legend>Security groups</legend>
              <ul class="checks row">
                {net.groups.map((g) => (
                  <li key={g.id}>
                    <label class="check">
                      <input type="checkbox" checked={chosenGroups.includes(g.name)} onChange={(e) => toggle("security_groups", g.name, (e.target as HTMLInputElement).checked)} />
                      <span>
                        <strong>{g.name}</strong> <span class="muted">{g.rules.length} rule{g.rules.length === 1 ? "" : "s"}</span>
                      </span>
                    </label>
                  </li>
                ))}
              </ul>
              {f.err("security_groups") && (
                <p class="error" id="sg-err" role="alert">
                  {f.err("security_groups")}
                </p>
              )}
            </fieldset>
          )}
          {net && has("/v1/server-groups") && (
            <SelectField
              label="Server group"
              value={f.values.server_group}
              onValue={f.set("server_group")}
              error={f.err("server_group")}
              options={net.serverGroups.map((g) => ({ value: g.name, label: `${g.name} (${g.policy}, ${g.members.length} member${g.members.length === 1 ? "" : "s"})` }))}
              placeholder="None"
              hint="Affinity keeps the group's instances on one host, anti-affinity on different hosts."
            />
          )}
          <TextArea
            class="mono span2"
            label="User data (optional)"
            rows={5}
            value={f.values.user_data}
            onValue={f.set("user_data")}
            error={f.err("user_data")}
            hint="A script or cloud-config the instance runs at its first boot (at most 64 KiB)."
            spellcheck={false}
          />
          <div class="span2 summary" aria-live="polite">
            {flavor && (
              <p>
                {count} × {flavor.name}: {count * flavor.vcpus} vCPU, {formatMiB(count * flavor.ram_mib)}, {count * flavor.disk_gib} GiB disk
                {price && (
                  <>
                    {" "}
                    · <strong>{formatMoney(price.micro * count, price.currency, { exact: true })} per hour</strong> while running
                  </>
                )}
              </p>
            )}
            {left && (
              <p class={overQuota ? "warn-text" : "muted"}>
                Quota left: {left.instances} instances, {left.vcpus} vCPU, {formatMiB(left.ram_mib)}
                {overQuota && ` — not enough ${overQuota} for this launch`}
              </p>
            )}
          </div>
          <div class="span2 btn-row">
            <button class="primary" type="submit" disabled={f.busy}>
              {f.busy ? "Launching…" : count > 1 ? `Launch ${count} instances` : "Launch instance"}
            </button>
            <a class="button" href="/instances">
              Cancel
            </a>
          </div>
        </form>
      )}
    </>
  );
}

/* ------------------------------------------------------------- detail */

interface Task {
  id: string;
  kind: string;
  status: string;
  error: string | null;
  created_at: string;
  updated_at: string;
  progress?: any;
}

export interface Migration {
  id: string;
  source_host: string | null;
  target_host: string | null;
  state: string;
  cancel_requested: boolean;
  progress: any;
  error: string | null;
  downtime_ms: number | null;
  total_ms: number | null;
  created_at: string;
  finished_at: string | null;
}

/** True when the session may live-migrate (a cloud admin, and the API
 * knows the action). */
function canMigrate(): boolean {
  const s = getSession();
  return !!s?.is_admin && hasAction("/v1/instances/{id}/actions", "migrate");
}

export function InstanceDetail({ id }: { id: string }) {
  const s = getSession();
  const write = canWrite(s);
  const inst = usePoll(
    async () => {
      const [i, tasks, events, migrations] = await Promise.all([
        api.get<Instance>(`/v1/instances/${id}`),
        api.get<{ tasks: Task[] }>("/v1/tasks", { query: { instance: id, limit: 1000 } }).then((r) => r.tasks),
        api.get<{ events: any[] }>(`/v1/instances/${id}/events`, { query: { limit: 1000 } }).then((r) => r.events),
        canMigrate() && has("/v1/instances/{id}/migrations")
          ? api.get<{ migrations: Migration[] }>(`/v1/instances/${id}/migrations`).then((r) => r.migrations)
          : Promise.resolve([] as Migration[]),
      ]);
      return { i, tasks, events, migrations };
    },
    (d) =>
      instanceBusy(d.i.status, d.i.desired) || d.tasks.some((t) => t.status === "pending" || t.status === "running") || d.migrations.some((m) => migrationActive(m.state)),
    [id],
  );
  const actions = useInstanceActions(inst.poke);
  const [migrate, setMigrate] = useState(false);
  const i = inst.data?.i;
  useTitle(i ? i.name : "Instance");
  if (inst.error && !i)
    return (
      <>
        <PageHead title="Instance" />
        <ErrorBox error={inst.error} retry={inst.poke} />
        <p>
          <a href="/instances">Back to the instances</a>
        </p>
      </>
    );
  if (!i) return <Spinner />;
  const badge = instanceBadge(i.status, i.desired, i.fault);
  const open = inst.data!.tasks.filter((t) => t.status === "pending" || t.status === "running");
  return (
    <>
      <nav class="crumbs" aria-label="Breadcrumb">
        <a href="/instances">Instances</a> <span aria-hidden="true">›</span> <span aria-current="page">{i.name}</span>
      </nav>
      <PageHead title={i.name} sub={<Badge badge={badge} />}>
        {canMigrate() && i.status === "running" && i.desired === "running" && (
          <button type="button" onClick={() => setMigrate(true)}>
            Migrate
          </button>
        )}
        {write && i.status !== "deleted" && <ActionButtons i={i} run={(x, a) => actions.run(x, a).then((ok) => ok && a === "delete" && navigate("/instances"))} />}
      </PageHead>
      {actions.node}
      {canMigrate() && (
        <MigrateDialog
          open={migrate}
          i={i}
          close={() => {
            setMigrate(false);
            inst.poke();
          }}
        />
      )}
      <ErrorBox error={inst.error} retry={inst.poke} />
      {badge.busy && (
        <div class="progress" role="status">
          <progress aria-label={`${i.name} is ${badge.label}`} />
          <span>
            {badge.help} {open.length > 0 && `Task ${open[0].kind}: ${open[0].status}, for ${formatRelative(open[0].created_at).replace(" ago", "")}.`}
            {open.length > 0 && open[0].kind === "migrate" && open[0].progress && ` ${migrationProgress(open[0].progress).text}.`}
          </span>
        </div>
      )}
      {inst.data!.migrations.length > 0 && <Migrations list={inst.data!.migrations} cancelled={inst.poke} id={i.id} />}
      {i.fault && <p class="form-error">{i.fault}</p>}
      <div class="grid-2">
        <section class="panel" aria-labelledby="ov-h">
          <h2 id="ov-h">Overview</h2>
          <dl class="props">
            <dt>State</dt>
            <dd>
              {i.status} (wants {i.desired}; VM {i.power_state}, {i.boots} boot{i.boots === 1 ? "" : "s"})
            </dd>
            <dt>Flavor</dt>
            <dd>
              {i.flavor?.name}: {i.vcpus} vCPU, {formatMiB(i.ram_mib)}, {i.disk_gib} GiB
            </dd>
            <dt>Image</dt>
            <dd>{i.image?.name}</dd>
            <dt>Key pair</dt>
            <dd>{i.keypair ?? "none"}</dd>
            {networkingEnabled() && (
              <>
                <dt>Addresses</dt>
                <dd data-testid="addresses">
                  <Addresses list={i.addresses} empty="no network" />
                </dd>
              </>
            )}
            <dt>Host</dt>
            <dd>{i.host?.name ?? "not placed"}</dd>
            <dt>Id</dt>
            <dd class="mono">{i.id}</dd>
            <dt>Created</dt>
            <dd>{formatTime(i.created_at)}</dd>
          </dl>
        </section>
        <section class="panel" aria-labelledby="ev-h">
          <h2 id="ev-h">Events</h2>
          <ol class="events">
            {[...inst.data!.events]
              .reverse()
              .slice(0, 12)
              .map((e) => (
                <li key={e.id}>
                  <time dateTime={e.at} title={formatTime(e.at)}>
                    {formatRelative(e.at)}
                  </time>{" "}
                  <strong>{e.event}</strong> {e.detail && <span class="muted">{e.detail}</span>}
                </li>
              ))}
          </ol>
          <h3>Tasks</h3>
          <ul class="events">
            {[...inst.data!.tasks]
              .reverse()
              .slice(0, 6)
              .map((t) => (
                <li key={t.id}>
                  <Badge badge={taskBadge(t.status)} /> {t.kind} <span class="muted">{formatRelative(t.created_at)}</span>
                  {t.error && <span class="error-text"> {t.error}</span>}
                </li>
              ))}
          </ul>
        </section>
      </div>
      {has("/v1/instances/{id}/metrics") && i.status !== "deleted" && <Metrics path={`/v1/instances/${i.id}/metrics`} />}
      {i.status !== "deleted" && <Console id={i.id} running={i.status === "running" || i.power_state === "running"} />}
    </>
  );
}

/* ---------------------------------------------------------- mobility */

/** The admin's Migrate dialog: a target host, or the scheduler's pick. */
function MigrateDialog({ open, i, close }: { open: boolean; i: Instance; close: () => void }) {
  const hosts = useAsync(() => (open ? listAll<any>("/v1/hosts", "hosts") : Promise.resolve(null)), [open]);
  const f = useForm({ host: "" });
  useEffect(() => {
    // each opening starts from the scheduler's choice
    if (open) {
      f.setValues({ host: "" });
      f.setErrors({ fields: {}, form: null });
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [open]);
  const submit = f.submit(async (v) => {
    const body: Record<string, string> = { action: "migrate" };
    if (v.host) body.host = v.host;
    const r = await api.post(`/v1/instances/${i.id}/actions`, body);
    toast(`Migrating ${i.name} to ${r?.migration?.target_host ?? v.host ?? "another host"}`);
    close();
  });
  const why = (h: any) =>
    h.id === i.host?.id
      ? "its host now"
      : h.maintenance
        ? h.maintenance
        : h.state !== "up"
          ? h.state
          : h.reachable === false
            ? "not answering"
            : h.vcpus - (h.used?.vcpus ?? 0) < i.vcpus || h.ram_mib - (h.used?.ram_mib ?? 0) < i.ram_mib
              ? "no room"
              : "";
  return (
    <Dialog open={open} title={`Migrate ${i.name}`} onClose={close}>
      <form class="form" onSubmit={submit} noValidate aria-label={`Migrate ${i.name}`}>
        <p>
          A live migration: the instance keeps running while its memory and disk are copied from <strong>{i.host?.name ?? "its host"}</strong>, then pauses for a moment at the
          switch-over. If it fails, the instance stays where it is.
        </p>
        <FormError error={f.errors.form} />
        <ErrorBox error={hosts.error} retry={hosts.reload} />
        <SelectField
          label="Target host"
          value={f.values.host}
          onValue={f.set("host")}
          error={f.err("host")}
          placeholder="Let the scheduler choose"
          options={(hosts.data ?? []).map((h: any) => {
            const w = why(h);
            return { value: h.name, label: `${h.name} (${hostBadge(h.state, h.maintenance).label}, ${h.used?.vcpus ?? 0}/${h.vcpus} vCPU)${w ? ` — ${w}` : ""}`, disabled: !!w };
          })}
          hint="The scheduler picks a host with the same acceleration and room for the instance, respecting its server group."
        />
        <div class="dialog-actions">
          <button type="button" onClick={close}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={f.busy}>
            {f.busy ? "Starting…" : "Start migration"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** An instance's live migrations (admin): the active one with its
 * progress and a cancel button, then the last few. */
function Migrations({ list, id, cancelled }: { list: Migration[]; id: string; cancelled: () => void }) {
  const active = list.find((m) => migrationActive(m.state));
  return (
    <section class="panel" aria-labelledby="mig-h">
      <div class="panel-head">
        <h2 id="mig-h">Migrations</h2>
        {active && !active.cancel_requested && (
          <button
            type="button"
            onClick={async () => {
              await act("Cancelling the migration", () => api.post(`/v1/instances/${id}/actions`, { action: "migrate-cancel" }));
              cancelled();
            }}
          >
            Cancel migration
          </button>
        )}
      </div>
      <table class="table" aria-label="Migrations">
        <thead>
          <tr>
            <th scope="col">From</th>
            <th scope="col">To</th>
            <th scope="col">State</th>
            <th scope="col">Progress</th>
            <th scope="col">Started</th>
          </tr>
        </thead>
        <tbody>
          {list.slice(0, 5).map((m) => {
            const p = migrationProgress(m.progress);
            return (
              <tr key={m.id} data-migration={m.state}>
                <td data-label="From">{m.source_host ?? "—"}</td>
                <td data-label="To">{m.target_host ?? "—"}</td>
                <td data-label="State">
                  <Badge badge={migrationBadge(m.state)} />
                  {m.cancel_requested && migrationActive(m.state) && <span class="muted small"> cancelling</span>}
                </td>
                <td data-label="Progress">
                  {migrationActive(m.state) ? (
                    <>
                      {p.fraction !== null && <progress max={1} value={p.fraction} aria-label="RAM copied" />} <span class="small">{p.text}</span>
                    </>
                  ) : m.state === "completed" ? (
                    <span class="small">
                      {m.total_ms !== null && `took ${(m.total_ms / 1000).toFixed(1)} s`}
                      {m.downtime_ms !== null && `, paused ${m.downtime_ms} ms`}
                    </span>
                  ) : (
                    <span class="small error-text">{m.error ?? ""}</span>
                  )}
                </td>
                <td data-label="Started">
                  <time dateTime={m.created_at} title={formatTime(m.created_at)}>
                    {formatRelative(m.created_at)}
                  </time>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}

/* ------------------------------------------------------------ console */

/** The serial console, following new output: polls ?offset=<next> every
 * second while open (slower when nothing comes), scrolled to the end
 * unless the reader scrolled up. */
function Console({ id, running }: { id: string; running: boolean }) {
  const [open, setOpen] = useState(false);
  const [text, setText] = useState("");
  const [err, setErr] = useState<string | null>(null);
  const buf = useRef(new ConsoleBuffer());
  const pre = useRef<HTMLPreElement>(null);
  const stick = useRef(true);
  useEffect(() => {
    if (!open) return;
    let live = true;
    let timer: ReturnType<typeof setTimeout>;
    let quiet = 0;
    const tick = async () => {
      try {
        const r = await request<string>("GET", `/v1/instances/${id}/console`, { query: { offset: buf.current.offset, limit: 65536 }, text: true });
        const next = Number(r.headers.get("X-Console-Offset"));
        const before = buf.current.text.length;
        buf.current.push(r.data ?? "", Number.isFinite(next) ? next : null);
        if (!live) return;
        setErr(null);
        if (buf.current.text.length !== before || (r.data ?? "").length) {
          quiet = 0;
          setText(buf.current.text);
        } else quiet++;
      } catch (e) {
        if (!live) return;
        quiet += 2;
        setErr(String((e as Error).message));
      }
      if (live) timer = setTimeout(tick, Math.min(8000, 700 * (1 + Math.min(quiet, 10))));
    };
    tick();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [open, id]);
  useEffect(() => {
    if (stick.current && pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [text]);
  return (
    <section class="panel" aria-labelledby="con-h">
      <div class="panel-head">
        <h2 id="con-h">Console</h2>
        <button type="button" aria-expanded={open} aria-controls="console-log" onClick={() => setOpen(!open)}>
          {open ? "Hide console" : "Show console"}
        </button>
      </div>
      {open && (
        <>
          {err && <p class="error-text">{err}</p>}
          {!running && !text && <p class="muted">The instance is not running; its last output shows here if any.</p>}
          <pre
            id="console-log"
            class="console"
            ref={pre}
            tabIndex={0}
            aria-label="Serial console output"
            aria-live="off"
            onScroll={(e) => {
              const el = e.currentTarget as HTMLPreElement;
              stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
            }}
          >
            {text || "…"}
          </pre>
        </>
      )}
    </section>
  );
}
