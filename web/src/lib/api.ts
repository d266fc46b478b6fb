// The portal's one door to the cloud: the public REST API under /v1, with
// the user's bearer token.  The token lives in memory and in
// sessionStorage (so a reload keeps the session, a closed tab ends it); it
// never goes into a URL, a cookie or a log.  Errors are thrown as
// ApiError carrying the problem+json.

import { Problem, problemMessage, toProblem } from "./problem";

export class ApiError extends Error {
  constructor(public problem: Problem) {
    super(problemMessage(problem));
  }
  get status(): number {
    return this.problem.status;
  }
}

export interface Session {
  token: string;
  token_id: string;
  expires_at: string;
  user: { id: string; name: string };
  project: { id: string; name: string };
  role: "admin" | "member" | "reader" | string;
  is_admin: boolean;
}

const KEY = "nubo.session";
let session: Session | null = null;
const listeners = new Set<(s: Session | null) => void>();

export function getSession(): Session | null {
  if (session === null) {
    try {
      const raw = sessionStorage.getItem(KEY);
      if (raw) session = JSON.parse(raw) as Session;
    } catch {
      session = null;
    }
  }
  return session;
}

export function setSession(s: Session | null): void {
  session = s;
  try {
    if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
    else sessionStorage.removeItem(KEY);
  } catch {
    /* storage disabled: the session lives in memory only */
  }
  for (const l of listeners) l(s);
}

export function onSession(l: (s: Session | null) => void): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

/** True when the session may change things in its project. */
export function canWrite(s: Session | null): boolean {
  return !!s && (s.role === "member" || s.role === "admin");
}

export interface ReqOpts {
  body?: unknown; // JSON-encoded
  raw?: Blob | ArrayBuffer; // sent as application/octet-stream
  query?: Record<string, string | number | boolean | undefined | null>;
  signal?: AbortSignal;
  idempotent?: boolean; // send a fresh Idempotency-Key (safe to retry)
  text?: boolean; // answer as text (console)
  noAuth?: boolean;
}

export interface Answer<T> {
  data: T;
  headers: Headers;
  status: number;
}

export function url(path: string, query?: ReqOpts["query"]): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const qs = q.toString();
  return path + (qs ? "?" + qs : "");
}

export function newKey(): string {
  if (typeof crypto !== "undefined" && "randomUUID" in crypto) return "portal-" + crypto.randomUUID();
  return "portal-" + Math.random().toString(36).slice(2) + Date.now().toString(36);
}

/** Calls the API.  A 401 on an authenticated call ends the session (the
 * token expired or was revoked) so the portal asks to log in again. */
export async function request<T = any>(method: string, path: string, o: ReqOpts = {}): Promise<Answer<T>> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const s = getSession();
  if (s && !o.noAuth) headers.Authorization = "Bearer " + s.token;
  let body: BodyInit | undefined;
  if (o.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(o.body);
  } else if (o.raw !== undefined) {
    headers["Content-Type"] = "application/octet-stream";
    body = o.raw;
  }
  if (o.idempotent) headers["Idempotency-Key"] = newKey();
  let r: Response;
  try {
    r = await fetch(url(path, o.query), { method, headers, body, signal: o.signal, cache: "no-store", credentials: "omit" });
  } catch (e) {
    if ((e as Error)?.name === "AbortError") throw e;
    throw new ApiError({ status: 0, title: "Network error" });
  }
  if (!r.ok) {
    const text = await r.text();
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    const p = toProblem(r.status, parsed, text);
    if (r.status === 401 && s && !o.noAuth && getSession() === s) {
      setSession(null);
      expiredListeners.forEach((l) => l(problemMessage(p)));
    }
    throw new ApiError(p);
  }
  let data: any = null;
  if (r.status !== 204) data = o.text ? await r.text() : await r.json().catch(() => null);
  return { data: data as T, headers: r.headers, status: r.status };
}

const expiredListeners = new Set<(msg: string) => void>();
export function onExpired(l: (msg: string) => void): () => void {
  expiredListeners.add(l);
  return () => expiredListeners.delete(l);
}

export const api = {
  get: <T = any>(path: string, o?: ReqOpts) => request<T>("GET", path, o).then((a) => a.data),
  post: <T = any>(path: string, body?: unknown, o?: ReqOpts) => request<T>("POST", path, { ...o, body }).then((a) => a.data),
  put: <T = any>(path: string, body?: unknown, o?: ReqOpts) => request<T>("PUT", path, { ...o, body }).then((a) => a.data),
  patch: <T = any>(path: string, body?: unknown, o?: ReqOpts) => request<T>("PATCH", path, { ...o, body }).then((a) => a.data),
  del: <T = any>(path: string, o?: ReqOpts) => request<T>("DELETE", path, o).then((a) => a.data),
};

/** Fetches every page of a list (?limit=&marker=), up to `max` items. */
export async function listAll<T = any>(path: string, key: string, query: ReqOpts["query"] = {}, max = 5000): Promise<T[]> {
  const out: T[] = [];
  let marker: string | null = null;
  for (;;) {
    const page: any = await api.get(path, { query: { ...query, limit: 1000, marker } });
    out.push(...((page?.[key] ?? []) as T[]));
    marker = page?.next_marker ?? null;
    if (!marker || out.length >= max) return out;
  }
}

/** Uploads a file with progress (fetch cannot report upload progress). */
export function upload(
  method: string,
  path: string,
  file: Blob,
  onProgress: (sent: number, total: number) => void,
  signal?: AbortSignal,
): Promise<any> {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open(method, path);
    const s = getSession();
    if (s) x.setRequestHeader("Authorization", "Bearer " + s.token);
    x.setRequestHeader("Content-Type", "application/octet-stream");
    x.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    x.onload = () => {
      let body: unknown = null;
      try {
        body = JSON.parse(x.responseText);
      } catch {
        /* not JSON */
      }
      if (x.status >= 200 && x.status < 300) resolve(body);
      else reject(new ApiError(toProblem(x.status, body, x.responseText)));
    };
    x.onerror = () => reject(new ApiError({ status: 0, title: "Network error" }));
    x.onabort = () => reject(new DOMException("aborted", "AbortError"));
    signal?.addEventListener("abort", () => x.abort());
    x.send(file);
  });
}

/* ------------------------------------------------------------ login */

export async function login(user: string, password: string, project?: string): Promise<Session> {
  const body: Record<string, string> = { user, password };
  if (project) body.project = project;
  const t = await api.post<any>("/v1/auth/tokens", body, { noAuth: true });
  const s: Session = {
    token: t.token,
    token_id: t.token_id,
    expires_at: t.expires_at,
    user: t.user,
    project: t.project,
    role: t.role,
    is_admin: false,
  };
  // is_admin (a cloud admin: whoami's cloud_admin, never a project's admin role)
  const who = await fetch("/v1/auth/whoami", { headers: { Authorization: "Bearer " + s.token }, cache: "no-store" });
  if (who.ok) {
    const w = await who.json();
    s.is_admin = !!(w.cloud_admin ?? w.is_admin);
  }
  return s;
}

/** Revokes a token that is not the session's (the first one of a login
 * that then picked another project). */
export async function revoke(token: string): Promise<void> {
  await fetch("/v1/auth/tokens/current", { method: "DELETE", headers: { Authorization: "Bearer " + token } }).catch(() => undefined);
}

/** Logs out: revokes the token on the server, then forgets it. */
export async function logout(): Promise<void> {
  const s = getSession();
  if (s) await revoke(s.token);
  setSession(null);
}
