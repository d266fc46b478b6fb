// IPv4 CIDR and allocation-pool checks (web/src/lib/net.ts).
import { checkCidr, checkFixedIp, checkPools, checkPorts, checkRuleCidr, defaultNetworks, formatIPv4, ipInCidr, parseIPv4 } from "../../../web/src/lib/net";

describe("parseIPv4", () => {
  it("parses dotted quads and refuses the rest", () => {
    expect(parseIPv4("10.0.0.1")).toBe(0x0a000001);
    expect(parseIPv4("255.255.255.255")).toBe(0xffffffff);
    expect(formatIPv4(0xc0a80101)).toBe("192.168.1.1");
    for (const bad of ["10.0.0", "10.0.0.256", "10.0.0.01", "a.b.c.d", "1.2.3.4.5", ""]) expect(parseIPv4(bad)).toBeNull();
  });
});

describe("checkCidr", () => {
  it("accepts networks and refuses set host bits with a suggestion", () => {
    expect(checkCidr("10.0.0.0/24").cidr).toEqual({ base: 0x0a000000, prefix: 24, size: 256 });
    expect(checkCidr("10.0.0.5/24").error).toContain("10.0.0.0/24");
    expect(checkCidr("10.0.0.0").error).toBeDefined();
    expect(checkCidr("10.0.0.0/31").error).toContain("/29");
    expect(checkCidr("300.0.0.0/24").error).toContain("not an IPv4");
  });
});

describe("checkPools", () => {
  const c = checkCidr("10.0.0.0/24").cidr!;
  it("accepts ranges inside the subnet", () => {
    expect(checkPools("", c).pools).toEqual([]);
    expect(checkPools("10.0.0.10-10.0.0.99, 10.0.0.100 - 10.0.0.200", c).pools).toEqual([
      { start: "10.0.0.10", end: "10.0.0.99" },
      { start: "10.0.0.100", end: "10.0.0.200" },
    ]);
  });
  it("refuses reversed, outside, network/broadcast and overlapping ranges", () => {
    expect(checkPools("10.0.0.99-10.0.0.10", c).error).toContain("starts after");
    expect(checkPools("10.0.1.1-10.0.1.9", c).error).toContain("inside");
    expect(checkPools("10.0.0.0-10.0.0.9", c).error).toContain("inside");
    expect(checkPools("10.0.0.200-10.0.0.255", c).error).toContain("inside");
    expect(checkPools("10.0.0.10-10.0.0.50\n10.0.0.40-10.0.0.60", c).error).toContain("overlaps");
    expect(checkPools("10.0.0.10", c).error).toBeDefined();
  });
});

describe("ipInCidr and checkFixedIp", () => {
  it("places an address in a prefix", () => {
    expect(ipInCidr("10.0.0.7", "10.0.0.0/24")).toBe(true);
    expect(ipInCidr("10.0.1.7", "10.0.0.0/24")).toBe(false);
    expect(ipInCidr("10.0.0.255", "10.0.0.0/24")).toBe(true);
    expect(ipInCidr("nope", "10.0.0.0/24")).toBe(false);
    expect(ipInCidr("10.0.0.1", "garbage")).toBe(false);
  });
  it("says what is wrong with a fixed IP, and nothing when it is empty or fine", () => {
    expect(checkFixedIp("", ["10.0.0.0/24"])).toBe("");
    expect(checkFixedIp("10.0.0.50", ["10.0.0.0/24"])).toBe("");
    expect(checkFixedIp("192.168.9.9", ["10.0.0.0/24", "10.1.0.0/16"])).toContain("10.0.0.0/24 or 10.1.0.0/16");
    expect(checkFixedIp("10.0.0.0", ["10.0.0.0/24"])).toContain("network or broadcast");
    expect(checkFixedIp("10.0.0.255", ["10.0.0.0/24"])).toContain("network or broadcast");
    expect(checkFixedIp("10.0.0.300", ["10.0.0.0/24"])).toContain("not an IPv4");
    expect(checkFixedIp("10.0.0.5", [])).toContain("no subnet");
  });
});

describe("defaultNetworks", () => {
  const n = (id: string, external = false, subnets = ["s"]) => ({ id, external, subnets });
  it("ticks the project's only usable network", () => {
    expect(defaultNetworks([n("a")])).toEqual(["a"]);
    expect(defaultNetworks([n("a"), n("ext", true)])).toEqual(["a"]);
    expect(defaultNetworks([n("a"), n("b", false, [])])).toEqual(["a"]);
  });
  it("ticks nothing when there is a choice to make or nothing to choose", () => {
    expect(defaultNetworks([n("a"), n("b")])).toEqual([]);
    expect(defaultNetworks([])).toEqual([]);
    expect(defaultNetworks([n("ext", true)])).toEqual([]);
  });
});

describe("security-group rule checks", () => {
  it("takes any prefix for a rule's remote CIDR, host bits zero", () => {
    expect(checkRuleCidr("0.0.0.0/0")).toBe("");
    expect(checkRuleCidr("192.0.2.7/32")).toBe("");
    expect(checkRuleCidr("192.0.2.7/24")).toContain("192.0.2.0/24");
    expect(checkRuleCidr("192.0.2.0/33")).toContain("/32");
    expect(checkRuleCidr("anywhere")).toContain("CIDR");
  });
  it("wants ports only for tcp and udp, in order, in range", () => {
    expect(checkPorts("tcp", "22", "22")).toBe("");
    expect(checkPorts("udp", "53", "")).toBe("");
    expect(checkPorts("tcp", "", "")).toBe("");
    expect(checkPorts("icmp", "", "")).toBe("");
    expect(checkPorts("icmp", "22", "")).toContain("tcp and udp");
    expect(checkPorts("tcp", "80", "22")).toContain("after");
    expect(checkPorts("tcp", "0", "22")).toContain("65535");
    expect(checkPorts("tcp", "1", "70000")).toContain("65535");
  });
});
