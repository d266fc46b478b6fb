// The project's network topology as a drawing (the Topology view): the
// external network(s) on top, the instances in a row under them with their
// floating IPs, and each tenant network as a horizontal bus below, every
// port a vertical line from its instance to its network's bus labelled
// with its address.  A pure layout (unit-tested): coordinates in SVG user
// units, no library.

export interface TopoNetwork {
  id: string;
  name: string;
  external: boolean;
  cidrs: string[];
}

export interface TopoInstance {
  id: string;
  name: string;
  status: string;
  addresses: { network_id: string; ip: string; floating_ip: string | null }[];
}

export interface Bus {
  id: string;
  label: string;
  external: boolean;
  y: number;
  x1: number;
  x2: number;
}

export interface Box {
  id: string;
  name: string;
  status: string;
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface Link {
  kind: "port" | "floating";
  instance: string;
  network: string;
  label: string;
  x: number;
  y1: number;
  y2: number;
}

export interface Layout {
  width: number;
  height: number;
  buses: Bus[];
  boxes: Box[];
  links: Link[];
}

export const BOX_W = 150;
export const BOX_H = 52;
const GAP = 30;
const LEFT = 20;
const BUS_GAP = 46;

export function layoutTopology(networks: TopoNetwork[], instances: TopoInstance[]): Layout {
  const ext = networks.filter((n) => n.external);
  const own = networks.filter((n) => !n.external);
  const width = Math.max(640, LEFT * 2 + instances.length * (BOX_W + GAP) - GAP);
  const buses: Bus[] = [];
  let y = 24;
  for (const n of ext) {
    buses.push({ id: n.id, label: `${n.name} (external${n.cidrs.length ? ", " + n.cidrs.join(", ") : ""})`, external: true, y, x1: LEFT, x2: width - LEFT });
    y += 30;
  }
  const boxTop = y + (ext.length ? 56 : 10);
  const boxes: Box[] = instances.map((i, k) => ({ id: i.id, name: i.name, status: i.status, x: LEFT + k * (BOX_W + GAP), y: boxTop, w: BOX_W, h: BOX_H }));
  let busY = boxTop + BOX_H + 60;
  const busOf = new Map<string, Bus>();
  for (const n of own) {
    const b = { id: n.id, label: `${n.name}${n.cidrs.length ? " " + n.cidrs.join(", ") : " (no subnet)"}`, external: false, y: busY, x1: LEFT, x2: width - LEFT };
    buses.push(b);
    busOf.set(n.id, b);
    busY += BUS_GAP;
  }
  const links: Link[] = [];
  const topExt = buses.find((b) => b.external);
  instances.forEach((i, k) => {
    const box = boxes[k];
    const ports = i.addresses.filter((a) => busOf.has(a.network_id));
    ports.forEach((a, j) => {
      const x = box.x + ((j + 1) * box.w) / (ports.length + 1);
      links.push({ kind: "port", instance: i.id, network: a.network_id, label: a.ip, x, y1: box.y + box.h, y2: busOf.get(a.network_id)!.y });
      if (a.floating_ip && topExt)
        links.push({ kind: "floating", instance: i.id, network: topExt.id, label: a.floating_ip, x, y1: topExt.y, y2: box.y });
    });
  });
  const height = (own.length ? busY - BUS_GAP : boxTop + BOX_H) + 30;
  return { width, height, buses, boxes, links };
}
