// The topology drawing's layout (web/src/lib/topology.ts).
import { BOX_W, layoutTopology } from "../../../web/src/lib/topology";

const nets = [
  { id: "pub", name: "public", external: true, cidrs: ["203.0.113.0/24"] },
  { id: "a", name: "default", external: false, cidrs: ["10.0.0.0/24"] },
  { id: "b", name: "back", external: false, cidrs: [] },
];
const inst = [
  { id: "i1", name: "web1", status: "running", addresses: [{ network_id: "a", ip: "10.0.0.5", floating_ip: "203.0.113.9" }, { network_id: "b", ip: "10.1.0.5", floating_ip: null }] },
  { id: "i2", name: "lonely", status: "stopped", addresses: [] },
];

describe("layoutTopology", () => {
  it("puts the external network on top, the instances below, the tenant networks under them", () => {
    const l = layoutTopology(nets, inst);
    const [pub, a, b] = l.buses;
    expect(pub.external).toBe(true);
    expect(pub.label).toContain("external");
    const box = l.boxes[0];
    expect(pub.y).toBeLessThan(box.y);
    expect(a.y).toBeGreaterThan(box.y + box.h);
    expect(b.y).toBeGreaterThan(a.y);
    expect(b.label).toContain("no subnet");
    expect(l.height).toBeGreaterThan(b.y);
  });
  it("draws one line per port down to its bus, and the floating IP up to the external one", () => {
    const l = layoutTopology(nets, inst);
    const ports = l.links.filter((k) => k.kind === "port");
    expect(ports.map((p) => [p.instance, p.network, p.label])).toEqual([
      ["i1", "a", "10.0.0.5"],
      ["i1", "b", "10.1.0.5"],
    ]);
    for (const p of ports) {
      expect(p.x).toBeGreaterThan(l.boxes[0].x);
      expect(p.x).toBeLessThan(l.boxes[0].x + BOX_W);
      expect(p.y2).toBe(l.buses.find((b) => b.id === p.network)!.y);
    }
    const f = l.links.filter((k) => k.kind === "floating");
    expect(f).toHaveLength(1);
    expect(f[0].label).toBe("203.0.113.9");
    expect(f[0].y1).toBe(l.buses[0].y);
    expect(f[0].y2).toBe(l.boxes[0].y);
  });
  it("keeps instances apart and grows with them", () => {
    const many = Array.from({ length: 8 }, (_, k) => ({ id: "i" + k, name: "n" + k, status: "running", addresses: [] }));
    const l = layoutTopology(nets, many);
    for (let k = 1; k < l.boxes.length; k++) expect(l.boxes[k].x).toBeGreaterThanOrEqual(l.boxes[k - 1].x + BOX_W);
    expect(l.width).toBeGreaterThan(l.boxes[7].x + BOX_W);
    expect(layoutTopology([], []).width).toBe(640);
  });
});
