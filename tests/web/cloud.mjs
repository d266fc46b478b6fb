// A real all-in-one cloud for the portal's browser tests: nubod serving
// the built portal (--web-dir) on a random port, one nubo-hostd joined to
// it (QEMU: KVM where it works, TCG otherwise), the nubo-tiny image
// registered, a flavor, and tenants: a member and a reader of project
// "web-a", a member of project "web-b".  Everything lives under one
// temporary directory and is stopped by stop().
//
// The agent keeps its host networking (bridges, taps, nft tables, the
// router namespaces with dnsmasq) in a network namespace the cloud makes,
// "nweb-<hex>" (--netns), so tenant networks never touch the machine's own
// namespace; stop() deletes that namespace and the router namespaces
// named after it ("nweb-<hex>-..."), nothing else.
//
// new Cloud({ withHost: false, fakeHosts: 2 }) gives a cloud of agents on
// the fake driver ("fake-1", "fake-2": no guest runs, a live migration
// takes 1.5 s, or fakeMigrateMs: NUBO_FAKE_MIGRATE_MS): enough for the
// admin's Migrate button and host views.
//
// Environment: NUBO_BUILD (build directory with src/ctrl/nubod and
// src/host/nubo-hostd; default "build"), NUBO_IMAGES (default
// build/images), NUBO_WEB_DIR (default build/web).

import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, existsSync, closeSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const ROOT = resolve(new URL("../..", import.meta.url).pathname);
const BUILD = resolve(ROOT, process.env.NUBO_BUILD ?? "build");
const IMAGES = resolve(ROOT, process.env.NUBO_IMAGES ?? "build/images");
export const WEB_DIR = resolve(ROOT, process.env.NUBO_WEB_DIR ?? "build/web");
export const PASSWORD = "portal-test-pw-1";

export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(what, fn, timeoutMs = 60000, stepMs = 200) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    let v;
    try {
      v = await fn();
    } catch {
      v = null;
    }
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(stepMs);
  }
}

/** A tiny API client holding one token. */
export class Client {
  constructor(base, token = null) {
    this.base = base;
    this.token = token;
  }
  async req(method, path, body, headers = {}) {
    const h = { ...headers };
    if (this.token) h.Authorization = "Bearer " + this.token;
    if (body !== undefined) h["Content-Type"] = "application/json";
    const r = await fetch(this.base + path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: r.status, json, text, headers: r.headers };
  }
  get(p) {
    return this.req("GET", p);
  }
  post(p, b) {
    return this.req("POST", p, b);
  }
  put(p, b) {
    return this.req("PUT", p, b);
  }
  del(p) {
    return this.req("DELETE", p);
  }
  async must(method, path, body, want) {
    const r = await this.req(method, path, body);
    if (want ? r.status !== want : r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
    return r.json;
  }
}

/** The network namespaces' names (`ip netns list`). */
function netnsList() {
  try {
    return execFileSync("ip", ["netns", "list"], { encoding: "utf8" })
      .split("\n")
      .map((l) => l.split(" ")[0])
      .filter(Boolean);
  } catch {
    return [];
  }
}

export class Cloud {
  constructor({ withHost = true, fakeHosts = 0, fakeMigrateMs = 0 } = {}) {
    this.withHost = withHost;
    this.fakeHosts = fakeHosts;
    this.fakeMigrateMs = fakeMigrateMs;
    this.tmp = mkdtempSync(join(tmpdir(), "nubo-web-"));
    this.procs = [];
    this.netns = null;
  }

  log(name) {
    try {
      return readFileSync(join(this.tmp, name + ".log"), "utf8").slice(-6000);
    } catch {
      return "";
    }
  }

  spawnLogged(name, argv, extraEnv = {}) {
    const fd = openSync(join(this.tmp, name + ".log"), "a");
    const env = { ...process.env, ...extraEnv, ASAN_OPTIONS: process.env.ASAN_OPTIONS ?? "detect_leaks=1:abort_on_error=0", UBSAN_OPTIONS: "halt_on_error=1:print_stacktrace=1" };
    const p = spawn(argv[0], argv.slice(1), { stdio: ["ignore", fd, fd], env });
    closeSync(fd);
    p.exited = new Promise((res) => p.on("exit", (code, sig) => res(code ?? (sig ? 128 : 0))));
    this.procs.push({ name, p });
    return p;
  }

