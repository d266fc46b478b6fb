// Path patterns of the client routes ("/instances/:id"): pure, so unit-tested.

/** Matches "/instances/:id" against a path; returns the params or null. */
export function match(pattern: string, p: string): Record<string, string> | null {
  const a = pattern.split("/");
  const b = p.split("?")[0].split("/");
  if (a.length !== b.length) return null;
  const out: Record<string, string> = {};
  for (let i = 0; i < a.length; i++) {
    if (a[i].startsWith(":")) {
      if (!b[i]) return null;
      out[a[i].slice(1)] = decodeURIComponent(b[i]);
    } else if (a[i] !== b[i]) return null;
  }
  return out;
}
