// The project's networking views (docs/internals/controller-network.md):
// networks with their subnets (CIDR, gateway and allocation pools checked
// with lib/net.ts before the API is asked), security groups with a rule
// editor, and floating IPs (allocate, associate with an instance's port,
// disassociate, release), and the topology drawn as a graph.  A reader sees everything and no button; the
// API decides anyway.

import { useState } from "preact/hooks";
import { api, canWrite, getSession, listAll } from "../lib/api";
import { checkCidr, checkPools, checkPorts, checkRuleCidr, ipInCidr, parseIPv4 } from "../lib/net";
import { formatRelative, formatTime } from "../lib/format";
import { usePoll, useTitle } from "../hooks";
import { act, Empty, ErrorBox, FormError, PageHead, SelectField, Spinner, TextArea, TextField, toast, useConfirm, useForm } from "../ui";
import type { Network, SecurityGroup, Subnet } from "./network";
import { listInstances } from "./instances";
import { instanceBadge } from "../lib/badges";
import { layoutTopology } from "../lib/topology";

/* ----------------------------------------------------------- networks */

export function Networks() {
  useTitle("Networks");
  const s = getSession()!;
  const write = canWrite(s);
  const data = usePoll(
    async () => {
      const [networks, subnets] = await Promise.all([listAll<Network>("/v1/networks", "networks"), listAll<Subnet>("/v1/subnets", "subnets")]);
      return { networks, subnets };
    },
    () => false,
  );
  const confirm = useConfirm();
  const [subnetFor, setSubnetFor] = useState<string | null>(null);
  const nf = useForm({ name: "", description: "" }, { name: ["network name"] });
  const createNet = nf.submit(
    async (v) => {
      const body: Record<string, string> = { name: v.name.trim() };
      if (v.description.trim()) body.description = v.description.trim();
      const n = await api.post<Network>("/v1/networks", body, { idempotent: true });
      toast(`Network ${n.name} created`);
      nf.setValues({ name: "", description: "" });
      setSubnetFor(n.id);
      data.poke();
    },
    (v) => ({ name: /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(v.name.trim()) ? "" : "Use letters, digits, '.', '_' and '-', starting with a letter or a digit." }),
  );
  const delNet = async (n: Network) => {
    if (!(await confirm.ask(`Delete network ${n.name}?`, "Its subnets go with it. A network with ports (instances on it) or floating IPs cannot be deleted.", "Delete network"))) return;
    await act(`Deleted ${n.name}`, () => api.del(`/v1/networks/${n.id}`));
    data.poke();
  };
  const delSub = async (sn: Subnet) => {
    if (!(await confirm.ask(`Delete subnet ${sn.cidr}?`, "A subnet with ports on it cannot be deleted.", "Delete subnet"))) return;
    await act(`Deleted ${sn.cidr}`, () => api.del(`/v1/subnets/${sn.id}`));
    data.poke();
  };
  const d = data.data;
  return (
    <>
      <PageHead title="Networks" sub={`Private networks of project ${s.project.name}, and the cloud's external ones`} />
      {confirm.node}
      <ErrorBox error={data.error} retry={data.poke} />
      {write && (
        <form class="panel form grid2" onSubmit={createNet} noValidate aria-label="New network">
          <h2 class="span2">New network</h2>
          <FormError error={nf.errors.form} />
          <TextField label="Network name" value={nf.values.name} onValue={nf.set("name")} error={nf.err("name")} autocomplete="off" />
          <TextField label="Description (optional)" value={nf.values.description} onValue={nf.set("description")} error={nf.err("description")} />
          <div class="span2 btn-row">
            <button type="submit" class="primary" disabled={nf.busy}>
              Create network
            </button>
          </div>
        </form>
      )}
      {!d ? (
        <Spinner />
      ) : d.networks.length === 0 ? (
        <Empty>No network yet.{write ? " Create one above, then give it a subnet." : ""}</Empty>
      ) : (
        <table class="table" aria-label="Networks">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Subnets</th>
              <th scope="col">MTU</th>
              <th scope="col">Created</th>
              {write && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {d.networks.map((n) => {
              const subs = d.subnets.filter((x) => x.network_id === n.id);
              const mine = n.project_id === s.project.id;
              return (
                <tr key={n.id} data-network={n.name}>
                  <td data-label="Name">
                    <strong>{n.name}</strong> {n.external && <span class="badge tone-info">external</span>}
                    {n.description && <div class="muted small">{n.description}</div>}
                  </td>
                  <td data-label="Subnets">
                    {subs.length === 0 ? (
                      <span class="muted">none</span>
                    ) : (
                      <ul class="addresses">
                        {subs.map((x) => (
                          <li key={x.id} data-subnet={x.cidr}>
                            <span class="mono">{x.cidr}</span> <span class="muted small">gateway {x.gateway}; pools {x.allocation_pools.map((p) => `${p.start}–${p.end}`).join(", ")}</span>
                            {write && mine && (
                              <button type="button" class="link danger" aria-label={`Delete subnet ${x.cidr}`} onClick={() => delSub(x)}>
                                Delete
                              </button>
                            )}
                          </li>
                        ))}
                      </ul>
                    )}
                  </td>
                  <td data-label="MTU">{n.mtu}</td>
                  <td data-label="Created">
                    <time dateTime={n.created_at} title={formatTime(n.created_at)}>
                      {formatRelative(n.created_at)}
                    </time>
                  </td>
                  {write && (
                    <td data-label="Actions">
                      {mine && (
                        <div class="btn-row">
                          <button type="button" aria-label={`Add a subnet to ${n.name}`} onClick={() => setSubnetFor(n.id)}>
                            Add subnet
                          </button>
                          <button type="button" class="danger" aria-label={`Delete network ${n.name}`} onClick={() => delNet(n)}>
                            Delete
                          </button>
                        </div>
                      )}
                    </td>
                  )}
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {write && d && subnetFor && d.networks.some((n) => n.id === subnetFor) && (
        <NewSubnet
          network={d.networks.find((n) => n.id === subnetFor)!}
          done={() => {
            setSubnetFor(null);
            data.poke();
          }}
        />
      )}
    </>
  );
}

function NewSubnet({ network, done }: { network: Network; done: () => void }) {
  const f = useForm({ name: "", cidr: "", gateway: "", pools: "", dns: "" }, { cidr: ["prefix"], pools: ["pool", "pools", "allocation_pools"], dns: ["dns", "dns_servers"] });
  const submit = f.submit(
    async (v) => {
      const body: Record<string, unknown> = { network: network.id, cidr: v.cidr.trim() };
      if (v.name.trim()) body.name = v.name.trim();
      if (v.gateway.trim()) body.gateway = v.gateway.trim();
      const c = checkCidr(v.cidr).cidr!;
      const pools = checkPools(v.pools, c).pools ?? [];
      if (pools.length) body.allocation_pools = pools;
      const dns = v.dns.split(/[\s,]+/).filter(Boolean);
      if (dns.length) body.dns_servers = dns;
      const sn = await api.post<Subnet>("/v1/subnets", body, { idempotent: true });
      toast(`Subnet ${sn.cidr} added to ${network.name}`);
      done();
    },
    (v) => {
      const c = checkCidr(v.cidr);
      const gw = v.gateway.trim();
      const dns = v.dns.split(/[\s,]+/).filter(Boolean);
      return {
        cidr: c.error ?? "",
        gateway: !gw || !c.cidr ? "" : parseIPv4(gw) === null ? `${gw} is not an IPv4 address.` : !ipInCidr(gw, v.cidr.trim()) ? `${gw} is not inside ${v.cidr.trim()}.` : "",
        pools: c.cidr ? checkPools(v.pools, c.cidr).error ?? "" : "",
        dns: dns.length > 4 ? "At most 4 DNS servers." : dns.find((x) => parseIPv4(x) === null) ? `${dns.find((x) => parseIPv4(x) === null)} is not an IPv4 address.` : "",
      };
    },
  );
  return (
    <form class="panel form grid2" onSubmit={submit} noValidate aria-label={`New subnet of ${network.name}`}>
      <h2 class="span2">New subnet of {network.name}</h2>
      <FormError error={f.errors.form} />
      <TextField label="CIDR" value={f.values.cidr} onValue={f.set("cidr")} error={f.err("cidr")} placeholder="10.0.0.0/24" hint="An IPv4 prefix, /8 to /29; not overlapping the network's other subnets." autocomplete="off" spellcheck={false} />
      <TextField label="Subnet name (optional)" value={f.values.name} onValue={f.set("name")} error={f.err("name")} autocomplete="off" />
      <TextField label="Gateway (optional)" value={f.values.gateway} onValue={f.set("gateway")} error={f.err("gateway")} hint="Default: the first address." autocomplete="off" spellcheck={false} />
      <TextField label="DNS servers (optional)" value={f.values.dns} onValue={f.set("dns")} error={f.err("dns")} hint="Up to 4, separated by spaces or commas." autocomplete="off" spellcheck={false} />
      <TextArea
        class="span2 mono"
        label="Allocation pools (optional)"
        rows={2}
        value={f.values.pools}
        onValue={f.set("pools")}
        error={f.err("pools")}
        hint="Ranges such as 10.0.0.10-10.0.0.99, one per line; default: the whole subnet but the gateway."
        spellcheck={false}
      />
      <div class="span2 btn-row">
        <button type="submit" class="primary" disabled={f.busy}>
          Add subnet
        </button>
        <button type="button" onClick={done}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/* ----------------------------------------------------- security groups */

interface Rule {
  id: string;
  direction: string;
  protocol: string;
  port_min: number | null;
  port_max: number | null;
  remote_cidr: string | null;
  remote_group_id: string | null;
}

type Group = Omit<SecurityGroup, "rules"> & { rules: Rule[] };

export function SecurityGroups() {
  useTitle("Security groups");
  const s = getSession()!;
  const write = canWrite(s);
  const list = usePoll(
    () => listAll<Group>("/v1/security-groups", "security_groups"),
    () => false,
  );
  const confirm = useConfirm();
  const f = useForm({ name: "", description: "" }, { name: ["group name"] });
  const create = f.submit(
    async (v) => {
      const body: Record<string, string> = { name: v.name.trim() };
      if (v.description.trim()) body.description = v.description.trim();
      const g = await api.post("/v1/security-groups", body, { idempotent: true });
      toast(`Security group ${g.name} created`);
      f.setValues({ name: "", description: "" });
      list.poke();
    },
    (v) => ({ name: /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(v.name.trim()) ? "" : "Use letters, digits, '.', '_' and '-', starting with a letter or a digit." }),
  );
  const groups = list.data ?? [];
  const gname = (id: string | null) => groups.find((g) => g.id === id)?.name ?? id ?? "";
  const delGroup = async (g: Group) => {
    if (!(await confirm.ask(`Delete security group ${g.name}?`, "A group that ports still use cannot be deleted.", "Delete group"))) return;
    await act(`Deleted ${g.name}`, () => api.del(`/v1/security-groups/${g.id}`));
    list.poke();
  };
  const delRule = async (r: Rule) => {
    await act("Rule deleted", () => api.del(`/v1/security-group-rules/${r.id}`));
    list.poke();
  };
  return (
    <>
      <PageHead title="Security groups" sub="Stateful firewalls on the instances' ports: what may come in and go out" />
      {confirm.node}
      <ErrorBox error={list.error} retry={list.poke} />
      {write && (
        <form class="panel form grid2" onSubmit={create} noValidate aria-label="New security group">
          <h2 class="span2">New security group</h2>
          <FormError error={f.errors.form} />
          <TextField label="Group name" value={f.values.name} onValue={f.set("name")} error={f.err("name")} autocomplete="off" />
          <TextField label="Description (optional)" value={f.values.description} onValue={f.set("description")} error={f.err("description")} />
          <div class="span2 btn-row">
            <button type="submit" class="primary" disabled={f.busy}>
              Create group
            </button>
          </div>
        </form>
      )}
      {!list.data ? (
        <Spinner />
      ) : (
        groups.map((g) => (
          <section class="panel" key={g.id} aria-labelledby={`sg-${g.id}`} data-group={g.name}>
            <div class="panel-head">
              <h2 id={`sg-${g.id}`}>
                {g.name} {g.description && <span class="muted small">{g.description}</span>}
              </h2>
              {write && g.name !== "default" && (
                <button type="button" class="danger" aria-label={`Delete group ${g.name}`} onClick={() => delGroup(g)}>
                  Delete
                </button>
              )}
            </div>
            <table class="table" aria-label={`Rules of ${g.name}`}>
              <thead>
                <tr>
                  <th scope="col">Direction</th>
                  <th scope="col">Protocol</th>
                  <th scope="col">Ports</th>
                  <th scope="col">Remote</th>
                  {write && <th scope="col">Actions</th>}
                </tr>
              </thead>
              <tbody>
                {g.rules.map((r) => (
                  <tr key={r.id}>
                    <td data-label="Direction">{r.direction}</td>
                    <td data-label="Protocol">{r.protocol}</td>
                    <td data-label="Ports">{r.port_min === null ? "all" : r.port_min === r.port_max ? r.port_min : `${r.port_min}–${r.port_max}`}</td>
                    <td data-label="Remote">{r.remote_group_id ? `group ${gname(r.remote_group_id)}` : r.remote_cidr ?? "anywhere"}</td>
                    {write && (
                      <td data-label="Actions">
                        <button type="button" class="link danger" aria-label={`Delete rule ${r.direction} ${r.protocol} ${r.port_min ?? ""} of ${g.name}`} onClick={() => delRule(r)}>
                          Delete
                        </button>
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
            {write && <RuleEditor group={g} groups={groups} added={list.poke} />}
          </section>
        ))
      )}
    </>
  );
}

function RuleEditor({ group, groups, added }: { group: Group; groups: Group[]; added: () => void }) {
  const f = useForm(
    { direction: "ingress", protocol: "tcp", port_min: "", port_max: "", remote: "cidr", remote_cidr: "0.0.0.0/0", remote_group: "" },
    { port_min: ["port", "ports", "port_min"], port_max: ["port_max"], remote_cidr: ["remote_cidr", "cidr"], remote_group: ["remote_group", "group"] },
  );
  const submit = f.submit(
    async (v) => {
      const body: Record<string, unknown> = { security_group: group.id, direction: v.direction, protocol: v.protocol };
      if (v.port_min.trim() || v.port_max.trim()) {
        body.port_min = Number(v.port_min.trim() || v.port_max.trim());
        body.port_max = Number(v.port_max.trim() || v.port_min.trim());
      }
      if (v.remote === "cidr") body.remote_cidr = v.remote_cidr.trim();
      else body.remote_group = v.remote_group;
      await api.post("/v1/security-group-rules", body, { idempotent: true });
      toast(`Rule added to ${group.name}`);
      f.setValues((x) => ({ ...x, port_min: "", port_max: "" }));
      added();
    },
    (v) => ({
      port_min: checkPorts(v.protocol, v.port_min, v.port_max),
      remote_cidr: v.remote === "cidr" ? checkRuleCidr(v.remote_cidr) : "",
      remote_group: v.remote === "group" && !v.remote_group ? "Choose a group." : "",
    }),
  );
  const ports = f.values.protocol === "tcp" || f.values.protocol === "udp";
  return (
    <form class="form rule-form" onSubmit={submit} noValidate aria-label={`New rule for ${group.name}`}>
      <FormError error={f.errors.form} />
      <SelectField
        label="Direction"
        value={f.values.direction}
        onValue={f.set("direction")}
        options={[
          { value: "ingress", label: "ingress (in)" },
          { value: "egress", label: "egress (out)" },
        ]}
      />
      <SelectField label="Protocol" value={f.values.protocol} onValue={f.set("protocol")} options={["tcp", "udp", "icmp", "any"].map((p) => ({ value: p, label: p }))} />
      <TextField label="From port" inputMode="numeric" value={f.values.port_min} onValue={f.set("port_min")} error={f.err("port_min")} disabled={!ports} placeholder={ports ? "all" : "—"} />
      <TextField label="To port" inputMode="numeric" value={f.values.port_max} onValue={f.set("port_max")} error={f.err("port_max")} disabled={!ports} placeholder={ports ? "same" : "—"} />
      <SelectField
        label="Remote"
        value={f.values.remote}
        onValue={f.set("remote")}
        options={[
          { value: "cidr", label: "an address range" },
          { value: "group", label: "a security group" },
        ]}
      />
      {f.values.remote === "cidr" ? (
        <TextField label="Remote CIDR" value={f.values.remote_cidr} onValue={f.set("remote_cidr")} error={f.err("remote_cidr")} autocomplete="off" spellcheck={false} />
      ) : (
        <SelectField label="Remote group" value={f.values.remote_group} onValue={f.set("remote_group")} error={f.err("remote_group")} placeholder="Choose…" options={groups.map((g) => ({ value: g.name, label: g.name }))} />
      )}
      <div class="btn-row">
        <button type="submit" disabled={f.busy}>
          Add rule
        </button>
      </div>
    </form>
  );
}

/* -------------------------------------------------------- floating IPs */

interface FloatingIp {
  id: string;
  ip: string;
  network_id: string;
  port_id: string | null;
  fixed_ip: string | null;
  created_at: string;
}

export function FloatingIps() {
  useTitle("Floating IPs");
  const s = getSession()!;
  const write = canWrite(s);
  const data = usePoll(
    async () => {
      const [fips, instances, networks] = await Promise.all([
        listAll<FloatingIp>("/v1/floating-ips", "floating_ips"),
        listInstances(),
        listAll<Network>("/v1/networks", "networks"),
      ]);
      return { fips, instances: instances.filter((i) => i.status !== "deleted"), external: networks.filter((n) => n.external) };
    },
    () => false,
  );
  const confirm = useConfirm();
  const [pick, setPick] = useState<Record<string, string>>({});
  const d = data.data;
  // every port of the project's instances, by id: "web1 10.0.0.5 (net)"
  const ports = (d?.instances ?? []).flatMap((i) => (i.addresses ?? []).map((a) => ({ port: a.port_id, label: `${i.name} ${a.ip} (${a.network})`, busy: !!a.floating_ip })));
  const portLabel = (id: string | null) => ports.find((p) => p.port === id)?.label ?? id ?? "";
  const alloc = async () => {
    await act("Floating IP allocated", () => api.post("/v1/floating-ips", {}, { idempotent: true }));
    data.poke();
  };
  const assoc = async (f: FloatingIp, port: string | null) => {
    await act(port ? `${f.ip} now reaches ${portLabel(port)}` : `${f.ip} disassociated`, () => api.patch(`/v1/floating-ips/${f.id}`, { port_id: port }));
    data.poke();
  };
  const release = async (f: FloatingIp) => {
    if (!(await confirm.ask(`Release ${f.ip}?`, "The address goes back to the cloud's pool; another project may get it.", "Release"))) return;
    await act(`Released ${f.ip}`, () => api.del(`/v1/floating-ips/${f.id}`));
    data.poke();
  };
  return (
    <>
      <PageHead title="Floating IPs" sub="Addresses of the cloud's external network that reach an instance from outside">
        {write && d && d.external.length > 0 && (
          <button type="button" class="primary" onClick={alloc}>
            Allocate a floating IP
          </button>
        )}
      </PageHead>
      {confirm.node}
      <ErrorBox error={data.error} retry={data.poke} />
      {!d ? (
        <Spinner />
      ) : d.external.length === 0 && d.fips.length === 0 ? (
        <Empty>The cloud has no external network yet: an administrator makes one (an external network with a subnet) before floating IPs can be allocated.</Empty>
      ) : d.fips.length === 0 ? (
        <Empty>No floating IP.{write ? " Allocate one, then associate it with an instance." : ""}</Empty>
      ) : (
        <table class="table" aria-label="Floating IPs">
          <thead>
            <tr>
              <th scope="col">Address</th>
              <th scope="col">Reaches</th>
              <th scope="col">Allocated</th>
              {write && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {d.fips.map((f) => (
              <tr key={f.id} data-fip={f.ip}>
                <td data-label="Address" class="mono">
                  {f.ip}
                </td>
                <td data-label="Reaches">{f.port_id ? portLabel(f.port_id) : <span class="muted">nothing</span>}</td>
                <td data-label="Allocated">
                  <time dateTime={f.created_at} title={formatTime(f.created_at)}>
                    {formatRelative(f.created_at)}
                  </time>
                </td>
                {write && (
                  <td data-label="Actions">
                    <div class="btn-row">
                      {f.port_id ? (
                        <button type="button" aria-label={`Disassociate ${f.ip}`} onClick={() => assoc(f, null)}>
                          Disassociate
                        </button>
                      ) : (
                        <>
                          <label class="inline">
                            <span>Instance port for {f.ip}</span>
                            <select value={pick[f.id] ?? ""} onChange={(e) => setPick({ ...pick, [f.id]: (e.target as HTMLSelectElement).value })}>
                              <option value="">Choose…</option>
                              {ports.map((p) => (
                                <option value={p.port} disabled={p.busy} key={p.port}>
                                  {p.label}
                                  {p.busy ? " — has one" : ""}
                                </option>
                              ))}
                            </select>
                          </label>
                          <button type="button" aria-label={`Associate ${f.ip}`} disabled={!pick[f.id]} onClick={() => assoc(f, pick[f.id])}>
                            Associate
                          </button>
                        </>
                      )}
                      <button type="button" class="danger" aria-label={`Release ${f.ip}`} onClick={() => release(f)}>
                        Release
                      </button>
                    </div>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

/* ------------------------------------------------------------ topology */

/** The project's networks, instances and floating IPs drawn as a graph
 * (lib/topology.ts lays it out): an instance opens its page, a network the
 * Networks view.  A list under the drawing says the same in words. */
export function Topology() {
  useTitle("Topology");
  const data = usePoll(
    async () => {
      const [networks, subnets, instances] = await Promise.all([listAll<Network>("/v1/networks", "networks"), listAll<Subnet>("/v1/subnets", "subnets"), listInstances()]);
      return { networks, subnets, instances: instances.filter((i) => i.status !== "deleted") };
    },
    (d) => d.instances.some((i) => i.status === "building" || i.status === "migrating"),
  );
  const d = data.data;
  const layout = d
    ? layoutTopology(
        d.networks.map((n) => ({ id: n.id, name: n.name, external: n.external, cidrs: d.subnets.filter((x) => x.network_id === n.id).map((x) => x.cidr) })),
        d.instances.map((i) => ({ id: i.id, name: i.name, status: i.status, addresses: i.addresses ?? [] })),
      )
    : null;
  const netName = (id: string) => d?.networks.find((n) => n.id === id)?.name ?? id;
  return (
    <>
      <PageHead title="Topology" sub="How the project's instances sit on its networks, and what reaches them from outside" />
      <ErrorBox error={data.error} retry={data.poke} />
      {!d || !layout ? (
        <Spinner />
      ) : (
        <>
          <div class="topology-wrap">
            <svg class="topology" width={layout.width} height={layout.height} viewBox={`0 0 ${layout.width} ${layout.height}`} aria-labelledby="topo-title" role="group">
              <title id="topo-title">Network topology of the project</title>
              {layout.buses.map((b) => (
                <a href="/networks" key={b.id} aria-label={`network ${b.label}`}>
                  <line class={b.external ? "bus bus-ext" : "bus"} x1={b.x1} y1={b.y} x2={b.x2} y2={b.y} />
                  <text class="bus-label" x={b.x2} y={b.y - 7} text-anchor="end">
                    {b.label}
                  </text>
                </a>
              ))}
              {layout.links.map((k) => (
                <g class={k.kind === "floating" ? "link link-fip" : "link"} key={k.kind + k.instance + k.network + k.label} data-link={k.label}>
                  <line x1={k.x} y1={k.y1} x2={k.x} y2={k.y2} />
                  <circle cx={k.x} cy={k.kind === "floating" ? k.y1 : k.y2} r="4" />
                  <text x={k.x + 5} y={k.kind === "floating" ? k.y2 - 10 : k.y1 + 16}>
                    {k.label}
                  </text>
                </g>
              ))}
              {layout.boxes.map((b) => (
                <a href={`/instances/${b.id}`} key={b.id} aria-label={`instance ${b.name}, ${b.status}`} data-node={b.name}>
                  <rect class={`node tone-${instanceBadge(b.status).tone}`} x={b.x} y={b.y} width={b.w} height={b.h} rx="8" />
                  <text class="node-name" x={b.x + 10} y={b.y + 22}>
                    {b.name.length > 18 ? b.name.slice(0, 17) + "…" : b.name}
                  </text>
                  <text class="node-state" x={b.x + 10} y={b.y + 40}>
                    {b.status}
                  </text>
                </a>
              ))}
            </svg>
          </div>
          <h2 class="sr-only-h">In words</h2>
          <ul class="topology-words" aria-label="Topology in words">
            {d.instances.map((i) => (
              <li key={i.id}>
                <a href={`/instances/${i.id}`}>{i.name}</a> ({i.status}):{" "}
                {(i.addresses ?? []).length === 0
                  ? "no network"
                  : (i.addresses ?? []).map((a) => `${a.ip} on ${netName(a.network_id)}${a.floating_ip ? `, reached from outside at ${a.floating_ip}` : ""}`).join("; ")}
              </li>
            ))}
          </ul>
        </>
      )}
    </>
  );
}
