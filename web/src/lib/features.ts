// What the cloud offers: the portal reads the public OpenAPI document once
// (GET /v1/openapi.json) and shows the views whose routes exist — billing
// and monitoring appear when the controller has them, without a new
// portal.  A route that answers 404 anyway is treated as missing.

let paths: Set<string> | null = null;
let loading: Promise<Set<string>> | null = null;

export function loadFeatures(): Promise<Set<string>> {
  if (paths) return Promise.resolve(paths);
  if (!loading)
    loading = fetch("/v1/openapi.json", { cache: "no-store" })
      .then((r) => (r.ok ? r.json() : { paths: {} }))
      .then((doc) => (paths = new Set(Object.keys(doc?.paths ?? {}))))
      .catch(() => (paths = new Set()));
  return loading;
}

/** True when the API has this path (as written in the document, e.g.
 * "/v1/instances/{id}/metrics"). */
export function has(path: string): boolean {
  return !!paths && paths.has(path);
}
