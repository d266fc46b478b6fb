// Instances: the list (live, polled with back-off), the launch form, and
// one instance's page with its actions, progress, console and metrics.

import { useEffect, useRef, useState } from "preact/hooks";
import { api, canWrite, getSession, listAll, request } from "../lib/api";
import { instanceActions, instanceBadge, instanceBusy, taskBadge } from "../lib/badges";
import { ConsoleBuffer } from "../lib/consolebuf";
import { formatMiB, formatMoney, formatRelative, formatTime } from "../lib/format";
import { navigate } from "../router";
import { useAsync, usePoll, useTitle } from "../hooks";
import { act, Badge, Empty, ErrorBox, FormError, PageHead, SelectField, Spinner, TextArea, TextField, toast, useConfirm, useForm } from "../ui";
import { flavorPrice, loadPrices } from "../lib/billing";
import { has } from "../lib/features";
import { Metrics } from "./metrics";

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
  const rows = (list.data ?? []).filter((i) => !filter || i.name.includes(filter) || i.status.includes(filter));
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
              <input type="search" value={filter} onInput={(e) => setFilter((e.target as HTMLInputElement).value)} placeholder="name or state" />
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
    const [flavors, images, keypairs, quota, prices] = await Promise.all([
      listAll<Flavor>("/v1/flavors", "flavors"),
      listAll<Image>("/v1/images", "images"),
      listAll<{ name: string; fingerprint: string }>("/v1/keypairs", "keypairs"),
      api.get(`/v1/projects/${s!.project.id}/quota`).catch(() => null),
      loadPrices(),
    ]);
    return { flavors, images: images.filter((i) => i.status === "active"), keypairs, quota, prices };
  });
  const f = useForm(
    { name: "", flavor: "", image: "", keypair: "", user_data: "", count: "1" },
    { name: ["instance name"], user_data: ["user data"], keypair: ["key pair"] },
  );
  // default choices once the lists are in
  useEffect(() => {
    const d = refs.data;
    if (!d) return;
    f.setValues((v) => ({
      ...v,
      flavor: v.flavor || d.flavors[0]?.name || "",
      image: v.image || d.images[0]?.name || "",
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

  const submit = f.submit(
    async (v) => {
      const body: Record<string, unknown> = { name: v.name.trim(), flavor: v.flavor, image: v.image };
      if (v.keypair) body.keypair = v.keypair;
      if (v.user_data) body.user_data = v.user_data;
      if (count > 1) body.count = count;
      const r = await request<any>("POST", "/v1/instances", { body, idempotent: true });
      const made = r.data?.instances ?? [];
      toast(made.length > 1 ? `Launching ${made.length} instances` : `Launching ${made[0]?.name ?? v.name}`);
      navigate(made.length === 1 ? `/instances/${made[0].id}` : "/instances");
    },
    (v) => ({
      name: !v.name.trim() ? "Give the instance a name." : !/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(v.name.trim()) ? "Use letters, digits, '.', '_' and '-', starting with a letter or a digit (at most 63)." : "",
      flavor: v.flavor ? "" : "Choose a flavor.",
      image: v.image ? "" : "Choose an image.",
      count: /^\d+$/.test(v.count) && +v.count >= 1 && +v.count <= 50 ? "" : "From 1 to 50.",
      user_data: new Blob([v.user_data]).size > 65536 ? "At most 64 KiB." : "",
    }),
  );

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
          <TextArea
            class="mono"
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
}

export function InstanceDetail({ id }: { id: string }) {
  const s = getSession();
  const write = canWrite(s);
  const inst = usePoll(
    async () => {
      const [i, tasks, events] = await Promise.all([
        api.get<Instance>(`/v1/instances/${id}`),
        api.get<{ tasks: Task[] }>("/v1/tasks", { query: { instance: id, limit: 1000 } }).then((r) => r.tasks),
        api.get<{ events: any[] }>(`/v1/instances/${id}/events`, { query: { limit: 1000 } }).then((r) => r.events),
      ]);
      return { i, tasks, events };
    },
    (d) => instanceBusy(d.i.status, d.i.desired) || d.tasks.some((t) => t.status === "pending" || t.status === "running"),
    [id],
  );
  const actions = useInstanceActions(inst.poke);
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
        {write && i.status !== "deleted" && <ActionButtons i={i} run={(x, a) => actions.run(x, a).then((ok) => ok && a === "delete" && navigate("/instances"))} />}
      </PageHead>
      {actions.node}
      <ErrorBox error={inst.error} retry={inst.poke} />
      {badge.busy && (
        <div class="progress" role="status">
          <progress aria-label={`${i.name} is ${badge.label}`} />
          <span>
            {badge.help} {open.length > 0 && `Task ${open[0].kind}: ${open[0].status}, for ${formatRelative(open[0].created_at).replace(" ago", "")}.`}
          </span>
        </div>
      )}
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
