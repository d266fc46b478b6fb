// The portal in a real browser (Debian's headless Chromium driven by
// playwright-core) against a real cloud (tests/web/cloud.mjs: nubod with
// the built portal, one nubo-hostd, the nubo-tiny image): a member logs
// in with the keyboard, launches an instance, watches it reach running,
// follows its console to the guest's ready marker, stops and deletes it; a
// reader sees no action buttons and a forced request is refused; admin
// views are hidden from a member and refused by the API; a member of
// another project sees nothing of the first.  On the way it checks how
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

async function login(page, user, password, project) {
  await page.goto(cloud.base + "/login");
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

  it("launches an instance and sees it reach running", async () => {
    const page = S.alice;
    await nav(page, "Instances").click();
    await page.getByRole("link", { name: "Launch instances", exact: true }).click();
    await page.getByRole("heading", { name: "Launch instances" }).waitFor();
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
    await page.getByLabel("User data (optional)").fill("#!/bin/sh\necho portal-user-data-$((6*7))\n");
    await shot(page, "03-launch");
    await page.getByRole("button", { name: "Launch instance" }).click();
    await page.waitForURL(/\/instances\/[0-9a-f-]{36}$/);
    S.instanceId = page.url().split("/").pop();
    await page.getByRole("heading", { name: "web1" }).waitFor();
    // progress while it builds, then running — without reloading
    await page.locator(".page-head .badge", { hasText: "running" }).waitFor({ timeout: BOOT_MS });
    await shot(page, "04-instance-running");
  });

  it("follows the console to the guest's ready marker", async () => {
    const page = S.alice;
    await page.getByRole("button", { name: "Show console" }).click();
    const log = page.locator("#console-log");
    await waitFor("the ready marker in the console", async () => (await log.textContent()).includes(READY), BOOT_MS, 500);
    const text = await log.textContent();
    assert.match(text, /portal-user-data-42/);
    assert.ok(text.includes(`instance-id=${S.instanceId}`), "the marker names the instance");
    await shot(page, "05-console");
  });

  it("lists the instance with its live state", async () => {
    const page = S.alice;
    await nav(page, "Instances").click();
    const row = page.locator('tr[data-instance="web1"]');
    await row.locator(".badge", { hasText: "running" }).waitFor();
    await shot(page, "06-instances");
    const phone = await newPage(390, 844);
    await phone.addInitScript((s) => sessionStorage.setItem("nubo.session", s), await page.evaluate(() => sessionStorage.getItem("nubo.session")));
    await phone.goto(cloud.base + "/instances");
    await phone.locator('tr[data-instance="web1"]').waitFor();
    await shot(phone, "07-instances-phone");
    await phone.close();
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
