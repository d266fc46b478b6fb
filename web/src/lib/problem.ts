// Maps an API error (RFC 7807 problem+json) onto a form: the message goes
// next to the field it is about when the detail names one, else above the
// form.  Pure functions (unit-tested).

export interface Problem {
  type?: string;
  title?: string;
  status: number;
  detail?: string;
  instance?: string;
}

export interface FormErrors {
  fields: Record<string, string>;
  form: string | null; // a message for the whole form
}

/** Aliases: words the API uses for a field in its details. */
export type FieldAliases = Record<string, string[]>;

/** Reads a failed fetch Response's body as a problem; a body that is not
 * problem+json becomes a problem with the HTTP status and its text. */
export function toProblem(status: number, body: unknown, fallbackText = ""): Problem {
  if (body && typeof body === "object" && "status" in body) {
    const b = body as Record<string, unknown>;
    return {
      type: typeof b.type === "string" ? b.type : undefined,
      title: typeof b.title === "string" ? b.title : undefined,
      status: typeof b.status === "number" ? b.status : status,
      detail: typeof b.detail === "string" ? b.detail : undefined,
      instance: typeof b.instance === "string" ? b.instance : undefined,
    };
  }
  return { status, title: statusTitle(status), detail: fallbackText.trim().slice(0, 300) || undefined };
}

export function statusTitle(status: number): string {
  const t: Record<number, string> = {
    0: "Network error",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Too Large",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    507: "Insufficient Storage",
  };
  return t[status] ?? `HTTP ${status}`;
}

/** A sentence a person can act on. */
export function problemMessage(p: Problem): string {
  if (p.status === 0) return "Cannot reach the cloud's API. Check the connection and try again.";
  if (p.status === 403 && !p.detail) return "You are not allowed to do this.";
  const detail = p.detail ? capitalize(p.detail) : "";
  if (!detail) return p.title ?? statusTitle(p.status);
  return /[.!?]$/.test(detail) ? detail : detail + ".";
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Where a problem belongs on a form whose inputs are `fields` (their API
 * names).  A detail such as "vcpus must be from 1 to 64", "unknown field
 * 'foo'", "instance name must start with a letter" or "no keypair 'k' in
 * this project" is put on the field it names (the earliest mention wins);
 * anything else, and every non-400/404/409 problem, goes to the form. */
export function mapProblem(p: Problem, fields: string[], aliases: FieldAliases = {}): FormErrors {
  const msg = problemMessage(p);
  if (![400, 404, 409, 413, 422].includes(p.status) || !p.detail) return { fields: {}, form: msg };
  const detail = p.detail;
  let best: { field: string; at: number } | null = null;
  for (const f of fields) {
    const words = [f, ...(aliases[f] ?? [])];
    for (const w of words) {
      // a whole word, possibly quoted; '_' counts as part of a word
      const re = new RegExp(`(^|[^A-Za-z0-9_])['"]?${escapeRe(w)}['"]?(?=$|[^A-Za-z0-9_])`, "i");
      const m = re.exec(detail);
      if (m) {
        const at = m.index + m[1].length;
        if (best === null || at < best.at) best = { field: f, at };
      }
    }
  }
  if (best === null) return { fields: {}, form: msg };
  // next to the field, "public_key: the key data is malformed" needs no
  // "public_key: "
  const m = /^['"]?[A-Za-z0-9_ ]{1,40}['"]?:\s+(.+)$/.exec(detail);
  const near = best.at === 0 && m ? problemMessage({ ...p, detail: m[1] }) : msg;
  return { fields: { [best.field]: near }, form: null };
}
