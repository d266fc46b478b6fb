// Billing and alarms, shown when the controller has those routes
// (features.ts): the project's cost this month and its forecast, the
// budget, monthly invoices (cost over time) with their line items and a
// CSV download; alarms with their state and history; and for a cloud
// admin the price catalog and the showback of every project.

import { useState } from "preact/hooks";
import { BarChart } from "../chart";
import { api, canWrite, getSession, listAll, request } from "../lib/api";
import { alarmBadge } from "../lib/badges";
import { loadPrices, readCost } from "../lib/billing";
import { has } from "../lib/features";
import { formatMoney, formatPercent, formatRelative, formatTime, monthOf, parseMoney, quotaFraction } from "../lib/format";
import { useAsync, usePoll, useTitle } from "../hooks";
import { act, Badge, Bar, Empty, ErrorBox, FormError, PageHead, SelectField, Spinner, TextField, toast, useConfirm, useForm } from "../ui";

function Unavailable({ title, what }: { title: string; what: string }) {
  return (
    <>
      <PageHead title={title} />
      <Empty>This cloud has no {what} yet.</Empty>
    </>
  );
}

const monthLabel = (iso: string) => new Date(iso).toLocaleString("en", { month: "short", year: "2-digit", timeZone: "UTC" });

/** Downloads an API answer as a file (the token goes in a header, so a
 * plain link cannot do it). */
