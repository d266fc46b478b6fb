// What the cloud offers: the portal reads the public OpenAPI document once
// (GET /v1/openapi.json) and shows the views whose routes exist — billing
// and monitoring appear when the controller has them, without a new
// portal.  A route that answers 404 anyway is treated as missing.  The
// actions a route accepts (the "action" enum of its request body, e.g.
// POST /v1/hosts/{id}/actions) are read the same way, so a button appears
// only once the controller knows its action.

let paths: Set<string> | null = null;
let doc: any = null;
let loading: Promise<Set<string>> | null = null;

export function loadFeatures(): Promise<Set<string>> {
  if (paths) return Promise.resolve(paths);
  if (!loading)
    loading = fetch("/v1/openapi.json", { cache: "no-store" })
      .then((r) => (r.ok ? r.json() : { paths: {} }))
      .then((d) => {
        doc = d;
        return (paths = new Set(Object.keys(d?.paths ?? {})));
      })
      .catch(() => (paths = new Set()));
  return loading;
}

/** True when the API has this path (as written in the document, e.g.
 * "/v1/instances/{id}/metrics"). */
export function has(path: string): boolean {
  return !!paths && paths.has(path);
}

/** Follows a local "$ref" ("#/components/schemas/X") in document d. */
export function deref(d: any, node: any): any {
  let n = node;
  for (let i = 0; n && typeof n.$ref === "string" && i < 8; i++) {
    const parts = n.$ref.replace(/^#\//, "").split("/");
    n = parts.reduce((o: any, k: string) => (o == null ? undefined : o[k]), d);
  }
  return n;
}

/** The values of the "action" property of a POST route's JSON body in
 * document d (empty when the route or the property is not there). */
export function actionsIn(d: any, path: string): string[] {
  const op = d?.paths?.[path]?.post;
  const body = deref(d, op?.requestBody);
  const schema = deref(d, body?.content?.["application/json"]?.schema);
  const action = deref(d, schema?.properties?.action);
  return Array.isArray(action?.enum) ? action.enum.map(String) : [];
}

/** True when POST `path` accepts {"action": action} per the document. */
export function hasAction(path: string, action: string): boolean {
  return actionsIn(doc, path).includes(action);
}
