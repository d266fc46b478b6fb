// Billing as the portal sees it: prices, this month's cost and forecast,
// invoices and budgets — shown only when the controller has the routes
// (features.ts).  Money is integer micro-units with a currency.  The
// readers below accept the shapes of docs/openapi.json and tolerate
// missing fields (a view shows "—" rather than breaking).

import { api, listAll } from "./api";
import { has } from "./features";
import { toMs } from "./format";

export interface Price {
  meter: string;
  key: string; // flavor id (meter instance) or ""
  keyName: string;
  micro: number;
  currency: string;
  from: number | null;
  until: number | null;
  raw: any;
}

export type Prices = Price[] | null;

export function billingEnabled(): boolean {
  return has("/v1/cost");
}

function num(o: any, ...keys: string[]): number | null {
  for (const k of keys) {
    const v = o?.[k];
    if (typeof v === "number" && Number.isFinite(v)) return v;
  }
  return null;
}

function str(o: any, ...keys: string[]): string {
  for (const k of keys) {
    const v = o?.[k];
    if (typeof v === "string") return v;
  }
  return "";
}

export function readPrice(p: any): Price {
  const flavor = p?.flavor;
  return {
    meter: str(p, "meter"),
    key: typeof flavor === "object" && flavor ? str(flavor, "id") : str(p, "price_key", "flavor_id", "key"),
    keyName: typeof flavor === "object" && flavor ? str(flavor, "name") : typeof flavor === "string" ? flavor : str(p, "price_key_name", "flavor_name", "key_name"),
    micro: num(p, "unit_price_micros", "unit_price_micro", "price_micros", "micros") ?? 0,
    currency: str(p, "currency"),
    from: toMs(p?.effective_from ?? null),
    until: toMs(p?.effective_until ?? null),
    raw: p,
  };
}

/** The price catalog, or null when the cloud has no billing. */
export async function loadPrices(): Promise<Prices> {
  if (!has("/v1/prices")) return null;
  try {
    const rows = await listAll<any>("/v1/prices", "prices");
    return rows.map(readPrice);
  } catch {
    return null;
  }
}

/** The price in force at `now` for (meter, key). */
export function priceAt(prices: Prices, meter: string, key: string, now = Date.now(), keyName = ""): Price | null {
  if (!prices) return null;
  let best: Price | null = null;
  for (const p of prices) {
    if (p.meter !== meter) continue;
    if (key || keyName) {
      if (p.key !== key && (!keyName || p.keyName !== keyName)) continue;
    }
    if (p.from !== null && p.from > now) continue;
    if (p.until !== null && p.until <= now) continue;
    if (!best || (p.from ?? 0) >= (best.from ?? 0)) best = p;
  }
  return best;
}

/** A flavor's hourly price (meter "instance", keyed by flavor). */
export function flavorPrice(prices: Prices, flavor: { id: string; name: string }): Price | null {
  return priceAt(prices, "instance", flavor.id, Date.now(), flavor.name);
}

export interface Cost {
  currency: string;
  soFar: number | null;
  forecast: number | null;
  start: number | null;
  end: number | null;
  raw: any;
}

export function readCost(c: any): Cost {
  return {
    currency: str(c, "currency"),
    soFar: num(c, "so_far_micros", "cost_micros", "total_micros", "amount_micros", "to_date_micros", "month_to_date_micros"),
    forecast: num(c, "forecast_micros", "forecast_total_micros", "projected_micros"),
    start: toMs(c?.period?.start ?? c?.start ?? null),
    end: toMs(c?.period?.end ?? c?.end ?? null),
    raw: c,
  };
}

export async function loadCost(project?: string): Promise<Cost | null> {
  if (!has("/v1/cost")) return null;
  try {
    return readCost(await api.get("/v1/cost", { query: { project } }));
  } catch {
    return null;
  }
}
