// IPv4 CIDR and allocation-pool checks for the networking forms (subnet
// create): the form says what is wrong before the API is asked.  Pure
// functions (unit-tested in tests/web/unit/net.test.ts).

/** Parses a dotted-quad IPv4 address into an unsigned 32-bit number, or
 * null when it is not exactly four decimal octets 0..255. */
export function parseIPv4(s: string): number | null {
  const parts = s.trim().split(".");
  if (parts.length !== 4) return null;
  let v = 0;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    v = v * 256 + n;
  }
  return v;
}

export function formatIPv4(v: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(v / 2 ** s) % 256).join(".");
}

export interface Cidr {
  base: number;
  prefix: number;
  size: number;
}

/** Checks "a.b.c.d/n": an error message for the form, or the parsed
 * network.  Host bits must be zero (10.0.0.5/24 is refused, naming
 * 10.0.0.0/24), and the prefix must leave room for hosts (/8../29). */
export function checkCidr(s: string): { cidr?: Cidr; error?: string } {
  const m = /^\s*([0-9.]+)\/([0-9]{1,2})\s*$/.exec(s);
  if (!m) return { error: "Enter a CIDR such as 10.0.0.0/24." };
  const ip = parseIPv4(m[1]);
  if (ip === null) return { error: `${m[1]} is not an IPv4 address.` };
  const prefix = Number(m[2]);
  if (prefix < 8 || prefix > 29) return { error: "The prefix length must be between /8 and /29." };
  const size = 2 ** (32 - prefix);
  const base = ip - (ip % size);
  if (base !== ip) return { error: `Host bits are set: did you mean ${formatIPv4(base)}/${prefix}?` };
  return { cidr: { base, prefix, size } };
}

/** Checks allocation pools "start-end" (one per line or comma-separated)
 * against a subnet: each inside it, start <= end, not the network or
 * broadcast address, no overlaps.  Empty text is fine (the API picks). */
export function checkPools(text: string, cidr: Cidr): { pools?: { start: string; end: string }[]; error?: string } {
  const items = text
    .split(/[\n,]/)
    .map((x) => x.trim())
    .filter((x) => x !== "");
  const out: { start: string; end: string; s: number; e: number }[] = [];
  for (const it of items) {
    const m = /^([0-9.]+)\s*-\s*([0-9.]+)$/.exec(it);
    if (!m) return { error: `"${it}" is not a range such as 10.0.0.10-10.0.0.99.` };
    const s = parseIPv4(m[1]);
    const e = parseIPv4(m[2]);
    if (s === null || e === null) return { error: `"${it}" holds an invalid address.` };
    if (s > e) return { error: `"${it}" starts after it ends.` };
    if (s <= cidr.base || e >= cidr.base + cidr.size - 1)
      return { error: `"${it}" is not inside the subnet's usable addresses.` };
    for (const o of out) {
      if (s <= o.e && o.s <= e) return { error: `"${it}" overlaps ${o.start}-${o.end}.` };
    }
    out.push({ start: formatIPv4(s), end: formatIPv4(e), s, e });
  }
  return { pools: out.map(({ start, end }) => ({ start, end })) };
}

/** True when dotted-quad `ip` lies inside "a.b.c.d/n" (either invalid:
 * false). */
export function ipInCidr(ip: string, cidr: string): boolean {
  const a = parseIPv4(ip);
  const m = /^([0-9.]+)\/([0-9]{1,2})$/.exec(cidr.trim());
  if (a === null || !m) return false;
  const base = parseIPv4(m[1]);
  const prefix = Number(m[2]);
  if (base === null || prefix > 32) return false;
  const size = 2 ** (32 - prefix);
  return a >= base && a < base + size;
}

/** Checks a fixed IP asked for on a network with these subnets (their
 * CIDRs): "" when it is fine (or empty: the API picks), else a message.
 * The network and broadcast addresses are refused; whether the address is
 * free is the API's to say. */
export function checkFixedIp(ip: string, cidrs: string[]): string {
  const s = ip.trim();
  if (!s) return "";
  const v = parseIPv4(s);
  if (v === null) return `${s} is not an IPv4 address.`;
  const inside = cidrs.find((c) => ipInCidr(s, c));
  if (!inside) return cidrs.length ? `${s} is not inside ${cidrs.join(" or ")}.` : "The network has no subnet.";
  const c = checkCidr(inside).cidr;
  if (c && (v === c.base || v === c.base + c.size - 1)) return `${s} is the network or broadcast address of ${inside}.`;
  return "";
}

/** The networks a launch form ticks at first: the project's only usable
 * network (its own, not external, with a subnet), else none. */
export function defaultNetworks<N extends { id: string; external: boolean; subnets?: string[] }>(nets: N[]): string[] {
  const usable = nets.filter((n) => !n.external && (n.subnets?.length ?? 0) > 0);
  return usable.length === 1 ? [usable[0].id] : [];
}

/** Checks a security-group rule's remote CIDR: any prefix 0..32 (0.0.0.0/0
 * is "anywhere"), host bits zero.  "" when fine. */
export function checkRuleCidr(s: string): string {
  const m = /^\s*([0-9.]+)\/([0-9]{1,2})\s*$/.exec(s);
  if (!m) return "Enter a CIDR such as 192.0.2.0/24 (0.0.0.0/0: anywhere).";
  const ip = parseIPv4(m[1]);
  if (ip === null) return `${m[1]} is not an IPv4 address.`;
  const prefix = Number(m[2]);
  if (prefix > 32) return "The prefix length must be between /0 and /32.";
  const size = 2 ** (32 - prefix);
  const base = ip - (ip % size);
  if (base !== ip) return `Host bits are set: did you mean ${formatIPv4(base)}/${prefix}?`;
  return "";
}

/** Checks a rule's port range for its protocol: ports only for tcp/udp,
 * both or neither, 1..65535, min <= max.  "" when fine. */
export function checkPorts(protocol: string, min: string, max: string): string {
  const a = min.trim();
  const b = max.trim();
  if (protocol !== "tcp" && protocol !== "udp") return a || b ? "Ports are for tcp and udp only." : "";
  if (!a && !b) return "";
  const lo = Number(a || b);
  const hi = Number(b || a);
  if (![lo, hi].every((p) => Number.isInteger(p) && p >= 1 && p <= 65535)) return "Ports go from 1 to 65535.";
  if (lo > hi) return "The first port is after the last.";
  return "";
}