async function download(path: string, query: Record<string, string>, fallbackName: string) {
  const r = await request<string>("GET", path, { query, text: true });
  const cd = r.headers.get("Content-Disposition") ?? "";
  const name = /filename="([^"]+)"/.exec(cd)?.[1] ?? fallbackName;
  const url = URL.createObjectURL(new Blob([r.data], { type: r.headers.get("Content-Type") ?? "text/csv" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/* ------------------------------------------------------------ billing */

export function Billing() {
  useTitle("Billing");
  const s = getSession()!;
  const [month, setMonth] = useState<string | null>(null); // period start of the invoice shown
  const data = usePoll(
    async () => {
      const [cost, budget, months] = await Promise.all([
        api.get("/v1/cost").then(readCost),
        has("/v1/budget") ? api.get("/v1/budget").catch(() => null) : Promise.resolve(null),
        has("/v1/invoices") ? api.get("/v1/invoices").then((r) => r.invoices as any[]).catch(() => [] as any[]) : Promise.resolve([] as any[]),
      ]);
      return { cost, budget, months };
    },
    () => false,
  );
  const invoice = useAsync(
    () => (has("/v1/invoice") ? api.get("/v1/invoice", { query: month ? { start: month } : {} }) : Promise.resolve(null)),
    [month],
  );
  if (!has("/v1/cost")) return <Unavailable title="Billing" what="billing" />;
  const d = data.data;
  const cur = d?.cost.currency ?? "";
  const b = d?.budget;
  const m = monthOf();
  const inv = invoice.data;
  return (
    <>
      <PageHead title="Billing" sub={`What project ${s.project.name} costs, to the second`} />
      <ErrorBox error={data.error} retry={data.poke} />
      {!d ? (
        <Spinner />
      ) : (
        <>
          <section class="stats" aria-label="This month">
            <div class="stat">
              <span class="stat-label">Cost in {m.label} so far</span>
              <span class="stat-value" data-testid="billing-cost">
                {formatMoney(d.cost.soFar, cur)}
              </span>
              <span class="stat-sub">as of {formatRelative(d.cost.raw?.as_of)}</span>
            </div>
            <div class="stat">
              <span class="stat-label">Forecast for the month</span>
              <span class="stat-value">{formatMoney(d.cost.forecast, cur)}</span>
              <span class="stat-sub">if what runs now keeps running</span>
            </div>
            {b && (
              <div class={"stat" + (b.exceeded ? " stat-bad" : "")}>
                <span class="stat-label">Budget</span>
                {b.budget ? (
                  <>
                    <Bar
                      label={b.exceeded ? "Exceeded" : "Spent"}
                      fraction={quotaFraction(b.spent_micros, b.budget.amount_micros)}
                      text={`${formatMoney(b.spent_micros, b.budget.currency)} of ${formatMoney(b.budget.amount_micros, b.budget.currency)}`}
                    />
                    <span class="stat-sub">
                      alerts at {(b.budget.thresholds ?? []).map((t: number) => t + " %").join(", ")}
                      {b.budget.block_new_instances ? "; new instances blocked once reached" : ""}
                      {b.blocking ? " — blocking now" : ""}
                    </span>
                  </>
                ) : (
                  <span class="stat-sub">No budget set for this project.</span>
                )}
              </div>
            )}
          </section>
          {d.months.length > 0 && (
            <div class="grid-2">
              <section class="panel" aria-labelledby="months-h">
                <h2 id="months-h">Cost over time</h2>
                <BarChart
                  title="Cost per month"
                  bars={[...d.months].reverse().map((x) => ({ label: monthLabel(x.period.start), value: x.total_micros, note: x.final ? "" : "(so far)" }))}
                  fmt={(v) => formatMoney(v, cur, { decimals: v >= 100_000_000 ? 0 : 2 })}
                />
              </section>
              <section class="panel" aria-labelledby="inv-h">
                <h2 id="inv-h">Invoices</h2>
                <table class="table compact" aria-label="Invoices">
                  <thead>
                    <tr>
                      <th scope="col">Month</th>
                      <th scope="col" class="right">
                        Total
                      </th>
                      <th scope="col">State</th>
                    </tr>
                  </thead>
                  <tbody>
                    {d.months.filter((x, k) => k === 0 || x.total_micros !== 0).map((x) => (
                      <tr key={x.period.start}>
                        <td data-label="Month">
                          <button type="button" class="link" aria-pressed={(month ?? d.months[0]?.period.start) === x.period.start} onClick={() => setMonth(x.period.start)}>
                            {new Date(x.period.start).toLocaleString("en", { month: "long", year: "numeric", timeZone: "UTC" })}
                          </button>
                        </td>
                        <td data-label="Total" class="right num">
                          {formatMoney(x.total_micros, x.currency ?? cur)}
                        </td>
                        <td data-label="State">{x.final ? "final" : "open"}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </section>
            </div>
          )}
        </>
      )}
      {inv && (
        <section class="panel" aria-labelledby="lines-h">
          <div class="panel-head">
            <h2 id="lines-h">
              Invoice {formatTime(inv.period?.start).slice(0, 7)} {inv.final ? "" : "(open)"}
            </h2>
            <button type="button" onClick={() => download("/v1/invoice", { start: inv.period.start, end: inv.period.end, format: "csv" }, "invoice.csv").catch((e) => toast(String(e.message ?? e), "bad"))}>
              Download CSV
            </button>
          </div>
          {(inv.lines ?? []).length === 0 ? (
            <Empty>Nothing billed in this period.</Empty>
          ) : (
            <table class="table compact" aria-label="Invoice lines">
              <thead>
                <tr>
                  <th scope="col">Resource</th>
                  <th scope="col">Quantity</th>
                  <th scope="col" class="right">
                    Unit price
                  </th>
                  <th scope="col" class="right">
                    Amount
                  </th>
                </tr>
              </thead>
              <tbody>
                {inv.lines.map((l: any, k: number) => (
                  <tr key={k}>
                    <td data-label="Resource">{l.description || `${l.resource_type} ${l.resource_name}`}</td>
                    <td data-label="Quantity">{l.quantity}</td>
                    <td data-label="Unit price" class="right num">
                      {formatMoney(l.unit_price_micros, inv.currency ?? cur, { exact: true })} / {l.unit}
                    </td>
                    <td data-label="Amount" class="right num">
                      {formatMoney(l.amount_micros, inv.currency ?? cur)}
                    </td>
                  </tr>
                ))}
              </tbody>
              <tfoot>
                {(inv.subtotals ?? []).map((st: any) => (
                  <tr key={st.resource_type}>
                    <td colSpan={3}>Subtotal {st.resource_type}</td>
                    <td class="right num">{formatMoney(st.amount_micros, inv.currency ?? cur)}</td>
                  </tr>
                ))}
                <tr>
                  <th scope="row" colSpan={3}>
                    Total
                  </th>
                  <td class="right num">
                    <strong>{formatMoney(inv.total_micros, inv.currency ?? cur)}</strong>
                  </td>
                </tr>
              </tfoot>
            </table>
          )}
        </section>
      )}
    </>
  );
}

/* ------------------------------------------------------------- alarms */

const COMPARISONS: Record<string, string> = { gt: ">", ge: "≥", lt: "<", le: "≤" };
const ALARM_METRICS = ["cpu", "memory", "disk_read_bytes", "disk_write_bytes", "net_rx_bytes", "net_tx_bytes", "disk_read_ops", "disk_write_ops", "net_rx_packets", "net_tx_packets"];

export function Alarms() {
  useTitle("Alarms");
  const s = getSession()!;
  const write = canWrite(s);
  const list = usePoll(
    async () => {
      const [alarms, instances] = await Promise.all([listAll<any>("/v1/alarms", "alarms"), listAll<any>("/v1/instances", "instances")]);
      return { alarms, instances };
    },
    () => false,
  );
  const [hist, setHist] = useState<string | null>(null);
  const history = useAsync(() => (hist ? listAll<any>(`/v1/alarms/${hist}/history`, "history") : Promise.resolve(null)), [hist]);
  const confirm = useConfirm();
  const f = useForm(
    { name: "", metric: "cpu", instance: "", statistic: "avg", comparison: "gt", threshold: "80", window_s: "60", evaluation_periods: "2", webhook_url: "" },
    { window_s: ["window"], evaluation_periods: ["periods"], webhook_url: ["webhook"] },
  );
  if (!has("/v1/alarms")) return <Unavailable title="Alarms" what="monitoring" />;
  const submit = f.submit(
    async (v) => {
      const body: Record<string, unknown> = {
        name: v.name.trim(),
        metric: v.metric,
        statistic: v.statistic,
        comparison: v.comparison,
        threshold: Number(v.threshold),
        window_s: Number(v.window_s),
        evaluation_periods: Number(v.evaluation_periods),
      };
      if (v.instance) body.instance = v.instance;
      if (v.webhook_url.trim()) body.webhook_url = v.webhook_url.trim();
      await api.post("/v1/alarms", body, { idempotent: true });
      toast(`Alarm ${v.name} created`);
      f.setValues({ ...v, name: "" });
      list.poke();
    },
    (v) => ({
      name: v.name.trim() ? "" : "Give the alarm a name.",
      threshold: v.threshold.trim() !== "" && Number.isFinite(Number(v.threshold)) ? "" : "A number.",
      window_s: /^\d+$/.test(v.window_s) && +v.window_s >= 1 && +v.window_s <= 86400 ? "" : "From 1 to 86400 seconds.",
      evaluation_periods: /^\d+$/.test(v.evaluation_periods) && +v.evaluation_periods >= 1 && +v.evaluation_periods <= 100 ? "" : "From 1 to 100.",
    }),
  );
  const del = async (a: any) => {
    if (!(await confirm.ask(`Delete alarm ${a.name}?`, "Its history goes with it.", "Delete alarm"))) return;
    await act(`Deleted ${a.name}`, () => api.del(`/v1/alarms/${a.id}`));
    list.poke();
  };
  const instName = (id: string | null) => (id ? (list.data?.instances.find((i: any) => i.id === id)?.name ?? id.slice(0, 8)) : "whole project");
  return (
    <>
      <PageHead title="Alarms" sub="Threshold rules on metrics: OK, ALARM, or not enough data" />
      {confirm.node}
      <ErrorBox error={list.error} retry={list.poke} />
      {!list.data ? (
        <Spinner />
      ) : list.data.alarms.length === 0 ? (
        <Empty>No alarms.</Empty>
      ) : (
        <table class="table" aria-label="Alarms">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">State</th>
              <th scope="col">Rule</th>
              <th scope="col">On</th>
              <th scope="col">Since</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {list.data.alarms.map((a: any) => (
              <tr key={a.id}>
                <td data-label="Name">{a.name}</td>
                <td data-label="State">
                  <Badge badge={alarmBadge(a.state)} /> {a.state_value !== null && a.state_value !== undefined && <span class="muted small">{a.metric === "cpu" ? formatPercent(a.state_value) : a.state_value.toFixed(1)}</span>}
                </td>
                <td data-label="Rule">
                  {a.statistic}({a.metric}) {COMPARISONS[a.comparison] ?? a.comparison} {a.threshold} for {a.evaluation_periods} × {a.window_s} s
                </td>
                <td data-label="On">{instName(a.instance_id)}</td>
                <td data-label="Since">{formatRelative(a.state_changed_at)}</td>
                <td data-label="Actions">
                  <div class="btn-row">
                    <button type="button" aria-expanded={hist === a.id} onClick={() => setHist(hist === a.id ? null : a.id)}>
                      History
                    </button>
                    {write && (
                      <button type="button" class="danger" aria-label={`Delete ${a.name}`} onClick={() => del(a)}>
                        Delete
                      </button>
                    )}
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {hist && (
        <section class="panel" aria-labelledby="hist-h">
          <h2 id="hist-h">History</h2>
          {!history.data ? (
            <Spinner />
          ) : (
            <ol class="events">
              {[...history.data].reverse().map((h: any) => (
                <li key={h.id}>
                  <time class="muted" dateTime={h.at}>
                    {formatTime(h.at)}
                  </time>{" "}
                  <strong>{h.kind === "state" ? `${h.old_state ?? "—"} → ${h.new_state}` : h.kind}</strong> {h.detail}
                  {h.webhook_status && h.webhook_status !== "none" && <span class="muted"> (webhook {h.webhook_status})</span>}
                </li>
              ))}
            </ol>
          )}
        </section>
      )}
      {write && list.data && (
        <form class="panel form grid2" onSubmit={submit} noValidate aria-label="Create an alarm">
          <h2 class="span2">Create an alarm</h2>
          <FormError error={f.errors.form} />
          <TextField label="Name" value={f.values.name} onValue={f.set("name")} error={f.err("name")} autocomplete="off" />
          <SelectField
            label="Instance"
            value={f.values.instance}
            onValue={f.set("instance")}
            error={f.err("instance")}
            placeholder="The whole project (average)"
            options={list.data.instances.map((i: any) => ({ value: i.id, label: i.name }))}
          />
          <SelectField label="Metric" value={f.values.metric} onValue={f.set("metric")} error={f.err("metric")} options={ALARM_METRICS.map((m) => ({ value: m, label: m }))} />
          <SelectField
            label="Statistic"
            value={f.values.statistic}
            onValue={f.set("statistic")}
            error={f.err("statistic")}
            options={["avg", "max", "min"].map((x) => ({ value: x, label: x }))}
          />
          <SelectField
            label="Comparison"
            value={f.values.comparison}
            onValue={f.set("comparison")}
            error={f.err("comparison")}
            options={Object.entries(COMPARISONS).map(([k, v]) => ({ value: k, label: `${v} (${k})` }))}
          />
          <TextField label="Threshold" inputMode="decimal" value={f.values.threshold} onValue={f.set("threshold")} error={f.err("threshold")} hint="CPU in percent, memory in bytes, rates per second." />
          <TextField label="Window (seconds)" type="number" min={1} value={f.values.window_s} onValue={f.set("window_s")} error={f.err("window_s")} />
          <TextField label="Periods in a row" type="number" min={1} max={100} value={f.values.evaluation_periods} onValue={f.set("evaluation_periods")} error={f.err("evaluation_periods")} />
          <TextField class="span2" label="Webhook URL (optional)" type="url" value={f.values.webhook_url} onValue={f.set("webhook_url")} error={f.err("webhook_url")} hint="Receives an HTTP POST on every state change." />
          <div class="span2">
            <button class="primary" type="submit" disabled={f.busy}>
              Create alarm
            </button>
          </div>
        </form>
      )}
    </>
  );
}

/* -------------------------------------------------- prices (cloud admin) */

export function Prices() {
  useTitle("Prices");
  const data = useAsync(async () => {
    const [prices, flavors, showback] = await Promise.all([
      loadPrices(),
      listAll<any>("/v1/flavors", "flavors"),
      has("/v1/invoices/showback") ? api.get("/v1/invoices/showback").catch(() => null) : Promise.resolve(null),
    ]);
    return { prices, flavors, showback };
  });
  const f = useForm({ meter: "instance", flavor: "", price: "", currency: "", effective_from: "" }, { price: ["unit_price_micros", "price"] });
  if (!has("/v1/prices")) return <Unavailable title="Prices" what="billing" />;
  const cur = data.data?.prices?.[0]?.currency ?? "";
  const submit = f.submit(
    async (v) => {
      const body: Record<string, unknown> = { meter: v.meter, unit_price_micros: parseMoney(v.price) };
      if (v.meter === "instance") body.flavor = v.flavor;
      if (v.currency.trim()) body.currency = v.currency.trim().toUpperCase();
      if (v.effective_from) body.effective_from = new Date(v.effective_from).toISOString();
      await api.post("/v1/prices", body);
      toast("Price added");
      f.setValues({ ...v, price: "" });
      data.reload();
    },
    (v) => ({
      flavor: v.meter === "instance" && !v.flavor ? "Choose the flavor this price is for." : "",
      price: parseMoney(v.price) === null || (parseMoney(v.price) ?? -1) < 0 ? "A price such as 0.0125 (at most 6 decimals)." : "",
      currency: !v.currency || /^[A-Za-z]{3}$/.test(v.currency.trim()) ? "" : "An ISO 4217 code such as EUR.",
    }),
  );
  const sb = data.data?.showback;
  return (
    <>
      <PageHead title="Prices" sub="The price catalog: changes apply from their effective time and never rewrite the past" />
      <ErrorBox error={data.error} retry={data.reload} />
      {!data.data ? (
        <Spinner />
      ) : (
        <>
          {(data.data.prices ?? []).length === 0 ? (
            <Empty>No prices yet: everything is free.</Empty>
          ) : (
            <table class="table" aria-label="Prices">
              <thead>
                <tr>
                  <th scope="col">Meter</th>
                  <th scope="col">Flavor</th>
                  <th scope="col" class="right">
                    Price
                  </th>
                  <th scope="col">From</th>
                  <th scope="col">Until</th>
                </tr>
              </thead>
              <tbody>
                {(data.data.prices ?? []).map((p) => (
                  <tr key={p.raw.id}>
                    <td data-label="Meter">{p.meter}</td>
                    <td data-label="Flavor">{p.keyName || "—"}</td>
                    <td data-label="Price" class="right num">
                      {formatMoney(p.micro, p.currency, { exact: true })} / {p.raw.unit}
                    </td>
                    <td data-label="From">{formatTime(p.raw.effective_from)}</td>
                    <td data-label="Until">{p.raw.effective_until ? formatTime(p.raw.effective_until) : "—"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <form class="panel form grid2" onSubmit={submit} noValidate aria-label="Add a price">
            <h2 class="span2">Add a price</h2>
            <FormError error={f.errors.form} />
            <SelectField
              label="Meter"
              value={f.values.meter}
              onValue={f.set("meter")}
              error={f.err("meter")}
              options={[
                { value: "instance", label: "instance running time (per hour, per flavor)" },
                { value: "disk", label: "instance disk (per GiB-month)" },
                { value: "image", label: "image storage (per GiB-month)" },
              ]}
            />
            {f.values.meter === "instance" ? (
              <SelectField
                label="Flavor"
                value={f.values.flavor}
                onValue={f.set("flavor")}
                error={f.err("flavor")}
                placeholder="Choose…"
                options={data.data.flavors.map((x: any) => ({ value: x.name, label: x.name }))}
              />
            ) : (
              <div />
            )}
            <TextField label="Unit price" inputMode="decimal" value={f.values.price} onValue={f.set("price")} error={f.err("price")} hint="In currency units, e.g. 0.0125; stored exactly as micro-units." />
            <TextField label="Currency" value={f.values.currency} onValue={f.set("currency")} error={f.err("currency")} placeholder={cur || "EUR"} hint={cur ? `The catalog's currency is ${cur}.` : "The first price sets the catalog's currency."} />
            <TextField label="Effective from (optional)" type="datetime-local" value={f.values.effective_from} onValue={f.set("effective_from")} error={f.err("effective_from")} hint="Empty: now. Never in the past." />
            <div class="span2">
              <button class="primary" type="submit" disabled={f.busy}>
                Add price
              </button>
            </div>
          </form>
          {sb && (
            <section class="panel" aria-labelledby="sb-h">
              <h2 id="sb-h">Showback: cost by project this month</h2>
              {(sb.projects ?? []).length === 0 ? (
                <Empty>No project used anything billable this month.</Empty>
              ) : (
                <table class="table compact" aria-label="Showback">
                  <thead>
                    <tr>
                      <th scope="col">Project</th>
                      <th scope="col" class="right">
                        Total
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {(sb.projects ?? []).map((p: any) => (
                      <tr key={p.project?.id}>
                        <td data-label="Project">{p.project?.name ?? "—"}</td>
                        <td data-label="Total" class="right num">
                          {formatMoney(p.total_micros, sb.currency ?? cur)}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </section>
          )}
        </>
      )}
    </>
  );
}

/* --------------------------------------- a project's budget (cloud admin) */

export function BudgetEditor({ projectId }: { projectId: string }) {
  const d = useAsync(() => api.get("/v1/budget", { query: { project: projectId } }), [projectId]);
  const confirm = useConfirm();
  const f = useForm({ amount: "", thresholds: "80, 100", block: "false" }, { amount: ["amount_micros"] });
  const b = d.data;
  const [seeded, setSeeded] = useState(false);
  if (b && !seeded) {
    setSeeded(true);
    if (b.budget)
      f.setValues({
        amount: formatMoney(b.budget.amount_micros, "", { exact: true }).replace(/,/g, ""),
        thresholds: (b.budget.thresholds ?? []).join(", "),
        block: b.budget.block_new_instances ? "true" : "false",
      });
  }
  const submit = f.submit(
    async (v) => {
      await api.put(
        "/v1/budget",
        {
          amount_micros: parseMoney(v.amount),
          thresholds: v.thresholds.split(/[\s,]+/).filter(Boolean).map(Number),
          block_new_instances: v.block === "true",
        },
        { query: { project: projectId } },
      );
      toast("Budget saved");
      d.reload();
    },
    (v) => ({
      amount: (parseMoney(v.amount) ?? 0) > 0 ? "" : "A monthly amount above 0, e.g. 250.",
      thresholds: /^\s*\d+(\s*[, ]\s*\d+)*\s*$/.test(v.thresholds) ? "" : "Percentages, e.g. 80, 100.",
    }),
  );
  const remove = async () => {
    if (!(await confirm.ask("Remove the budget?", "The project then has no spending limit or alerts.", "Remove budget"))) return;
    await act("Budget removed", () => api.del("/v1/budget", { query: { project: projectId } }));
    setSeeded(false);
    f.setValues({ amount: "", thresholds: "80, 100", block: "false" });
    d.reload();
  };
  return (
    <form class="panel form" onSubmit={submit} noValidate aria-labelledby="budget-h">
      <h2 id="budget-h">Budget</h2>
      {confirm.node}
      <ErrorBox error={d.error} />
      {b && (
        <p class="muted">
          Spent this month: {formatMoney(b.spent_micros, b.currency ?? "")}; forecast {formatMoney(b.forecast_micros, b.currency ?? "")}
          {b.exceeded ? " — over budget" : ""}
        </p>
      )}
      <FormError error={f.errors.form} />
      <TextField label="Monthly amount" inputMode="decimal" value={f.values.amount} onValue={f.set("amount")} error={f.err("amount")} hint={b?.currency ? `In ${b.currency}.` : undefined} />
      <TextField label="Alert thresholds (%)" value={f.values.thresholds} onValue={f.set("thresholds")} error={f.err("thresholds")} />
      <SelectField
        label="When reached"
        value={f.values.block}
        onValue={f.set("block")}
        options={[
          { value: "false", label: "alert only" },
          { value: "true", label: "alert and block new instances" },
        ]}
      />
      <div class="btn-row">
        <button class="primary" type="submit" disabled={f.busy}>
          Save budget
        </button>
        {b?.budget && (
          <button type="button" class="danger" onClick={remove}>
            Remove budget
          </button>
        )}
      </div>
    </form>
  );
}
