// The project's other resources: images (with uploads that show their
// progress), key pairs, and the user's API keys.

import { useRef, useState } from "preact/hooks";
import { api, canWrite, getSession, listAll, request, upload } from "../lib/api";
import { imageBadge } from "../lib/badges";
import { formatBytes, formatRelative, formatTime } from "../lib/format";
import { useAsync, usePoll, useTitle } from "../hooks";
import { act, Badge, Empty, ErrorBox, Field, FormError, PageHead, SelectField, Spinner, TextArea, TextField, toast, useConfirm, useForm } from "../ui";

/* ------------------------------------------------------------- images */

interface Image {
  id: string;
  name: string;
  visibility: string;
  status: string;
  disk_format: string;
  size_bytes: number;
  virtual_size_bytes: number;
  boot: string;
  project_id: string;
  created_at: string;
}

export function Images() {
  useTitle("Images");
  const s = getSession()!;
  const write = canWrite(s);
  const list = usePoll(
    () => listAll<Image>("/v1/images", "images"),
    (l) => l.some((i) => imageBadge(i.status).busy),
  );
  const confirm = useConfirm();
  const [showUpload, setShowUpload] = useState(false);
  const del = async (i: Image) => {
    if (!(await confirm.ask(`Delete image ${i.name}?`, "Instances can no longer be launched from it.", "Delete image"))) return;
    await act(`Deleted ${i.name}`, () => api.del(`/v1/images/${i.id}`));
    list.poke();
  };
  const mine = (i: Image) => i.project_id === s.project.id || s.is_admin;
  return (
    <>
      <PageHead title="Images" sub="Disk images instances boot from">
        {write && (
          <button type="button" class="primary" aria-expanded={showUpload} onClick={() => setShowUpload(!showUpload)}>
            Upload an image
          </button>
        )}
      </PageHead>
      {confirm.node}
      {showUpload && (
        <UploadImage
          done={() => {
            setShowUpload(false);
            list.poke();
          }}
        />
      )}
      <ErrorBox error={list.error} retry={list.poke} />
      {!list.data ? (
        <Spinner />
      ) : list.data.length === 0 ? (
        <Empty>No images yet.</Empty>
      ) : (
        <table class="table" aria-label="Images">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">State</th>
              <th scope="col">Visibility</th>
              <th scope="col">Size</th>
              <th scope="col">Format</th>
              <th scope="col">Created</th>
              {write && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {list.data.map((i) => (
              <tr key={i.id}>
                <td data-label="Name">{i.name}</td>
                <td data-label="State">
                  <Badge badge={imageBadge(i.status)} />
                </td>
                <td data-label="Visibility">{i.visibility}</td>
                <td data-label="Size">
                  {formatBytes(i.size_bytes)}
                  {i.virtual_size_bytes ? <span class="muted"> ({formatBytes(i.virtual_size_bytes)} virtual)</span> : null}
                </td>
                <td data-label="Format">
                  {i.disk_format || "—"}
                  {i.boot === "kernel" ? " + kernel" : ""}
                </td>
                <td data-label="Created">
                  <time dateTime={i.created_at} title={formatTime(i.created_at)}>
                    {formatRelative(i.created_at)}
                  </time>
                </td>
                {write && (
                  <td data-label="Actions">
                    {mine(i) && (
                      <button type="button" class="danger" aria-label={`Delete ${i.name}`} onClick={() => del(i)}>
                        Delete
                      </button>
                    )}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

/** Creates an image, then streams its disk (and optional kernel and
 * initrd) with a progress bar per file. */
function UploadImage({ done }: { done: () => void }) {
  const s = getSession()!;
  const f = useForm({ name: "", visibility: "private", cmdline: "", file: "", kernel: "", initrd: "" });
  const files = useRef<{ file?: File; kernel?: File; initrd?: File }>({});
  const [progress, setProgress] = useState<{ what: string; sent: number; total: number } | null>(null);
  const abort = useRef<AbortController | null>(null);
  const pick = (k: "file" | "kernel" | "initrd") => (e: Event) => {
    const fl = (e.target as HTMLInputElement).files?.[0];
    files.current[k] = fl;
    f.set(k)(fl ? fl.name : "");
    if (k === "file" && fl && !f.values.name) f.set("name")(fl.name.replace(/\.(qcow2|img|raw)$/i, "").replace(/[^A-Za-z0-9._-]/g, "-").replace(/^[^A-Za-z0-9]+/, ""));
  };
  const submit = f.submit(
    async (v) => {
      const body: Record<string, unknown> = { name: v.name.trim(), visibility: v.visibility };
      if (v.cmdline.trim()) body.cmdline = v.cmdline.trim();
      const r = await request<any>("POST", "/v1/images", { body, idempotent: true });
      const id = r.data.id;
      abort.current = new AbortController();
      const parts: ["kernel" | "initrd" | "file", string][] = [];
      if (files.current.kernel) parts.push(["kernel", "kernel"]);
      if (files.current.initrd) parts.push(["initrd", "initrd"]);
      parts.push(["file", "disk"]);
      try {
        for (const [k, what] of parts) {
          const fl = files.current[k]!;
          setProgress({ what, sent: 0, total: fl.size });
          await upload("PUT", `/v1/images/${id}/${k}`, fl, (sent, total) => setProgress({ what, sent, total }), abort.current.signal);
        }
      } catch (e) {
        // a half-made image is useless: remove it
        await api.del(`/v1/images/${id}`).catch(() => undefined);
        throw e;
      } finally {
        setProgress(null);
      }
      toast(`Image ${v.name} uploaded`);
      done();
    },
    (v) => ({
      name: v.name.trim() ? "" : "Give the image a name.",
      file: v.file ? "" : "Choose the disk file (qcow2 or raw).",
      initrd: v.initrd && !v.kernel ? "An initrd needs a kernel." : "",
    }),
  );
  const fileField = (k: "file" | "kernel" | "initrd", label: string, hint?: string) => (
    <Field label={label} error={f.err(k)} hint={hint}>
      {(id, by, invalid) => <input id={id} type="file" onChange={pick(k)} aria-describedby={by} aria-invalid={invalid ? "true" : undefined} />}
    </Field>
  );
  return (
    <form class="panel form grid2" onSubmit={submit} noValidate aria-label="Upload an image">
      <h2 class="span2">Upload an image</h2>
      <FormError error={f.errors.form} />
      {fileField("file", "Disk (qcow2 or raw)")}
      <TextField label="Name" value={f.values.name} onValue={f.set("name")} error={f.err("name")} />
      <SelectField
        label="Visibility"
        value={f.values.visibility}
        onValue={f.set("visibility")}
        error={f.err("visibility")}
        options={[{ value: "private", label: "Private to this project" }, ...(s.is_admin ? [{ value: "public", label: "Public (every project)" }] : [])]}
      />
      <details class="span2 more">
        <summary>Direct kernel boot (optional)</summary>
        <div class="grid2">
          {fileField("kernel", "Kernel")}
          {fileField("initrd", "Initrd")}
          <TextField class="span2" label="Kernel command line" value={f.values.cmdline} onValue={f.set("cmdline")} error={f.err("cmdline")} />
        </div>
      </details>
      {progress && (
        <div class="span2 progress" role="status">
          <progress max={progress.total || 1} value={progress.sent} aria-label={`Uploading the ${progress.what}`} />
          <span>
            Uploading the {progress.what}: {formatBytes(progress.sent)} of {formatBytes(progress.total)} ({Math.floor((100 * progress.sent) / (progress.total || 1))} %)
          </span>
          <button type="button" onClick={() => abort.current?.abort()}>
            Cancel
          </button>
        </div>
      )}
      <div class="span2 btn-row">
        <button class="primary" type="submit" disabled={f.busy}>
          {f.busy ? "Uploading…" : "Upload"}
        </button>
        <button type="button" onClick={done}>
          Close
        </button>
      </div>
    </form>
  );
}

/* ----------------------------------------------------------- keypairs */

export function Keypairs() {
  useTitle("Key pairs");
  const s = getSession()!;
  const write = canWrite(s);
  const list = useAsync(() => listAll<any>("/v1/keypairs", "keypairs"));
  const confirm = useConfirm();
  const f = useForm({ name: "", public_key: "" }, { public_key: ["public key", "key"] });
  const submit = f.submit(
    async (v) => {
      await api.post("/v1/keypairs", { name: v.name.trim(), public_key: v.public_key.trim() }, { idempotent: true });
      toast(`Key pair ${v.name} added`);
      f.setValues({ name: "", public_key: "" });
      list.reload();
    },
    (v) => ({ name: v.name.trim() ? "" : "Give the key pair a name.", public_key: v.public_key.trim() ? "" : "Paste an OpenSSH public key (one line)." }),
  );
  const del = async (name: string) => {
    if (!(await confirm.ask(`Delete key pair ${name}?`, "Instances that have it keep it; new ones cannot get it.", "Delete key pair"))) return;
    await act(`Deleted ${name}`, () => api.del(`/v1/keypairs/${encodeURIComponent(name)}`));
    list.reload();
  };
  return (
    <>
      <PageHead title="Key pairs" sub="SSH public keys installed into new instances" />
      {confirm.node}
      <ErrorBox error={list.error} retry={list.reload} />
      {!list.data ? (
        <Spinner />
      ) : list.data.length === 0 ? (
        <Empty>No key pairs yet.</Empty>
      ) : (
        <table class="table" aria-label="Key pairs">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Fingerprint</th>
              <th scope="col">Added</th>
              {write && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {list.data.map((k: any) => (
              <tr key={k.id}>
                <td data-label="Name">{k.name}</td>
                <td data-label="Fingerprint" class="mono">
                  {k.fingerprint}
                </td>
                <td data-label="Added">{formatRelative(k.created_at)}</td>
                {write && (
                  <td data-label="Actions">
                    <button type="button" class="danger" aria-label={`Delete ${k.name}`} onClick={() => del(k.name)}>
                      Delete
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {write && (
        <form class="panel form" onSubmit={submit} noValidate aria-label="Add a key pair">
          <h2>Add a key pair</h2>
          <FormError error={f.errors.form} />
          <TextField label="Name" value={f.values.name} onValue={f.set("name")} error={f.err("name")} autocomplete="off" />
          <TextArea
            class="mono"
            label="Public key"
            rows={3}
            value={f.values.public_key}
            onValue={f.set("public_key")}
            error={f.err("public_key")}
            hint="The one line of ~/.ssh/id_ed25519.pub (or id_rsa.pub)."
            spellcheck={false}
          />
          <button class="primary" type="submit" disabled={f.busy}>
            Add key pair
          </button>
        </form>
      )}
    </>
  );
}

/* ------------------------------------------------------------ API keys */

export function ApiKeys() {
  useTitle("API keys");
  const s = getSession()!;
  const list = useAsync(() => listAll<any>("/v1/auth/apikeys", "apikeys"));
  const confirm = useConfirm();
  const [made, setMade] = useState<{ name: string; key: string } | null>(null);
  const f = useForm({ name: "", expires_in_days: "90" }, { expires_in_days: ["expires", "days"] });
  const submit = f.submit(
    async (v) => {
      const r = await api.post("/v1/auth/apikeys", { name: v.name.trim(), expires_in_days: Number(v.expires_in_days) });
      setMade({ name: r.name, key: r.key });
      f.setValues({ name: "", expires_in_days: "90" });
      list.reload();
    },
    (v) => ({
      name: v.name.trim() ? "" : "Give the key a name.",
      expires_in_days: /^\d+$/.test(v.expires_in_days) && +v.expires_in_days >= 1 && +v.expires_in_days <= 3650 ? "" : "From 1 to 3650 days.",
    }),
  );
  const revokeKey = async (k: any) => {
    if (!(await confirm.ask(`Revoke ${k.name}?`, "Programs using this key lose access at once.", "Revoke key"))) return;
    await act(`Revoked ${k.name}`, () => api.del(`/v1/auth/apikeys/${k.id}`));
    list.reload();
  };
  const copy = async () => {
    if (!made) return;
    try {
      await navigator.clipboard.writeText(made.key);
      toast("Copied");
    } catch {
      toast("Select the key and copy it", "info");
    }
  };
  const active = (list.data ?? []).filter((k: any) => !k.revoked);
  return (
    <>
      <PageHead title="API keys" sub={`Keys for programs (the CLI, scripts) acting as ${s.user.name} in ${s.project.name} with role ${s.role}`} />
      {confirm.node}
      {made && (
        <div class="panel notice-box" role="status">
          <h2>Key {made.name} created</h2>
          <p>Copy it now: it is shown only once.</p>
          <div class="copy-row">
            <input class="mono" readOnly value={made.key} aria-label="The new API key" onFocus={(e) => (e.target as HTMLInputElement).select()} />
            <button type="button" onClick={copy}>
              Copy
            </button>
            <button type="button" onClick={() => setMade(null)}>
              Done
            </button>
          </div>
        </div>
      )}
      <ErrorBox error={list.error} retry={list.reload} />
      {!list.data ? (
        <Spinner />
      ) : active.length === 0 ? (
        <Empty>No API keys.</Empty>
      ) : (
        <table class="table" aria-label="API keys">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Created</th>
              <th scope="col">Expires</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {active.map((k: any) => (
              <tr key={k.id}>
                <td data-label="Name">{k.name}</td>
                <td data-label="Created">{formatRelative(k.created_at)}</td>
                <td data-label="Expires">
                  <time dateTime={k.expires_at}>{formatTime(k.expires_at)}</time>
                </td>
                <td data-label="Actions">
                  <button type="button" class="danger" aria-label={`Revoke ${k.name}`} onClick={() => revokeKey(k)}>
                    Revoke
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form class="panel form grid2" onSubmit={submit} noValidate aria-label="Create an API key">
        <h2 class="span2">Create an API key</h2>
        <FormError error={f.errors.form} />
        <TextField label="Name" value={f.values.name} onValue={f.set("name")} error={f.err("name")} autocomplete="off" />
        <TextField label="Expires in (days)" type="number" min={1} max={3650} value={f.values.expires_in_days} onValue={f.set("expires_in_days")} error={f.err("expires_in_days")} />
        <div class="span2">
          <button class="primary" type="submit" disabled={f.busy}>
            Create key
          </button>
        </div>
      </form>
    </>
  );
}