  async start() {
    for (const f of [join(BUILD, "src/ctrl/nubod"), join(WEB_DIR, "index.html")])
      if (!existsSync(f)) throw new Error(`missing ${f} (build nubo and the portal first)`);
    this.port = await freePort();
    this.base = `http://127.0.0.1:${this.port}`;
    this.ctrlDir = join(this.tmp, "controller");
    this.nubod = this.spawnLogged("nubod", [
      join(BUILD, "src/ctrl/nubod"),
      "--state-dir", this.ctrlDir,
      "--listen", `127.0.0.1:${this.port}`,
      "--reconcile-ms", "500",
      "--web-dir", WEB_DIR,
    ]);
    await waitFor("nubod", async () => (await fetch(this.base + "/v1/health")).ok, 30000, 50);
    const pw = readFileSync(join(this.ctrlDir, "admin-password"), "utf8").trim();
    this.admin = await this.login("admin", pw, "admin");
    this.adminPassword = pw;

    // tenants: web-a (member, reader), web-b (member)
    for (const p of ["web-a", "web-b"]) await this.admin.must("POST", "/v1/projects", { name: p }, 201);
    for (const [u, p, role] of [
      ["alice", "web-a", "member"],
      ["rita", "web-a", "reader"],
      ["bob", "web-b", "member"],
    ]) {
      await this.admin.must("POST", "/v1/users", { name: u, password: PASSWORD }, 201);
      await this.admin.must("PUT", `/v1/projects/${p}/members/${u}`, { role }, 200);
    }
    await this.admin.must("POST", "/v1/flavors", { name: "tiny", vcpus: 1, ram_mib: 192, disk_gib: 1 }, 201);
    await this.admin.must("POST", "/v1/flavors", { name: "small", vcpus: 1, ram_mib: 256, disk_gib: 2 }, 201);

    if (this.withHost || this.fakeHosts > 0) {
      if (!existsSync(join(IMAGES, "nubo-tiny.qcow2"))) throw new Error(`missing ${IMAGES}/nubo-tiny.qcow2 (images/build-guest.sh build/images)`);
      const cmdline = readFileSync(join(IMAGES, "nubo-tiny.cmdline"), "utf8").trim();
      await this.admin.must(
        "POST",
        "/v1/images",
        {
          name: "nubo-tiny",
          visibility: "public",
          file: join(IMAGES, "nubo-tiny.qcow2"),
          kernel_file: join(IMAGES, "nubo-tiny.kernel"),
          initrd_file: join(IMAGES, "nubo-tiny.initrd"),
          cmdline,
        },
        201,
      );
    }
    if (this.withHost) {
      const hd = join(this.tmp, "host");
      mkdirSync(join(hd, "images"), { recursive: true });
      this.sock = join(hd, "hostd.sock");
      this.netns = "nweb-" + randomBytes(3).toString("hex");
      execFileSync("ip", ["netns", "add", this.netns]);
      execFileSync("ip", ["-n", this.netns, "link", "set", "lo", "up"]);
      // the external network's bridge (floating IPs), inside the namespace
      execFileSync("ip", ["-n", this.netns, "link", "add", "br-ext", "type", "bridge"]);
      execFileSync("ip", ["-n", this.netns, "link", "set", "br-ext", "up"]);
      this.hostd = this.spawnLogged("hostd", [
        join(BUILD, "src/host/nubo-hostd"),
        "--state-dir", join(hd, "state"),
        "--images-dir", join(hd, "images"),
        "--socket", this.sock,
        "--stop-timeout", "20",
        "--cpu-ratio", "8",
        "--controller", this.base,
        "--join-token-file", join(this.ctrlDir, "join-token"),
        "--advertise", "unix:" + this.sock,
        "--name", "host-1",
        "--heartbeat-ms", "1000",
        "--netns", this.netns,
        "--external-bridge", "br-ext",
      ]);
    }
    const names = this.withHost ? ["host-1"] : [];
    for (let k = 1; k <= this.fakeHosts; k++) {
      const name = `fake-${k}`;
      const fd = join(this.tmp, name);
      mkdirSync(join(fd, "images"), { recursive: true });
      const sock = join(fd, "hostd.sock");
      this.spawnLogged(name, [
        join(BUILD, "src/host/nubo-hostd"),
        "--driver", "fake",
        "--state-dir", join(fd, "state"),
        "--images-dir", join(fd, "images"),
        "--socket", sock,
        "--controller", this.base,
        "--join-token-file", join(this.ctrlDir, "join-token"),
        "--advertise", "unix:" + sock,
        "--name", name,
        "--heartbeat-ms", "500",
      ], this.fakeMigrateMs ? { NUBO_FAKE_MIGRATE_MS: String(this.fakeMigrateMs) } : {});
      names.push(name);
    }
    if (names.length)
      await waitFor(
        `the hosts (${names.join(", ")}) to join`,
        async () => {
          const r = await this.admin.get("/v1/hosts");
          const up = new Set((r.json?.hosts ?? []).filter((h) => h.state === "up").map((h) => h.name));
          return names.every((n) => up.has(n));
        },
        30000,
      );
    return this;
  }

  async login(user, password, project) {
    const c = new Client(this.base);
    const t = await c.must("POST", "/v1/auth/tokens", { user, password, project }, 201);
    c.token = t.token;
    return c;
  }

  /** Stops every process (hostd first: its VMs go with it) and removes
   * the temporary directory unless keep.  Returns the exit codes. */
  async stop(keep = false) {
    const codes = {};
    for (const { name, p } of [...this.procs].reverse()) {
      if (p.exitCode === null && p.signalCode === null) p.kill("SIGTERM");
      const t = setTimeout(() => p.kill("SIGKILL"), 30000);
      codes[name] = await p.exited;
      clearTimeout(t);
    }
    // dnsmasq and QEMU carry the temporary directory in their command lines
    for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p) && +p !== process.pid)) {
      try {
        if (readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(this.tmp)) process.kill(+pid, "SIGKILL");
      } catch {
        /* gone meanwhile */
      }
    }
    if (this.netns)
      for (const ns of netnsList())
        if (ns === this.netns || ns.startsWith(this.netns + "-")) execFileSync("ip", ["netns", "del", ns], { stdio: "ignore" });
    if (!keep) rmSync(this.tmp, { recursive: true, force: true });
    return codes;
  }
}
