// The portal in a real browser (Debian's headless Chromium driven by
// playwright-core) against a real cloud (tests/web/cloud.mjs: nubod with
// the built portal, one nubo-hostd, the nubo-tiny image): a member logs
// in with the keyboard, is offered a default network (a bad CIDR refused),
// launches an instance on it with the default security group, a fixed IP
// (one outside the subnet refused) and a server group, watches it reach
// running, follows its console to the guest's ready marker (which must
// carry the address the portal shows, got by DHCP), sees its address and
// floating IP in the list and the detail, makes a network, a subnet, a
// security-group rule and moves a floating IP in the networking views,
// sees the topology, stops and deletes the instance; a reader sees
// everything and no button, and forced requests are refused; admin views
// are hidden from a member and refused by the API; a member of another
// project sees nothing of the first.  A second cloud of fake-driver
// agents carries the admin's Migrate (to a host, by the scheduler,
// cancelled), All instances and Drain/Undrain.  On the way it checks how
// nubod serves the portal (headers, caching, path traversal), takes
// screenshots of the main pages (build/web-test-artifacts/) and measures
// the dashboard's page weight and time to interactive.
//
// Run with tests/web/run.sh (or: node --test tests/web/browser.test.mjs
// after building nubo, the guest image and the portal).

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Cloud, PASSWORD, ROOT, waitFor } from "./cloud.mjs";

const require = createRequire(join(ROOT, "web", "package.json"));
const { chromium } = require("playwright-core");

const ART = join(ROOT, "build", "web-test-artifacts");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const READY = "NUBO-READY";
const BOOT_MS = 180000; // TCG on a busy 2-core machine

let cloud, ctx, profile;
let paths = new Set(); // the API's routes (docs/openapi.json as nubod serves it)
const has = (p) => paths.has(p);
const cspViolations = [];
const pageErrors = [];
const figures = {};

async function newPage(width = 1280, height = 860) {
  const page = await ctx.newPage();
  await page.setViewportSize({ width, height });
  page.on("console", (m) => {
    if (/Content.Security.Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => console.error("Content-Security-Policy violation: " + e.violatedDirective + " " + e.blockedURI));
  });
  return page;
}

async function shot(page, name) {
  await page.screenshot({ path: join(ART, name + ".png"), fullPage: true });
}

/** Screenshots of a view at 1280x800 and at 390x844 (a phone):
 * NAME-wide.png and NAME-phone.png; the page keeps its size after. */
async function shots(page, name) {
  const before = page.viewportSize();
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.screenshot({ path: join(ART, name + "-wide.png"), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(ART, name + "-phone.png"), fullPage: true });
  await page.setViewportSize(before);
}

/** Records every text the page's heading badge shows (a state that lasts
 * a second is seen even when no assertion polls at that moment). */
