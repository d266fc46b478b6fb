// Tenant networking as the portal shows it: the types of the networking
// API (docs/internals/controller-network.md), the loader the launch form
// uses, and the one-click default network offered to a project that has
// none (a network "default" and its subnet, the CIDR checked with
// lib/net.ts before the API is asked).

import { useState } from "preact/hooks";
import { api, listAll } from "../lib/api";
import { checkCidr } from "../lib/net";
import { has } from "../lib/features";
import { FormError, TextField, toast, useForm } from "../ui";

export interface Network {
  id: string;
  project_id: string;
  name: string;
  description: string;
  external: boolean;
  mtu: number;
  vni: number;
  created_at: string;
  subnets?: string[];
}

export interface Subnet {
  id: string;
  network_id: string;
  name: string;
  cidr: string;
  gateway: string;
  allocation_pools: { start: string; end: string }[];
}

export interface SecurityGroup {
  id: string;
  name: string;
  description: string;
  rules: unknown[];
}

export interface ServerGroup {
  id: string;
  name: string;
  policy: string;
  members: string[];
}

export interface LaunchNetworking {
  networks: Network[]; // the project's own (never external), each with its subnets' ids
  subnets: Subnet[];
  groups: SecurityGroup[];
  serverGroups: ServerGroup[];
}

/** True when the API has tenant networks (the launch form's network
 * choice and the addresses of instances). */
export function networkingEnabled(): boolean {
  return has("/v1/networks") && has("/v1/subnets");
}

/** What the launch form offers: the project's networks (external ones are
 * for floating IPs, not for ports), their subnets, the security groups
 * (listing them makes the project's "default" group) and server groups. */
export async function loadLaunchNetworking(): Promise<LaunchNetworking> {
  const net = networkingEnabled();
  const [networks, subnets, groups, serverGroups] = await Promise.all([
    net ? listAll<Network>("/v1/networks", "networks") : Promise.resolve([] as Network[]),
    net ? listAll<Subnet>("/v1/subnets", "subnets") : Promise.resolve([] as Subnet[]),
    has("/v1/security-groups") ? listAll<SecurityGroup>("/v1/security-groups", "security_groups") : Promise.resolve([] as SecurityGroup[]),
    has("/v1/server-groups") ? listAll<ServerGroup>("/v1/server-groups", "server_groups") : Promise.resolve([] as ServerGroup[]),
  ]);
  const own = networks
    .filter((n) => !n.external)
    .map((n) => ({ ...n, subnets: subnets.filter((s) => s.network_id === n.id).map((s) => s.id) }));
  return { networks: own, subnets, groups, serverGroups };
}

/** The subnets' CIDRs of network id. */
export function cidrsOf(d: LaunchNetworking, id: string): string[] {
  return d.subnets.filter((s) => s.network_id === id).map((s) => s.cidr);
}

/** Makes the project's default network: "default" with one subnet.  A
 * "default" network left without a subnet by an earlier try (the subnet
 * was refused) is completed rather than made twice. */
export async function createDefaultNetwork(cidr: string): Promise<Network> {
  const existing = (await listAll<Network>("/v1/networks", "networks")).find((n) => n.name === "default" && !n.external);
  const net = existing ?? (await api.post<Network>("/v1/networks", { name: "default", description: "made by the portal" }, { idempotent: true }));
  const subs = await listAll<Subnet>("/v1/subnets", "subnets", { network_id: net.id });
  if (subs.length === 0) await api.post("/v1/subnets", { network: net.id, name: "default", cidr: cidr.trim() }, { idempotent: true });
  return net;
}

/** The panel a project without a network sees on the launch form: what it
 * means, and a one-click default network. */
export function NoNetwork({ write, created }: { write: boolean; created: (n: Network) => void }) {
  const f = useForm({ cidr: "10.0.0.0/24" }, { cidr: ["prefix", "subnet"] });
  const [open, setOpen] = useState(false);
  const submit = f.submit(
    async (v) => {
      const n = await createDefaultNetwork(v.cidr);
      toast(`Network default (${v.cidr.trim()}) created`);
      created(n);
    },
    (v) => ({ cidr: checkCidr(v.cidr).error ?? "" }),
  );
  return (
    <div class="span2 notice-box panel" role="region" aria-label="No network">
      <p>
        <strong>This project has no network.</strong> An instance launched without one gets no tenant network: no IP address, no security groups, no floating IP.
      </p>
      {write && (
        <>
          <p>
            Create one here with one click, or on the <a href="/networks">Networks</a> page (CLI: <code>nubo network create NAME</code> then <code>nubo subnet create</code>).
          </p>
          {!open ? (
            <button type="button" class="primary" onClick={() => setOpen(true)}>
              Create a default network…
            </button>
          ) : (
            <div class="inline-form" role="group" aria-label="Default network">
              <FormError error={f.errors.form} />
              <TextField label="Subnet CIDR" value={f.values.cidr} onValue={f.set("cidr")} error={f.err("cidr")} hint="A private IPv4 range for the network default, e.g. 10.0.0.0/24." autocomplete="off"
                spellcheck={false}
                onKeyDown={(e: KeyboardEvent) => {
                  // inside the launch form: Enter makes the network, not the instances
                  if (e.key === "Enter") {
                    e.preventDefault();
                    submit();
                  }
                }}
              />
              <div class="btn-row">
                <button type="button" class="primary" disabled={f.busy} onClick={() => submit()}>
                  {f.busy ? "Creating…" : "Create default network"}
                </button>
                <button type="button" onClick={() => setOpen(false)}>
                  Cancel
                </button>
              </div>
            </div>
          )}
        </>
      )}
    </div>
  );
}
