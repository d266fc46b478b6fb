// Login, then the choice of a project.  A token is scoped to one project,
// so a user with roles in several first logs in to their default project,
// sees the list, and — if they pick another — gets a token for that one
// (the password is still in the form; it is never stored) while the first
// token is revoked at once.

import { useEffect, useRef, useState } from "preact/hooks";
import { api, ApiError, login, revoke, Session, setSession } from "../lib/api";
import { navigate, query } from "../router";
import { FormError, SelectField, TextField, useForm } from "../ui";
import { useTitle } from "../hooks";

interface Proj {
  id: string;
  name: string;
  role?: string;
  description?: string;
}

export function Login({ notice }: { notice?: string | null }) {
  useTitle("Log in");
  const f = useForm({ user: query("user") ?? "", password: "", project: "" });
  const [choice, setChoice] = useState<{ first: Session; projects: Proj[] } | null>(null);
  const userRef = useRef<HTMLDivElement>(null);
  useEffect(() => {
    userRef.current?.querySelector("input")?.focus();
  }, []);
  const next = () => {
    const to = query("next");
    navigate(to && to.startsWith("/") && !to.startsWith("//") ? to : "/", true);
  };

  const onLogin = f.submit(
    async (v) => {
      let s: Session;
      try {
        s = await login(v.user.trim(), v.password, v.project.trim() || undefined);
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) throw new ApiError({ ...e.problem, status: 400, detail: "wrong user name or password" });
        if (e instanceof ApiError && e.status === 403 && v.project) throw new ApiError({ ...e.problem, status: 400, detail: `project: ${e.problem.detail}` });
        throw e;
      }
      if (v.project.trim()) {
        setSession(s);
        next();
        return;
      }
      // which projects could this user work in?
      let projects: Proj[] = [];
      try {
        const r = await fetch("/v1/projects?limit=1000", { headers: { Authorization: "Bearer " + s.token }, cache: "no-store" });
        if (r.ok) projects = ((await r.json()).projects ?? []) as Proj[];
      } catch {
        /* go on with the default project */
      }
      if (s.is_admin) projects = projects.filter((p) => p.role || p.id === s.project.id);
      if (projects.length <= 1) {
        setSession(s);
        next();
        return;
      }
      setChoice({ first: s, projects });
    },
    (v) => ({ user: v.user.trim() ? "" : "Enter your user name.", password: v.password ? "" : "Enter your password." }),
  );

  const [pick, setPick] = useState("");
  const [pickErr, setPickErr] = useState<string | null>(null);
  const [pickBusy, setPickBusy] = useState(false);
  useEffect(() => {
    if (choice) setPick(choice.first.project.id);
  }, [choice]);

  const onPick = async (e: Event) => {
    e.preventDefault();
    if (!choice) return;
    if (pick === choice.first.project.id) {
      setSession(choice.first);
      next();
      return;
    }
    setPickBusy(true);
    try {
      const s = await login(f.values.user.trim(), f.values.password, pick);
      await revoke(choice.first.token);
      setSession(s);
      next();
    } catch (err) {
      setPickErr(err instanceof ApiError ? err.message : String(err));
    } finally {
      setPickBusy(false);
    }
  };

  return (
    <main id="main" class="login">
      <div class="login-card">
        <p class="brand-big" aria-hidden="true">
          <span class="logo" />
          nubo
        </p>
        {!choice ? (
          <form onSubmit={onLogin} noValidate aria-labelledby="login-h">
            <h1 id="login-h">Log in to your cloud</h1>
            {notice && (
              <p class="notice" role="status">
                {notice}
              </p>
            )}
            <FormError error={f.errors.form} />
            <div ref={userRef}>
              <TextField label="User name" name="username" autocomplete="username" value={f.values.user} onValue={f.set("user")} error={f.err("user")} required />
            </div>
            <TextField label="Password" name="password" type="password" autocomplete="current-password" value={f.values.password} onValue={f.set("password")} error={f.err("password")} required />
            <details class="more">
              <summary>Project (optional)</summary>
              <TextField
                label="Project name or id"
                value={f.values.project}
                onValue={f.set("project")}
                error={f.err("project")}
                hint="Leave empty to choose after logging in."
              />
            </details>
            <button class="primary wide" type="submit" disabled={f.busy}>
              {f.busy ? "Logging in…" : "Log in"}
            </button>
          </form>
        ) : (
          <form onSubmit={onPick} aria-labelledby="pick-h">
            <h1 id="pick-h">Choose a project</h1>
            <p>
              Hello {choice.first.user.name}. You work in {choice.projects.length} projects; the portal shows one at a time.
            </p>
            <FormError error={pickErr} />
            <SelectField
              label="Project"
              value={pick}
              onValue={setPick}
              options={choice.projects.map((p) => ({ value: p.id, label: `${p.name}${p.role ? ` (${p.role})` : ""}` }))}
            />
            <button class="primary wide" type="submit" disabled={pickBusy}>
              {pickBusy ? "Opening…" : "Continue"}
            </button>
          </form>
        )}
      </div>
    </main>
  );
}

/** The project switcher: a new login for the other project (tokens are
 * per project), with the user name filled in. */
export async function switchProject(s: Session): Promise<void> {
  await api.del("/v1/auth/tokens/current").catch(() => undefined);
  setSession(null);
  navigate(`/login?user=${encodeURIComponent(s.user.name)}`, true);
}