async function recordBadges(page) {
  await page.evaluate(() => {
    window.__badges = [];
    const note = () => {
      const b = document.querySelector(".page-head .badge");
      const t = b && b.textContent.trim();
      if (t && window.__badges[window.__badges.length - 1] !== t) window.__badges.push(t);
    };
    note();
    new MutationObserver(note).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
}

/** Logs in through the form with the keyboard only. */
async function loginWithKeyboard(page, user, password) {
  await page.goto(cloud.base + "/");
  await page.waitForURL(/\/login/);
  await page.getByLabel("User name").waitFor();
  // the user field has the focus at once
  await page.keyboard.type(user);
  await page.keyboard.press("Tab");
  await page.keyboard.type(password);
  await page.keyboard.press("Enter");
}

async function login(page, user, password, project, base = cloud.base) {
  await page.goto(base + "/login");
  await page.getByLabel("User name").fill(user);
  await page.getByLabel("Password").fill(password);
  if (project) {
    await page.getByText("Project (optional)").click();
    await page.getByLabel("Project name or id").fill(project);
  }
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("heading", { name: "Dashboard" }).waitFor();
}

/** A link of the main navigation. */
function nav(page, name) {
  return page.getByRole("navigation", { name: "Main" }).getByRole("link", { name, exact: true });
}

/** fetch() from inside the page with the session's own token. */
function pageFetch(page, method, path, body) {
  return page.evaluate(
    async ([method, path, body]) => {
      const s = JSON.parse(sessionStorage.getItem("nubo.session") || "null");
      const r = await fetch(path, {
        method,
        headers: { Authorization: "Bearer " + (s && s.token), "Content-Type": "application/json" },
        body: body ? JSON.stringify(body) : undefined,
      });
      return { status: r.status, body: await r.text() };
    },
    [method, path, body],
  );
}

/** A raw HTTP/1.1 GET, so that no client normalizes the path. */
function rawGet(path) {
  return new Promise((resolve, reject) => {
    const s = connect(cloud.port, "127.0.0.1", () => s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    let data = "";
    s.on("data", (d) => (data += d.toString("latin1")));
    s.on("end", () => resolve({ status: Number(data.split(" ")[1]), text: data }));
    s.on("error", reject);
  });
}

before(async () => {
  mkdirSync(ART, { recursive: true });
  cloud = await new Cloud().start();
  const home = await fetch(cloud.base + "/");
  if (home.status !== 200 || !/^text\/html/.test(home.headers.get("content-type") ?? ""))
    throw new Error("nubod does not serve the portal at / (is web_routes in route_tables of src/api/api.c? see docs/internals/portal.md)");
  paths = new Set(Object.keys((await (await fetch(cloud.base + "/v1/openapi.json")).json()).paths));
  if (has("/v1/prices")) {
    // the price catalog, as an admin would set it (the Prices view is shot below)
    await cloud.admin.must("POST", "/v1/prices", { meter: "instance", flavor: "tiny", unit_price_micros: 125000, currency: "EUR" }, 201);
    await cloud.admin.must("POST", "/v1/prices", { meter: "disk", unit_price_micros: 40000, currency: "EUR" }, 201);
  }
  if (has("/v1/networks")) {
    // the cloud's external network, as an admin sets it up (floating IPs)
    const pub = await cloud.admin.must("POST", "/v1/networks", { name: "public", external: true }, 201);
    await cloud.admin.must("POST", "/v1/subnets", { network: pub.id, name: "public", cidr: "203.0.113.0/24", gateway: "203.0.113.1" }, 201);
  }
  profile = mkdtempSync(join(tmpdir(), "nubo-chromium-"));
  ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await ctx?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  if (cloud) {
    const codes = await cloud.stop(!!process.env.NUBO_KEEP);
    writeFileSync(join(ART, "exit-codes.json"), JSON.stringify(codes));
    for (const [name, rc] of Object.entries(codes)) assert.equal(rc, 0, `${name} exited with ${rc}:\n${cloud.log(name)}`);
  }
  if (Object.keys(figures).length) {
    writeFileSync(join(ART, "figures.json"), JSON.stringify(figures, null, 2));
    console.log("portal figures: " + JSON.stringify(figures));
  }
});

describe("nubod serves the portal", () => {
  it("answers / and client routes with index.html and strict security headers", async () => {
    for (const p of ["/", "/instances", "/instances/0b1c", "/admin/hosts", "/api-keys"]) {
      const r = await fetch(cloud.base + p);
      assert.equal(r.status, 200, p);
      assert.match(r.headers.get("content-type"), /^text\/html/);
      const csp = r.headers.get("content-security-policy");
      assert.match(csp, /default-src 'self'/);
      assert.match(csp, /script-src 'self'(;|$)/);
      assert.match(csp, /style-src 'self'(;|$)/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      assert.equal(r.headers.get("x-content-type-options"), "nosniff");
      assert.equal(r.headers.get("x-frame-options"), "DENY");
      assert.equal(r.headers.get("cache-control"), "no-cache");
      const html = await r.text();
      assert.match(html, /<div id="app">/);
      assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, "no inline script");
      assert.doesNotMatch(html, /<style|style=/, "no inline style");
    }
  });

  it("serves hashed assets as immutable, gzip'd when accepted", async () => {
    const html = await (await fetch(cloud.base + "/")).text();
    const js = /src="(\/assets\/[^"]+\.js)"/.exec(html)[1];
    const plain = await fetch(cloud.base + js, { headers: { "Accept-Encoding": "identity" } });
    assert.equal(plain.status, 200);
    assert.match(plain.headers.get("content-type"), /^text\/javascript/);
    assert.match(plain.headers.get("cache-control"), /immutable/);
    assert.ok(plain.headers.get("content-security-policy"));
    const raw = await rawGet(js);
    assert.equal(raw.status, 200);
    // fetch() decodes gzip itself: ask over a raw socket
    const gz = await new Promise((resolve, reject) => {
      const s = connect(cloud.port, "127.0.0.1", () => s.write(`GET ${js} HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n`));
      let d = "";
      s.on("data", (x) => (d += x.toString("latin1")));
      s.on("end", () => resolve(d));
      s.on("error", reject);
    });
    assert.match(gz, /\r\nContent-Encoding: gzip\r\n/i);
    assert.match(gz, /\r\nVary: Accept-Encoding\r\n/i);
  });

  it("cannot be led out of the web directory", async () => {
    for (const p of [
      "/assets/..",
      "/assets/../index.html",
      "/assets/..%2f..%2fetc%2fpasswd",
      "/assets/%2e%2e%2fcontroller%2fadmin-password",
      "/..%2fcontroller%2fadmin-password",
      "/%2e%2e",
      "/assets/.hidden",
      "/assets/a%00b.js",
      "/assets//etc/passwd",
      "/etc/passwd",
      "/.env",
      "/favicon.svg%2f..",
    ]) {
      const r = await rawGet(p);
      assert.ok(r.status === 404 || r.status === 400, `${p}: ${r.status}`);
      assert.match(r.text, /application\/problem\+json/, p);
      assert.ok(!r.text.includes("root:x:") && !r.text.includes(cloud.adminPassword), p);
    }
    // the API keeps its own 404s (feature detection relies on them)
    const r = await fetch(cloud.base + "/v1/no-such-thing");
    assert.equal(r.status, 404);
    assert.equal(r.headers.get("content-type"), "application/problem+json");
  });
});

describe("mobility for cloud admins (a cloud of fake-driver agents)", () => {
  // Two agents on the fake driver (no guest runs; a live migration takes
  // 18 s here): the Migrate button, its host picker and the migrating state,
  // what a tenant sees meanwhile, and the hosts view's Drain buttons when
  // the API has them.
  let fake, admin, tenant, iid;
  const other = (h) => (h === "fake-1" ? "fake-2" : "fake-1");
  before(async () => {
    // A migration lasts 18 s: longer than the slowest poll of an idle page
    // (15 s, lib/poll.ts), so the tenant's open page, which nothing pokes,
    // must show "migrating" at least once.
    fake = await new Cloud({ withHost: false, fakeHosts: 2, fakeMigrateMs: 18000 }).start();
    tenant = await fake.login("alice", PASSWORD, "web-a");
    const r = await tenant.must("POST", "/v1/instances", { name: "mover", flavor: "tiny", image: "nubo-tiny" }, 202);
    iid = r.instances[0].id;
    await waitFor("mover running", async () => (await tenant.get(`/v1/instances/${iid}`)).json.status === "running", 60000);
  });
  after(async () => {
    if (!fake) return;
    const codes = await fake.stop(!!process.env.NUBO_KEEP);
    for (const [name, rc] of Object.entries(codes)) assert.equal(rc, 0, `${name} exited with ${rc}:\n${fake.log(name)}`);
  });

  it("an admin migrates an instance from its page; the tenant sees it migrating, and cannot migrate", async (t) => {
    const fdoc = await (await fetch(fake.base + "/v1/openapi.json")).json();
    const actions = fdoc.components.schemas.InstanceAction.properties.action.enum;
    if (!actions.includes("migrate")) return t.skip("the API has no live migration");
    const src = (await fake.admin.get(`/v1/instances/${iid}`)).json.host.name;
    // the tenant's page is open all along
    const tp = await newPage();
    await login(tp, "alice", PASSWORD, undefined, fake.base);
    await tp.goto(fake.base + `/instances/${iid}`);
    await tp.getByRole("heading", { name: "mover" }).waitFor();
    await recordBadges(tp);
    assert.equal(await tp.getByRole("button", { name: "Migrate" }).count(), 0, "no Migrate button for a tenant");

    const page = (admin = await newPage(1280, 800));
    await login(page, "admin", fake.adminPassword, "admin", fake.base);
    await nav(page, "Hosts").click();
    for (const h of ["fake-1", "fake-2"]) await page.locator("tr", { hasText: h }).locator(".badge", { hasText: "up" }).waitFor();
    // the admin finds the instance through its host
    await page.getByRole("button", { name: `Instances on ${src}: 1` }).click();
    await page.getByRole("table", { name: `Instances on ${src}` }).getByRole("link", { name: "mover" }).click();
    await page.getByRole("heading", { name: "mover" }).waitFor();
    await recordBadges(page);
    await page.getByRole("button", { name: "Migrate", exact: true }).click();
    const dlg = page.getByRole("dialog", { name: "Migrate mover" });
    const pick = dlg.getByLabel("Target host");
    // its own host is offered but disabled
    assert.equal(await pick.locator("option", { hasText: `${src} (` }).isDisabled(), true);
    await pick.selectOption(other(src));
    await shots(page, "22-migrate-dialog");
    await dlg.getByRole("button", { name: "Start migration" }).click();
    const migs = page.getByRole("table", { name: "Migrations" });
    await migs.locator('tr[data-migration="preparing"], tr[data-migration="running"]').first().waitFor();
    await shots(page, "22b-instance-migrating");
    const done = migs.locator('tr[data-migration="completed"]');
    await done.waitFor({ timeout: 60000 });
    assert.match(await done.textContent(), new RegExp(`${src}\\s*${other(src)}`));
    await page.locator(".props", { hasText: other(src) }).waitFor();
    await page.locator(".page-head .badge", { hasText: "running" }).waitFor();
    await shots(page, "23-instance-migrated");
    const seen = await page.evaluate(() => window.__badges);
    assert.ok(seen.includes("migrating"), `the admin saw: ${seen}`);
    assert.equal((await fake.admin.get(`/v1/instances/${iid}`)).json.host.name, other(src));
    // the tenant saw it migrating, without a reload, and sees no migration panel
    await tp.locator(".page-head .badge", { hasText: "running" }).waitFor();
    const tseen = await tp.evaluate(() => window.__badges);
    assert.ok(tseen.includes("migrating"), `the tenant saw: ${tseen}`);
    assert.equal(await tp.getByRole("table", { name: "Migrations" }).count(), 0);
    const forced = await pageFetch(tp, "POST", `/v1/instances/${iid}/actions`, { action: "migrate" });
    assert.equal(forced.status, 403, forced.body);
    await tp.close();
    // the scheduler's choice (no host picked): back to the source
    await page.getByRole("button", { name: "Migrate", exact: true }).click();
    await dlg.getByRole("button", { name: "Start migration" }).click();
    await page.getByRole("table", { name: "Migrations" }).locator('tr[data-migration="completed"]').nth(1).waitFor({ timeout: 60000 });
    await waitFor("the instance back on its source", async () => (await fake.admin.get(`/v1/instances/${iid}`)).json.host.name === src, 30000);
    // every project's instances, with where they run
    await nav(page, "All instances").click();
    const row = page.locator('tr[data-instance="mover"]');
    await row.locator('td[data-label="Project"]', { hasText: "web-a" }).waitFor();
    await row.locator('td[data-label="Host"]', { hasText: src }).waitFor();
    await shots(page, "31-admin-all-instances");
  });

  it("drains and undrains a host from the hosts view when the API has the drain action", async () => {
    const page = admin;
    const fdoc = await (await fetch(fake.base + "/v1/openapi.json")).json();
    const drainable = (fdoc.components.schemas.HostAction?.properties?.action?.enum ?? []).includes("drain");
    await nav(page, "Hosts").click();
    await page.locator("tr", { hasText: "fake-1" }).locator(".badge", { hasText: "up" }).waitFor();
    if (!drainable) {
      // before the drain API: no button that would only get a 400
      assert.equal(await page.getByRole("button", { name: /^(Drain|Undrain) / }).count(), 0);
      await shots(page, "24-hosts");
      return;
    }
    const src = (await fake.admin.get(`/v1/instances/${iid}`)).json.host.name;
    const row = page.locator("tr", { hasText: src });
    await page.getByRole("button", { name: `Drain ${src}`, exact: true }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Drain host" }).click();
    await row.locator(".badge", { hasText: /draining|drained/ }).first().waitFor();
    await row.locator(".badge", { hasText: "drained" }).waitFor({ timeout: 60000 });
    await row.locator(".badge", { hasText: "maintenance" }).waitFor();
    await page.getByTestId(`drain-${src}`).getByText(/0 left, 0 migrating/).waitFor();
    assert.equal((await fake.admin.get(`/v1/hosts/${src}`)).json.maintenance, "drained");
    assert.equal((await fake.admin.get(`/v1/instances/${iid}`)).json.host.name, other(src));
    await shots(page, "24-hosts");
    await page.getByRole("button", { name: `Undrain ${src}`, exact: true }).click();
    await row.locator(".badge", { hasText: "up" }).waitFor();
    assert.equal((await fake.admin.get(`/v1/hosts/${src}`)).json.maintenance, null);
  });

  it("cancels a migration while it copies: the instance stays where it was", async () => {
    const page = admin;
    await page.goto(fake.base + `/instances/${iid}`);
    await page.getByRole("heading", { name: "mover" }).waitFor();
    const here = (await fake.admin.get(`/v1/instances/${iid}`)).json.host.name;
    const before = (await fake.admin.get(`/v1/instances/${iid}/migrations`)).json.migrations.length;
    await page.getByRole("button", { name: "Migrate", exact: true }).click();
    await page.getByRole("dialog", { name: "Migrate mover" }).getByRole("button", { name: "Start migration" }).click();
    const migs = page.getByRole("table", { name: "Migrations" });
    await migs.locator('tr[data-migration="preparing"], tr[data-migration="running"]').first().waitFor();
    await page.getByRole("button", { name: "Cancel migration" }).click();
    await migs.locator('tr[data-migration="cancelled"]').waitFor({ timeout: 60000 });
    await page.locator(".page-head .badge", { hasText: "running" }).waitFor();
    const after = (await fake.admin.get(`/v1/instances/${iid}`)).json;
    assert.equal(after.host.name, here);
    assert.equal(after.status, "running");
    const ms = (await fake.admin.get(`/v1/instances/${iid}/migrations`)).json.migrations;
    assert.equal(ms.length, before + 1);
    assert.equal(ms[0].state, "cancelled");
  });
});

describe("the portal in Chromium", () => {
  const S = {}; // state shared by the steps, in order

  it("a member logs in with the keyboard and sees the dashboard", async () => {
    const page = (S.alice = await newPage());
    await loginWithKeyboard(page, "alice", PASSWORD);
    await page.getByRole("heading", { name: "Dashboard" }).waitFor();
    assert.equal(await page.getByTestId("project-name").textContent(), "web-a");
    await page.getByRole("heading", { name: "Quota" }).waitFor();
    // a member sees no admin navigation
    assert.equal(await page.getByRole("link", { name: "Hosts", exact: true }).count(), 0);
    await shot(page, "01-dashboard");
    // the token is in sessionStorage, never in the address or a cookie
    assert.doesNotMatch(page.url(), /token|nubo_/);
    assert.equal((await ctx.cookies()).length, 0);
  });

  it("puts a server-side error next to the field that caused it", async () => {
    const page = S.alice;
    await nav(page, "Key pairs").click();
    await page.getByRole("heading", { name: "Key pairs" }).waitFor();
    await page.getByLabel("Name", { exact: true }).fill("laptop");
    await page.getByLabel("Public key").fill("ssh-ed25519 not-base64!!");
    await page.getByRole("button", { name: "Add key pair" }).click();
    const field = page.getByLabel("Public key");
    await page.waitForFunction(() => document.querySelector("textarea[aria-invalid=true]"));
    const describedBy = await field.getAttribute("aria-describedby");
    const msg = await page.locator(`[id="${describedBy.split(" ").pop()}"]`).textContent();
    assert.match(msg, /public_key|base64|key/i);
    await shot(page, "02-field-error");
    // a good key goes in
    await field.fill("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f web@nubo");
    await page.getByRole("button", { name: "Add key pair" }).click();
    await page.getByRole("cell", { name: "laptop", exact: true }).waitFor();
  });

  it("launches on a network and a security group from the form, and sees the IP", async () => {
    const page = S.alice;
    S.aliceApi = await cloud.login("alice", PASSWORD, "web-a");
    const sg = await S.aliceApi.must("POST", "/v1/server-groups", { name: "web-aff", policy: "affinity" }, 201);
    await nav(page, "Instances").click();
    await page.getByRole("link", { name: "Launch instances", exact: true }).click();
    await page.getByRole("heading", { name: "Launch instances" }).waitFor();
    // a project without a network is told so, and offered a default one
    const none = page.getByRole("region", { name: "No network" });
    await none.getByText("This project has no network").waitFor();
    await shots(page, "20-launch-no-network");
    await none.getByRole("button", { name: "Create a default network…" }).click();
    await none.getByLabel("Subnet CIDR").fill("10.20.0.5/24");
    await none.getByRole("button", { name: "Create default network" }).click();
    await none.getByText("did you mean 10.20.0.0/24").waitFor();
    const own = async () => (await S.aliceApi.get("/v1/networks")).json.networks.filter((n) => !n.external);
    assert.deepEqual(await own(), [], "a refused CIDR makes nothing");
    await none.getByLabel("Subnet CIDR").fill("10.20.0.0/24");
    await none.getByRole("button", { name: "Create default network" }).click();
    // the new network is the project's only one: ticked; so is the default group
    const nets = page.getByRole("group", { name: "Networks" });
    const netBox = nets.getByRole("checkbox", { name: /default/ });
    await netBox.waitFor();
    assert.equal(await netBox.isChecked(), true);
    assert.match(await nets.textContent(), /10\.20\.0\.0\/24/);
    const sgBox = page.getByRole("group", { name: "Security groups" }).getByRole("checkbox", { name: /default/ });
    assert.equal(await sgBox.isChecked(), true);
    const made = await own();
    assert.equal(made.length, 1);
    assert.equal(made[0].name, "default");
    await page.getByLabel("Name", { exact: true }).fill("web1");
    const tiny = page.locator("label.card-choice", { hasText: "tiny" });
    await tiny.click();
    if (has("/v1/prices")) {
      // the flavor's price, and the launch's
      assert.match(await tiny.textContent(), /€0\.125 \/ hour/);
      await page.getByText(/€0\.125 per hour/).waitFor();
    }
    await page.getByLabel("Image").selectOption("nubo-tiny");
    await page.getByLabel("Key pair").selectOption("laptop");
    await page.getByLabel("Server group").selectOption("web-aff");
    await page.getByLabel("User data (optional)").fill("#!/bin/sh\necho portal-user-data-$((6*7))\n");
    // a fixed IP outside the subnet is refused by the form, before the API
    const fixed = page.getByLabel("Fixed IP on default (optional)");
    await fixed.fill("10.30.0.5");
    await page.getByRole("button", { name: "Launch instance" }).click();
    await nets.getByText("not inside 10.20.0.0/24").waitFor();
    assert.equal(await fixed.getAttribute("aria-invalid"), "true");
    assert.match(page.url(), /\/instances\/new$/);
    assert.equal((await S.aliceApi.get("/v1/instances")).json.instances.length, 0, "nothing launched");
    await fixed.fill("10.20.0.50");
    await shots(page, "03-launch");
    await page.getByRole("button", { name: "Launch instance" }).click();
    await page.waitForURL(/\/instances\/[0-9a-f-]{36}$/);
    S.instanceId = page.url().split("/").pop();
    await page.getByRole("heading", { name: "web1" }).waitFor();
    // the address with its network's name, at once (the port is made with the instance)
    const addr = page.getByTestId("addresses");
    await addr.getByText("10.20.0.50").waitFor();
    assert.match(await addr.textContent(), /10\.20\.0\.50\s*on default/);
    // what the API made of the form: the network, the fixed IP, the groups
    const i = (await S.aliceApi.get(`/v1/instances/${S.instanceId}`)).json;
    assert.equal(i.server_group_id, sg.id);
    assert.deepEqual(
      i.addresses.map((a) => [a.network, a.ip]),
      [["default", "10.20.0.50"]],
    );
    const port = (await S.aliceApi.get(`/v1/ports/${i.addresses[0].port_id}`)).json;
    const groups = (await S.aliceApi.get("/v1/security-groups")).json.security_groups;
    assert.deepEqual(port.security_groups, [groups.find((g) => g.name === "default").id]);
    // progress while it builds, then running — without reloading
    await page.locator(".page-head .badge", { hasText: "running" }).waitFor({ timeout: BOOT_MS });
    await shots(page, "04-instance-running");
  });

  it("follows the console to the guest's ready marker", async () => {
    const page = S.alice;
    await page.getByRole("button", { name: "Show console" }).click();
    const log = page.locator("#console-log");
    await waitFor("the ready marker in the console", async () => (await log.textContent()).includes(READY), BOOT_MS, 500);
    const text = await log.textContent();
    assert.match(text, /portal-user-data-42/);
    // the guest got the address the portal shows, by DHCP on its network
    assert.match(text, /NUBO-READY [^\n]*ip=10\.20\.0\.50\b/);
    assert.ok(text.includes(`instance-id=${S.instanceId}`), "the marker names the instance");
    await shot(page, "05-console");
  });

  it("lists the instance with its live state, its address and its floating IP", async () => {
    const page = S.alice;
    await nav(page, "Instances").click();
    const row = page.locator('tr[data-instance="web1"]');
    await row.locator(".badge", { hasText: "running" }).waitFor();
    assert.match(await row.locator('td[data-label="Addresses"]').textContent(), /10\.20\.0\.50\s*on default/);
    // a floating IP on the instance's port shows beside its address
    const fip = await S.aliceApi.must("POST", "/v1/floating-ips", {}, 201);
    S.fip = fip;
    const port = (await S.aliceApi.get(`/v1/instances/${S.instanceId}`)).json.addresses[0].port_id;
    await S.aliceApi.must("PATCH", `/v1/floating-ips/${fip.id}`, { port_id: port }, 200);
    await row.locator(`[data-floating-ip="${fip.ip}"]`).waitFor({ timeout: 30000 });
    await shot(page, "06-instances");
    const phone = await newPage(390, 844);
    await phone.addInitScript((s) => sessionStorage.setItem("nubo.session", s), await page.evaluate(() => sessionStorage.getItem("nubo.session")));
    await phone.goto(cloud.base + "/instances");
    await phone.locator('tr[data-instance="web1"]').locator(`[data-floating-ip="${fip.ip}"]`).waitFor();
    await shot(phone, "07-instances-phone");
    await phone.goto(cloud.base + `/instances/${S.instanceId}`);
    await phone.getByTestId("addresses").getByText(fip.ip).waitFor();
    await phone.close();
    await page.goto(cloud.base + `/instances/${S.instanceId}`);
    await page.getByTestId("addresses").locator(`[data-floating-ip="${fip.ip}"]`).waitFor();
    await shots(page, "21-instance-addresses");
  });

  it("makes a network, a subnet and a security-group rule, and moves a floating IP, in the networking views", async () => {
    const page = S.alice;
    await nav(page, "Networks").click();
    await page.getByRole("heading", { name: "Networks", exact: true }).waitFor();
    await page.locator('tr[data-network="default"]').getByText("10.20.0.0/24").waitFor();
    await page.getByLabel("Network name").fill("back");
    await page.getByRole("button", { name: "Create network" }).click();
    const sub = page.getByRole("form", { name: "New subnet of back" });
    await sub.waitFor();
    await sub.getByLabel("CIDR", { exact: true }).fill("10.40.0.1/24");
    await sub.getByRole("button", { name: "Add subnet" }).click();
    await sub.getByText("did you mean 10.40.0.0/24").waitFor();
    await sub.getByLabel("CIDR", { exact: true }).fill("10.40.0.0/24");
    await sub.getByLabel("Allocation pools (optional)").fill("10.40.0.10-10.40.1.5");
    await sub.getByRole("button", { name: "Add subnet" }).click();
    await sub.getByText("not inside the subnet").waitFor();
    const back = () => S.aliceApi.get("/v1/networks/back").then((r) => r.json);
    assert.deepEqual((await S.aliceApi.get(`/v1/subnets?network_id=${(await back()).id}`)).json.subnets, [], "a refused subnet makes nothing");
    await sub.getByLabel("Allocation pools (optional)").fill("10.40.0.10-10.40.0.99");
    await shots(page, "25-networks-subnet-form");
    await sub.getByRole("button", { name: "Add subnet" }).click();
    await page.locator('tr[data-network="back"] [data-subnet="10.40.0.0/24"]').waitFor();
    const made = (await S.aliceApi.get(`/v1/subnets?network_id=${(await back()).id}`)).json.subnets;
    assert.deepEqual(made.map((x) => [x.cidr, x.allocation_pools]), [["10.40.0.0/24", [{ start: "10.40.0.10", end: "10.40.0.99" }]]]);
    await shots(page, "26-networks");

    await nav(page, "Security groups").click();
    await page.getByLabel("Group name").fill("web");
    await page.getByRole("button", { name: "Create group" }).click();
    const web = page.locator('section[data-group="web"]');
    const rf = web.getByRole("form", { name: "New rule for web" });
    await rf.waitFor();
    await rf.getByLabel("From port").fill("8080");
    await rf.getByLabel("To port").fill("80");
    await rf.getByRole("button", { name: "Add rule" }).click();
    await rf.getByText("The first port is after the last").waitFor();
    await rf.getByLabel("To port").fill("8090");
    await rf.getByLabel("Remote CIDR").fill("192.0.2.0/24");
    await rf.getByRole("button", { name: "Add rule" }).click();
    await web.getByRole("table", { name: "Rules of web" }).getByRole("cell", { name: "8080–8090" }).waitFor();
    const g = (await S.aliceApi.get("/v1/security-groups/web")).json;
    assert.deepEqual(
      g.rules.map((r) => [r.direction, r.protocol, r.port_min, r.port_max, r.remote_cidr]),
      [["ingress", "tcp", 8080, 8090, "192.0.2.0/24"]],
    );
    await shots(page, "27-security-groups");

    // the floating IP on web1 moves off and back, another is allocated and released
    await nav(page, "Floating IPs").click();
    const row = page.locator(`tr[data-fip="${S.fip.ip}"]`);
    await row.getByText("web1 10.20.0.50 (default)").waitFor();
    await row.getByRole("button", { name: `Disassociate ${S.fip.ip}` }).click();
    await row.getByText("nothing").waitFor();
    assert.equal((await S.aliceApi.get(`/v1/floating-ips/${S.fip.id}`)).json.port_id, null);
    await row.getByLabel(`Instance port for ${S.fip.ip}`).selectOption({ label: "web1 10.20.0.50 (default)" });
    await row.getByRole("button", { name: `Associate ${S.fip.ip}` }).click();
    await row.getByText("web1 10.20.0.50 (default)").waitFor();
    const port = (await S.aliceApi.get(`/v1/instances/${S.instanceId}`)).json.addresses[0].port_id;
    assert.equal((await S.aliceApi.get(`/v1/floating-ips/${S.fip.id}`)).json.port_id, port);
    await page.getByRole("button", { name: "Allocate a floating IP" }).click();
    await waitFor("a second floating IP", async () => (await page.locator("tr[data-fip]").count()) === 2, 15000);
    const second = (await S.aliceApi.get("/v1/floating-ips")).json.floating_ips.find((f) => f.id !== S.fip.id);
    await shots(page, "28-floating-ips");
    await page.getByRole("button", { name: `Release ${second.ip}` }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Release" }).click();
    await page.locator(`tr[data-fip="${second.ip}"]`).waitFor({ state: "detached" });
    assert.equal((await S.aliceApi.get(`/v1/floating-ips/${second.id}`)).status, 404);

    // the topology: web1 on default at its address, reached from outside at its floating IP
    await nav(page, "Topology").click();
    const svg = page.locator("svg.topology");
    await svg.locator('a[data-node="web1"]').waitFor();
    await svg.locator('.link:not(.link-fip)[data-link="10.20.0.50"]').waitFor();
    await svg.locator(`.link-fip[data-link="${S.fip.ip}"]`).waitFor();
    for (const label of ["default 10.20.0.0/24", "back 10.40.0.0/24", "public (external, 203.0.113.0/24)"]) await svg.getByText(label, { exact: true }).waitFor();
    assert.match(await page.getByRole("list", { name: "Topology in words" }).textContent(), new RegExp(`web1 \\(running\\): 10\\.20\\.0\\.50 on default, reached from outside at ${S.fip.ip.replaceAll(".", "\\.")}`));
    await shots(page, "30-topology");
    await svg.locator('a[data-node="web1"]').click();
    await page.waitForURL(new RegExp(`/instances/${S.instanceId}$`));
    await page.getByRole("heading", { name: "web1" }).waitFor();
  });

  it("charts the instance's metrics and raises an alarm made in the portal (monitoring)", async (t) => {
    if (!has("/v1/instances/{id}/metrics") || !has("/v1/alarms")) return t.skip("the API has no monitoring");
    const page = S.alice;
    await page.goto(cloud.base + `/instances/${S.instanceId}`);
    const cpu = page.locator("figure.chart", { hasText: "CPU" }).first();
    await waitFor("a CPU sample in the chart", async () => !/—/.test(await cpu.locator("figcaption .num").textContent()), 90000, 1000);
    assert.match(await cpu.locator("svg").getAttribute("aria-label"), /CPU: latest [\d.]+ %/);
    await shot(page, "05b-metrics");
    await nav(page, "Alarms").click();
    await page.getByLabel("Name", { exact: true }).fill("always");
    await page.getByLabel("Instance").selectOption({ label: "web1" });
    await page.getByLabel("Comparison").selectOption("ge");
    await page.getByLabel("Threshold").fill("0");
    await page.getByLabel("Window (seconds)").fill("5");
    await page.getByLabel("Periods in a row").fill("1");
    await page.getByRole("button", { name: "Create alarm" }).click();
    const row = page.locator("tr", { hasText: "always" });
    await row.waitFor();
    await row.locator(".badge", { hasText: "ALARM" }).waitFor({ timeout: 90000 });
    await shot(page, "05c-alarms");
  });

  it("shows what the project costs (billing)", async (t) => {
    if (!has("/v1/cost") || !has("/v1/invoice")) return t.skip("the API has no billing");
    const page = S.alice;
    await nav(page, "Dashboard").click();
    await page.getByTestId("cost-month").waitFor();
    assert.match(await page.locator(".stat", { hasText: "Cost in" }).textContent(), /forecast €\d/);
    await nav(page, "Billing").click();
    await page.getByRole("table", { name: "Invoice lines" }).getByText(/flavor tiny/).waitFor();
    await shot(page, "05d-billing");
    const [dl] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download CSV" }).click()]);
    assert.match(dl.suggestedFilename(), /\.csv$/);
    const path = await dl.path();
    const { readFileSync } = await import("node:fs");
    assert.match(readFileSync(path, "utf8"), /tiny/);
  });

  it("shows a reader no action buttons, and the API refuses a forced request", async () => {
    const page = (S.rita = await newPage());
    await login(page, "rita", PASSWORD);
    assert.match(await page.locator(".who").textContent(), /reader/);
    await nav(page, "Instances").click();
    const row = page.locator('tr[data-instance="web1"]');
    await row.waitFor();
    for (const name of ["Start", "Stop", "Reboot", "Delete", "Launch instances"]) {
      assert.equal(await page.getByRole("button", { name: new RegExp(`^${name}`) }).count(), 0, `${name} button`);
    }
    assert.equal(await page.getByRole("link", { name: "Launch instances", exact: true }).count(), 0);
    await page.goto(cloud.base + `/instances/${S.instanceId}`);
    await page.getByRole("heading", { name: "web1" }).waitFor();
    assert.equal(await page.getByRole("button", { name: /^(Stop|Reboot|Delete)$/ }).count(), 0);
    await shot(page, "08-reader-instance");
    // forced: the reader's own token, straight at the API
    const stop = await pageFetch(page, "POST", `/v1/instances/${S.instanceId}/actions`, { action: "stop" });
    assert.equal(stop.status, 403, stop.body);
    const del = await pageFetch(page, "DELETE", `/v1/instances/${S.instanceId}`);
    assert.equal(del.status, 403, del.body);
    const make = await pageFetch(page, "POST", "/v1/instances", { name: "sneaky", flavor: "tiny", image: "nubo-tiny" });
    assert.equal(make.status, 403, make.body);
    // the reader sees the addresses, and the launch form tells it to look only
    await page.getByTestId("addresses").getByText("10.20.0.50").waitFor();
    await page.goto(cloud.base + "/instances");
    assert.match(await page.locator('tr[data-instance="web1"] td[data-label="Addresses"]').textContent(), /10\.20\.0\.50/);
    await page.goto(cloud.base + "/instances/new");
    await page.getByText("you can look, not launch").waitFor();
    assert.equal(await page.getByRole("button", { name: /Create a default network|Launch instance/ }).count(), 0);
    for (const [method, path, body] of [
      ["POST", "/v1/networks", { name: "sneaky" }],
      ["POST", "/v1/floating-ips", {}],
      ["PATCH", `/v1/floating-ips/${S.fip.id}`, { port_id: null }],
      ["POST", "/v1/security-groups", { name: "sneaky" }],
    ]) {
      const r = await pageFetch(page, method, path, body);
      assert.equal(r.status, 403, `${method} ${path}: ${r.body}`);
    }
    assert.equal((await cloud.admin.get(`/v1/floating-ips/${S.fip.id}`)).json.port_id !== null, true, "the floating IP stays");
    // the networking views: everything shown, nothing to press
    await nav(page, "Networks").click();
    await page.locator('tr[data-network="back"] [data-subnet="10.40.0.0/24"]').waitFor();
    await nav(page, "Security groups").click();
    await page.locator('section[data-group="web"]').getByRole("cell", { name: "8080–8090" }).waitFor();
    await nav(page, "Floating IPs").click();
    await page.locator(`tr[data-fip="${S.fip.ip}"]`).getByText("web1 10.20.0.50").waitFor();
    await shots(page, "29-reader-floating-ips");
    await nav(page, "Topology").click();
    await page.locator('svg.topology a[data-node="web1"]').waitFor();
    assert.equal(await page.locator("main button, main form").count(), 0, "no button nor form for a reader");
    // and the instance is untouched
    const i = await cloud.admin.get(`/v1/instances/${S.instanceId}`);
    assert.equal(i.json.desired, "running");
  });

  it("keeps admin views from a member: hidden in the UI, refused by the API", async () => {
    const page = S.alice;
    assert.equal(await page.getByRole("link", { name: "Hosts", exact: true }).count(), 0);
    await page.goto(cloud.base + "/admin/hosts");
    await page.getByText("This page is for cloud administrators").waitFor();
    assert.equal(await page.getByRole("table", { name: "Hosts" }).count(), 0);
    await shot(page, "09-member-admin-refused");
    for (const p of ["/v1/hosts", "/v1/users", "/v1/audit"]) {
      const r = await pageFetch(page, "GET", p);
      assert.equal(r.status, 403, `${p}: ${r.body}`);
    }
  });

  it("shows a member of another project nothing of the first", async () => {
    const page = await newPage();
    await login(page, "bob", PASSWORD);
    await nav(page, "Instances").click();
    await page.getByText("No instances yet").waitFor();
    await page.goto(cloud.base + `/instances/${S.instanceId}`);
    await page.getByRole("alert").filter({ hasText: /no instance|not found/i }).waitFor();
    const r = await pageFetch(page, "GET", `/v1/instances/${S.instanceId}`);
    assert.equal(r.status, 404, r.body);
    const c = await pageFetch(page, "GET", `/v1/instances/${S.instanceId}/console`);
    assert.equal(c.status, 404, c.body);
    const k = await pageFetch(page, "GET", "/v1/keypairs/laptop");
    assert.equal(k.status, 404, k.body);
    // nor its network, its port or its floating IP: bob's launch form offers
    // him a network of his own
    const theirs = (await cloud.admin.get(`/v1/instances/${S.instanceId}`)).json.addresses[0];
    for (const p of [`/v1/networks/${theirs.network_id}`, `/v1/ports/${theirs.port_id}`, `/v1/floating-ips/${S.fip.id}`]) {
      const r = await pageFetch(page, "GET", p);
      assert.equal(r.status, 404, `${p}: ${r.body}`);
    }
    const lists = await pageFetch(page, "GET", "/v1/networks");
    assert.ok(!JSON.parse(lists.body).networks.some((n) => n.id === theirs.network_id));
    for (const [link, theirs] of [
      ["Networks", 'tr[data-network="default"], tr[data-network="back"]'],
      ["Security groups", 'section[data-group="web"]'],
      ["Floating IPs", `tr[data-fip="${S.fip.ip}"]`],
      ["Topology", 'svg.topology a[data-node="web1"], svg.topology .link'],
    ]) {
      await nav(page, link).click();
      await page.getByRole("heading", { name: link, exact: true }).waitFor();
      await page.locator("main .loading").waitFor({ state: "detached" });
      assert.equal(await page.locator(theirs).count(), 0, link);
    }
    // his own default group is there, not web-a's
    await nav(page, "Security groups").click();
    await page.locator('section[data-group="default"]').waitFor();
    assert.equal(await page.locator("section[data-group]").count(), 1);
    await page.goto(cloud.base + "/instances/new");
    await page.getByRole("region", { name: "No network" }).waitFor();
    assert.doesNotMatch(await page.locator("main").textContent(), /10\.20\.0|web-aff/);
    await shot(page, "10-other-project");
    await page.close();
  });

  it("stops the instance and deletes it", async () => {
    const page = S.alice;
    await page.goto(cloud.base + `/instances/${S.instanceId}`);
    await page.getByRole("heading", { name: "web1" }).waitFor();
    await page.getByRole("button", { name: "Stop", exact: true }).click();
    await page.locator(".page-head .badge", { hasText: "stopped" }).waitFor({ timeout: 90000 });
    await shot(page, "11-instance-stopped");
    await page.getByRole("button", { name: "Delete", exact: true }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByRole("button", { name: "Delete instance" }).click();
    await page.waitForURL(/\/instances$/);
    await waitFor(
      "the instance to be deleted",
      async () => (await cloud.admin.get(`/v1/instances/${S.instanceId}`)).json?.status === "deleted",
      90000,
    );
    await page.locator('tr[data-instance="web1"]').waitFor({ state: "detached", timeout: 30000 });
  });

  it("uploads an image with progress", async () => {
    const page = S.alice;
    await nav(page, "Images").click();
    await page.getByRole("button", { name: "Upload an image" }).click();
    const disk = Buffer.alloc(4 << 20); // a 4 MiB raw disk
    await page.getByLabel("Disk (qcow2 or raw)").setInputFiles({ name: "scratch.raw", mimeType: "application/octet-stream", buffer: disk });
    assert.equal(await page.getByLabel("Name", { exact: true }).inputValue(), "scratch");
    await page.getByRole("button", { name: "Upload", exact: true }).click();
    await page.getByRole("cell", { name: "scratch", exact: true }).waitFor({ timeout: 60000 });
    await page.locator("tr", { hasText: "scratch" }).locator(".badge", { hasText: "active" }).waitFor();
    await shot(page, "12-images");
  });

  it("creates an API key, shown once, and revokes it", async () => {
    const page = S.alice;
    await nav(page, "API keys").click();
    await page.getByLabel("Name", { exact: true }).fill("ci");
    await page.getByRole("button", { name: "Create key" }).click();
    const key = await page.getByLabel("The new API key").inputValue();
    assert.ok(key.length > 20, key);
    const viaKey = await fetch(cloud.base + "/v1/auth/whoami", { headers: { Authorization: "Bearer " + key } });
    assert.equal(viaKey.status, 200);
    await shot(page, "13-api-keys");
    await page.getByRole("button", { name: "Done" }).click();
    await page.getByRole("button", { name: "Revoke ci" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Revoke key" }).click();
    await page.getByText("No API keys.").waitFor();
    const after = await fetch(cloud.base + "/v1/auth/whoami", { headers: { Authorization: "Bearer " + key } });
    assert.equal(after.status, 401);
  });

  it("gives an admin the cloud's views", async () => {
    const page = (S.admin = await newPage());
    // no project given: the admin has roles in two, so the portal asks
    await page.goto(cloud.base + "/login");
    await page.getByLabel("User name").fill("admin");
    await page.getByLabel("Password").fill(cloud.adminPassword);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("heading", { name: "Choose a project" }).waitFor();
    await shot(page, "13b-choose-project");
    await page.getByLabel("Project", { exact: true }).selectOption({ label: "admin (admin)" });
    await page.getByRole("button", { name: "Continue" }).click();
    await page.getByRole("heading", { name: "Dashboard" }).waitFor();
    assert.equal(await page.getByTestId("project-name").textContent(), "admin");
    await nav(page, "Hosts").click();
    const row = page.locator("tr", { hasText: "host-1" });
    await row.locator(".badge", { hasText: "up" }).waitFor();
    await shot(page, "14-admin-hosts");
    for (const [link, heading, file] of [
      ["Projects", "Projects", "15-admin-projects"],
      ["Users", "Users", "16-admin-users"],
      ["Flavors", "Flavors", "17-admin-flavors"],
      ...(has("/v1/prices") ? [["Prices", "Prices", "17b-admin-prices"]] : []),
      ["Audit log", "Audit log", "18-admin-audit"],
    ]) {
      await nav(page, link).click();
      await page.getByRole("heading", { name: heading, exact: true }).waitFor();
      await page.locator("table").first().waitFor();
      await shot(page, file);
    }
    // the audit log shows the reader's refused stop
    await page.getByRole("cell", { name: /instance\.action/ }).first().waitFor();
    assert.ok((await page.locator("td", { hasText: /denied 403/ }).count()) > 0);
    // quotas and members of a project
    await nav(page, "Projects").click();
    await page.getByRole("link", { name: "web-a", exact: true }).click();
    await page.getByRole("heading", { name: "Project web-a" }).waitFor();
    await page.getByLabel("Instances", { exact: true }).fill("7");
    await page.getByRole("button", { name: "Save quota" }).click();
    await waitFor("the quota", async () => (await cloud.admin.get("/v1/projects/web-a/quota")).json.limits.instances === 7, 10000);
    assert.equal(await page.getByLabel("Role of rita").inputValue(), "reader");
    await shot(page, "19-admin-project");
    // cloud admin is a flag on the user, given and taken on the Users page
    await nav(page, "Users").click();
    const rita = page.locator("tr", { has: page.getByRole("button", { name: "rita", exact: true }) });
    await rita.getByRole("button", { name: "Make cloud admin" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Make cloud admin" }).click();
    await rita.locator(".badge", { hasText: "cloud admin" }).waitFor();
    assert.equal((await cloud.admin.get("/v1/users/rita")).json.cloud_admin, true);
    await rita.getByRole("button", { name: "Revoke cloud admin" }).click();
    await rita.getByRole("button", { name: "Make cloud admin" }).waitFor();
    assert.equal((await cloud.admin.get("/v1/users/rita")).json.cloud_admin, false);
  });

  it("logs out and revokes the token", async () => {
    const page = S.alice;
    const token = await page.evaluate(() => JSON.parse(sessionStorage.getItem("nubo.session")).token);
    const before = await fetch(cloud.base + "/v1/auth/whoami", { headers: { Authorization: "Bearer " + token } });
    assert.equal(before.status, 200);
    await page.getByRole("button", { name: "Log out" }).click();
    await page.getByRole("heading", { name: "Log in to your cloud" }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem("nubo.session")), null);
    const after = await fetch(cloud.base + "/v1/auth/whoami", { headers: { Authorization: "Bearer " + token } });
    assert.equal(after.status, 401);
    await shot(page, "00-login");
  });

  it("measures the dashboard: page weight and time to interactive", async () => {
    // a token for the session, put where the portal keeps it, before load
    const t = await (await fetch(cloud.base + "/v1/auth/tokens", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user: "alice", password: PASSWORD, project: "web-a" }),
    })).json();
    const who = await (await fetch(cloud.base + "/v1/auth/whoami", { headers: { Authorization: "Bearer " + t.token } })).json();
    const session = JSON.stringify({ ...t, is_admin: who.is_admin });
    const runs = [];
    for (const cold of [true, false, false, false]) {
      const page = await newPage();
      const cdp = await ctx.newCDPSession(page);
      await cdp.send("Network.enable");
      await cdp.send("Network.setCacheDisabled", { cacheDisabled: cold });
      await page.addInitScript((s) => sessionStorage.setItem("nubo.session", s), session);
      await page.goto(cloud.base + "/");
      await page.waitForFunction(() => performance.getEntriesByName("nubo:dashboard-ready").length > 0, null, { timeout: 30000 });
      const m = await page.evaluate(() => {
        const nav = performance.getEntriesByType("navigation")[0];
        const res = performance.getEntriesByType("resource");
        const sum = (f, k) => res.filter(f).reduce((a, r) => a + r[k], 0);
        const js = (r) => r.initiatorType === "script" || /\.js($|\?)/.test(r.name);
        const css = (r) => r.initiatorType === "link" && /\.css($|\?)/.test(r.name);
        return {
          tti_ms: Math.round(performance.getEntriesByName("nubo:dashboard-ready")[0].startTime),
          dom_content_loaded_ms: Math.round(nav.domContentLoadedEventEnd),
          html_bytes: nav.encodedBodySize,
          js_bytes: sum(js, "decodedBodySize"),
          js_bytes_compressed: sum(js, "encodedBodySize"),
          css_bytes: sum(css, "decodedBodySize"),
          css_bytes_compressed: sum(css, "encodedBodySize"),
          api_calls: res.filter((r) => r.name.includes("/v1/")).length,
        };
      });
      runs.push({ cold, ...m });
      await page.close();
    }
    const cold = runs[0];
    const warm = runs.slice(1).map((r) => r.tti_ms).sort((a, b) => a - b);
    Object.assign(figures, {
      js_bytes: cold.js_bytes,
      js_bytes_gzip: cold.js_bytes_compressed,
      css_bytes: cold.css_bytes,
      css_bytes_gzip: cold.css_bytes_compressed,
      html_bytes: cold.html_bytes,
      dashboard_api_calls: cold.api_calls,
      tti_cold_ms: cold.tti_ms,
      tti_warm_median_ms: warm[Math.floor(warm.length / 2)],
    });
    console.log(
      `dashboard page weight: JS ${cold.js_bytes} B (${cold.js_bytes_compressed} B compressed), CSS ${cold.css_bytes} B (${cold.css_bytes_compressed} B compressed), HTML ${cold.html_bytes} B; ` +
        `time to interactive (navigation start to the dashboard's data drawn): cold ${cold.tti_ms} ms, warm median ${figures.tti_warm_median_ms} ms`,
    );
    assert.ok(cold.js_bytes_compressed > 0 && cold.js_bytes_compressed < 500 * 1024, "JS well under 500 KB compressed");
    assert.ok(cold.js_bytes_compressed < cold.js_bytes, "served compressed");
  });

  it("met no Content-Security-Policy violation and no script error", () => {
    assert.deepEqual(cspViolations, []);
    assert.deepEqual(pageErrors, []);
  });
});
