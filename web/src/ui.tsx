// Small accessible building blocks: form fields with their label and their
// error next to them, badges, bars, dialogs, toasts.  No inline styles
// (the CSP forbids them): looks come from classes in style.css, sizes of
// bars from SVG attributes.

import type { ComponentChildren, InputHTMLAttributes, JSX, SelectHTMLAttributes, TextareaHTMLAttributes } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { Badge as BadgeT } from "./lib/badges";
import { ApiError } from "./lib/api";
import { FieldAliases, FormErrors, mapProblem } from "./lib/problem";

let uid = 0;
export function useId(prefix = "f"): string {
  const r = useRef<string>();
  if (!r.current) r.current = `${prefix}-${++uid}`;
  return r.current;
}

/* ------------------------------------------------------------ fields */

interface FieldProps {
  label: string;
  error?: string | null;
  hint?: ComponentChildren;
  children: (id: string, describedBy: string | undefined, invalid: boolean) => JSX.Element;
  class?: string;
}

/** A labelled control with its hint and its error under it; the control
 * is told (aria-describedby, aria-invalid) so screen readers read both. */
export function Field({ label, error, hint, children, class: cls }: FieldProps) {
  const id = useId();
  const hintId = hint ? id + "-hint" : "";
  const errId = error ? id + "-err" : "";
  const by = [hintId, errId].filter(Boolean).join(" ") || undefined;
  return (
    <div class={"field" + (error ? " has-error" : "") + (cls ? " " + cls : "")}>
      <label for={id}>{label}</label>
      {children(id, by, !!error)}
      {hint && (
        <p class="hint" id={hintId}>
          {hint}
        </p>
      )}
      {error && (
        <p class="error" id={errId} role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

type InputProps = Omit<InputHTMLAttributes<HTMLInputElement>, "onInput" | "label" | "value"> & {
  label: string;
  value: string;
  onValue: (v: string) => void;
  error?: string | null;
  hint?: ComponentChildren;
};

export function TextField({ label, value, onValue, error, hint, class: cls, ...rest }: InputProps) {
  return (
    <Field label={label} error={error} hint={hint} class={cls as string | undefined}>
      {(id, by, invalid) => (
        <input
          {...(rest as any)}
          id={id}
          value={value}
          aria-describedby={by}
          aria-invalid={invalid ? "true" : undefined}
          onInput={(e) => onValue((e.target as HTMLInputElement).value)}
        />
      )}
    </Field>
  );
}

type AreaProps = Omit<TextareaHTMLAttributes<HTMLTextAreaElement>, "onInput" | "label" | "value"> & {
  label: string;
  value: string;
  onValue: (v: string) => void;
  error?: string | null;
  hint?: ComponentChildren;
};

export function TextArea({ label, value, onValue, error, hint, class: cls, ...rest }: AreaProps) {
  return (
    <Field label={label} error={error} hint={hint} class={cls as string | undefined}>
      {(id, by, invalid) => (
        <textarea
          {...(rest as any)}
          id={id}
          value={value}
          aria-describedby={by}
          aria-invalid={invalid ? "true" : undefined}
          onInput={(e) => onValue((e.target as HTMLTextAreaElement).value)}
        />
      )}
    </Field>
  );
}

export interface Option {
  value: string;
  label: string;
  disabled?: boolean;
}

type SelectProps = Omit<SelectHTMLAttributes<HTMLSelectElement>, "onChange" | "label" | "value"> & {
  label: string;
  value: string;
  options: Option[];
  onValue: (v: string) => void;
  error?: string | null;
  hint?: ComponentChildren;
  placeholder?: string;
};

export function SelectField({ label, value, options, onValue, error, hint, placeholder, ...rest }: SelectProps) {
  return (
    <Field label={label} error={error} hint={hint}>
      {(id, by, invalid) => (
        <select
          {...(rest as any)}
          id={id}
          value={value}
          aria-describedby={by}
          aria-invalid={invalid ? "true" : undefined}
          onChange={(e) => onValue((e.target as HTMLSelectElement).value)}
        >
          {placeholder !== undefined && <option value="">{placeholder}</option>}
          {options.map((o) => (
            <option value={o.value} disabled={o.disabled}>
              {o.label}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}

/** The error of a whole form (when no field is to blame). */
export function FormError({ error }: { error: string | null | undefined }) {
  if (!error) return null;
  return (
    <div class="form-error" role="alert">
      {error}
    </div>
  );
}

/** Form state: values, errors per field, busy flag, and a submit wrapper
 * that maps a failed call's problem onto the fields. */
export function useForm<T extends Record<string, string>>(initial: T, aliases: FieldAliases = {}) {
  const [values, setValues] = useState<T>(initial);
  const [errors, setErrors] = useState<FormErrors>({ fields: {}, form: null });
  const [busy, setBusy] = useState(false);
  const set = (k: keyof T) => (v: string) => {
    setValues((s) => ({ ...s, [k]: v }));
    if (errors.fields[k as string]) setErrors((e) => ({ ...e, fields: { ...e.fields, [k as string]: "" } }));
  };
  const submit = (fn: (v: T) => Promise<void>, check?: (v: T) => Record<string, string>) => async (e?: Event) => {
    e?.preventDefault();
    if (busy) return;
    const local = check ? check(values) : {};
    if (Object.values(local).some(Boolean)) {
      setErrors({ fields: local, form: null });
      focusFirstError();
      return;
    }
    setBusy(true);
    setErrors({ fields: {}, form: null });
    try {
      await fn(values);
    } catch (err) {
      if (err instanceof ApiError) {
        setErrors(mapProblem(err.problem, Object.keys(values), aliases));
        focusFirstError();
      } else setErrors({ fields: {}, form: String(err) });
    } finally {
      setBusy(false);
    }
  };
  return { values, setValues, set, errors, setErrors, busy, submit, err: (k: keyof T) => errors.fields[k as string] || null };
}

function focusFirstError() {
  setTimeout(() => {
    const el = document.querySelector<HTMLElement>("[aria-invalid=true], .form-error");
    el?.focus?.();
  }, 0);
}

/* ------------------------------------------------------------ display */

export function Badge({ badge }: { badge: BadgeT }) {
  return (
    <span class={`badge tone-${badge.tone}`} title={badge.help || undefined}>
      {badge.busy && <span class="spinner" aria-hidden="true" />}
      {badge.label}
    </span>
  );
}

/** A horizontal bar (used / limit) drawn in SVG, with the numbers as text. */
export function Bar({ fraction, label, text }: { fraction: number; label: string; text: string }) {
  const pct = Math.round(Math.max(0, Math.min(1, fraction)) * 1000) / 10;
  const tone = fraction >= 0.9 ? "bad" : fraction >= 0.75 ? "warn" : "ok";
  return (
    <div class="bar">
      <div class="bar-head">
        <span>{label}</span>
        <span class="num">{text}</span>
      </div>
      <svg class={`bar-svg tone-${tone}`} viewBox="0 0 100 6" preserveAspectRatio="none" role="img" aria-label={`${label}: ${text}`}>
        <rect class="bar-track" x="0" y="0" width="100" height="6" rx="3" />
        <rect class="bar-fill" x="0" y="0" width={pct} height="6" rx="3" />
      </svg>
    </div>
  );
}

export function Spinner({ label = "Loading" }: { label?: string }) {
  return (
    <span class="loading" role="status">
      <span class="spinner" aria-hidden="true" />
      {label}…
    </span>
  );
}

export function ErrorBox({ error, retry }: { error: ApiError | null | undefined; retry?: () => void }) {
  if (!error) return null;
  return (
    <div class="form-error" role="alert">
      {error.message}
      {retry && (
        <button type="button" class="link" onClick={retry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

/** A page's heading with optional actions on the right.  The heading takes
 * the focus when a view opens, so screen readers announce it. */
export function PageHead({ title, children, sub }: { title: string; children?: ComponentChildren; sub?: ComponentChildren }) {
  const h = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (document.activeElement === document.body || document.activeElement?.closest("nav")) h.current?.focus();
  }, [title]);
  return (
    <header class="page-head">
      <div>
        <h1 tabIndex={-1} ref={h}>
          {title}
        </h1>
        {sub && <p class="sub">{sub}</p>}
      </div>
      {children && <div class="actions">{children}</div>}
    </header>
  );
}

/* ------------------------------------------------------------ dialogs */

/** A modal dialog (the native <dialog>: focus is trapped, Escape closes). */
export function Dialog({ open, title, onClose, children }: { open: boolean; title: string; onClose: () => void; children: ComponentChildren }) {
  const ref = useRef<HTMLDialogElement>(null);
  const id = useId("dlg");
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog ref={ref} aria-labelledby={id} onClose={onClose} onCancel={onClose}>
      <h2 id={id}>{title}</h2>
      {open && children}
    </dialog>
  );
}

/** Asks before something that cannot be undone. */
export function useConfirm() {
  const [state, setState] = useState<{ title: string; body: string; action: string; resolve: (ok: boolean) => void } | null>(null);
  const ask = (title: string, body: string, action = "Delete") =>
    new Promise<boolean>((resolve) => setState({ title, body, action, resolve }));
  const close = (ok: boolean) => {
    state?.resolve(ok);
    setState(null);
  };
  const node = (
    <Dialog open={!!state} title={state?.title ?? ""} onClose={() => close(false)}>
      <p>{state?.body}</p>
      <div class="dialog-actions">
        <button type="button" onClick={() => close(false)}>
          Cancel
        </button>
        <button type="button" class="danger" onClick={() => close(true)}>
          {state?.action}
        </button>
      </div>
    </Dialog>
  );
  return { ask, node };
}

/* ------------------------------------------------------------ toasts */

export interface Toast {
  id: number;
  text: string;
  tone: "ok" | "bad" | "info";
}
const toastListeners = new Set<(t: Toast[]) => void>();
let toasts: Toast[] = [];
let toastSeq = 0;

export function toast(text: string, tone: Toast["tone"] = "ok"): void {
  const t = { id: ++toastSeq, text, tone };
  toasts = [...toasts.slice(-3), t];
  toastListeners.forEach((l) => l(toasts));
  setTimeout(() => {
    toasts = toasts.filter((x) => x.id !== t.id);
    toastListeners.forEach((l) => l(toasts));
  }, tone === "bad" ? 9000 : 5000);
}

/** The live region where toasts appear (polite: read after the current
 * sentence; errors are assertive). */
export function Toasts() {
  const [list, setList] = useState<Toast[]>(toasts);
  useEffect(() => {
    toastListeners.add(setList);
    return () => {
      toastListeners.delete(setList);
    };
  }, []);
  return (
    <div class="toasts" aria-live="polite" role="status">
      {list.map((t) => (
        <div class={`toast tone-${t.tone}`} key={t.id}>
          {t.text}
        </div>
      ))}
    </div>
  );
}

/** Runs an action, toasting its result; returns whether it worked. */
export async function act(what: string, fn: () => Promise<unknown>): Promise<boolean> {
  try {
    await fn();
    toast(what);
    return true;
  } catch (e) {
    toast(e instanceof ApiError ? e.message : String(e), "bad");
    return false;
  }
}
