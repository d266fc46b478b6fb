// IPv4 CIDR and allocation-pool checks (web/src/lib/net.ts).
import { checkCidr, checkPools, formatIPv4, parseIPv4 } from "../../../web/src/lib/net";

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
