// The portal's shell: session, navigation, and which view a path shows.

import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import "./style.css";
import { getSession, logout, onExpired, onSession, Session } from "./lib/api";
import { billingEnabled } from "./lib/billing";
import { has, loadFeatures } from "./lib/features";
import { match, navigate, useLocation } from "./router";
import { Toasts } from "./ui";
import { Login, switchProject } from "./views/login";
import { Dashboard } from "./views/dashboard";
import { InstanceDetail, Instances, Launch } from "./views/instances";
import { ApiKeys, Images, Keypairs } from "./views/resources";
import { AdminOnly, AllInstances, Audit, Flavors, Hosts, ProjectDetail, Projects, Users } from "./views/admin";
import { Alarms, Billing, Prices } from "./views/billing";
import { FloatingIps, Networks, SecurityGroups, Topology } from "./views/networking";

interface NavItem {
  href: string;
  label: string;
  show?: () => boolean;
}

const TENANT_NAV: NavItem[] = [
  { href: "/", label: "Dashboard" },
  { href: "/instances", label: "Instances" },
  { href: "/images", label: "Images" },
  { href: "/networks", label: "Networks", show: () => has("/v1/networks") && has("/v1/subnets") },
  { href: "/security-groups", label: "Security groups", show: () => has("/v1/security-groups") },
  { href: "/floating-ips", label: "Floating IPs", show: () => has("/v1/floating-ips") },
  { href: "/topology", label: "Topology", show: () => has("/v1/networks") && has("/v1/subnets") },
  { href: "/keypairs", label: "Key pairs" },
  { href: "/alarms", label: "Alarms", show: () => has("/v1/alarms") },
  { href: "/billing", label: "Billing", show: billingEnabled },
  { href: "/api-keys", label: "API keys" },
];

const ADMIN_NAV: NavItem[] = [
  { href: "/admin/hosts", label: "Hosts" },
  { href: "/admin/instances", label: "All instances" },
  { href: "/admin/projects", label: "Projects" },
  { href: "/admin/users", label: "Users" },
  { href: "/admin/flavors", label: "Flavors" },
  { href: "/admin/prices", label: "Prices", show: () => has("/v1/prices") },
  { href: "/admin/audit", label: "Audit log" },
];

/** Which view a path shows (null: not found). */
function route(p: string, s: Session) {
  const path = p.split("?")[0].replace(/\/+$/, "") || "/";
  const admin = (title: string, view: () => any) => (s.is_admin ? view() : <AdminOnly title={title} />);
  let m: Record<string, string> | null;
  switch (path) {
    case "/":
      return <Dashboard />;
    case "/instances":
      return <Instances />;
    case "/instances/new":
      return <Launch />;
    case "/images":
      return <Images />;
    case "/keypairs":
      return <Keypairs />;
    case "/networks":
      return <Networks />;
    case "/security-groups":
      return <SecurityGroups />;
    case "/floating-ips":
      return <FloatingIps />;
    case "/topology":
      return <Topology />;
    case "/api-keys":
      return <ApiKeys />;
    case "/billing":
      return <Billing />;
    case "/alarms":
      return <Alarms />;
    case "/admin/hosts":
      return admin("Hosts", () => <Hosts />);
    case "/admin/instances":
      return admin("All instances", () => <AllInstances />);
    case "/admin/projects":
      return admin("Projects", () => <Projects />);
    case "/admin/users":
      return admin("Users", () => <Users />);
    case "/admin/flavors":
      return admin("Flavors", () => <Flavors />);
    case "/admin/audit":
      return admin("Audit log", () => <Audit />);
    case "/admin/prices":
      return admin("Prices", () => <Prices />);
  }
  if ((m = match("/instances/:id", path))) return <InstanceDetail id={m.id} />;
  if ((m = match("/admin/projects/:id", path))) return admin("Project", () => <ProjectDetail id={m!.id} />);
  return null;
}

function Nav({ items, here, label }: { items: NavItem[]; here: string; label: string }) {
  const path = here.split("?")[0];
  return (
    <ul aria-label={label}>
      {items
        .filter((i) => !i.show || i.show())
        .map((i) => {
          const cur = i.href === "/" ? path === "/" : path === i.href || path.startsWith(i.href + "/");
          return (
            <li key={i.href}>
              <a href={i.href} aria-current={cur ? "page" : undefined}>
                {i.label}
              </a>
            </li>
          );
        })}
    </ul>
  );
}

function App() {
  const here = useLocation();
  const [session, setS] = useState<Session | null>(getSession());
  const [notice, setNotice] = useState<string | null>(null);
  useEffect(() => onSession(setS), []);
  useEffect(() => onExpired((msg) => setNotice(`${msg} Your session ended; log in again.`)), []);

  const path = here.split("?")[0];
  useEffect(() => {
    if (!session && path !== "/login") navigate(path === "/" ? "/login" : `/login?next=${encodeURIComponent(here)}`, true);
    if (session && path === "/login") navigate("/", true);
  }, [session, path]);

  if (!session) return path === "/login" ? <Login notice={notice} /> : null;
  const view = route(here, session);
  return (
    <div class="shell">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="/" aria-label="nubo home">
          <span class="logo" aria-hidden="true" />
          nubo
        </a>
        <div class="who">
          <span class="project" title="Current project">
            <span class="muted">project</span> <strong data-testid="project-name">{session.project.name}</strong>
          </span>
          <span class="user">
            <span class="muted">as</span> {session.user.name} <span class={`badge role-${session.role}`}>{session.role}</span>
          </span>
          <button type="button" class="link" onClick={() => switchProject(session)}>
            Switch project
          </button>
          <button
            type="button"
            onClick={async () => {
              await logout();
              navigate("/login", true);
            }}
          >
            Log out
          </button>
        </div>
      </header>
      <nav class="side" aria-label="Main">
        <Nav items={TENANT_NAV} here={here} label="Project" />
        {session.is_admin && (
          <>
            <h2 class="nav-h">Cloud admin</h2>
            <Nav items={ADMIN_NAV} here={here} label="Cloud admin" />
          </>
        )}
      </nav>
      <main id="main" tabIndex={-1}>
        {view ?? (
          <>
            <h1>Not found</h1>
            <p>
              Nothing lives at this address. <a href="/">Back to the dashboard</a>
            </p>
          </>
        )}
      </main>
      <Toasts />
    </div>
  );
}

loadFeatures().then(() => render(<App />, document.getElementById("app")!));
