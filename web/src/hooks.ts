// Data hooks shared by the views.

import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { Poller } from "./lib/poll";
import { ApiError } from "./lib/api";

export interface Async<T> {
  data?: T;
  error: ApiError | null;
  loading: boolean;
  reload: () => void;
}

/** Loads once (and again when deps change or reload() is called). */
export function useAsync<T>(fn: () => Promise<T>, deps: unknown[] = []): Async<T> {
  const [state, setState] = useState<{ data?: T; error: ApiError | null; loading: boolean }>({ error: null, loading: true });
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    fn().then(
      (data) => live && setState({ data, error: null, loading: false }),
      (e) => live && setState((s) => ({ data: s.data, error: toApiError(e), loading: false })),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, n]);
  return { ...state, reload: useCallback(() => setN((x) => x + 1), []) };
}

/** Loads and keeps refreshing with back-off (lib/poll.ts): fast while
 * busy(data) says something moves.  poke() refreshes at once. */
export function usePoll<T>(fn: () => Promise<T>, busy: (d: T) => boolean, deps: unknown[] = [], sig?: (d: T) => string): Async<T> & { poke: () => void } {
  const [state, setState] = useState<{ data?: T; error: ApiError | null; loading: boolean }>({ error: null, loading: true });
  const poller = useRef<Poller | null>(null);
  const fnRef = useRef(fn);
  fnRef.current = fn;
  useEffect(() => {
    let live = true;
    const p = new Poller(async () => {
      try {
        const data = await fnRef.current();
        if (live) setState({ data, error: null, loading: false });
        return { busy: busy(data), sig: sig ? sig(data) : JSON.stringify(data) };
      } catch (e) {
        if (live) setState((s) => ({ data: s.data, error: toApiError(e), loading: false }));
        throw e;
      }
    });
    poller.current = p;
    return () => {
      live = false;
      p.stop();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  const poke = useCallback(() => poller.current?.poke(), []);
  return { ...state, reload: poke, poke };
}

export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  return new ApiError({ status: 0, title: "Error", detail: String((e as Error)?.message ?? e) });
}

/** A title for the document and the focus target when the view changes. */
export function useTitle(title: string): void {
  useEffect(() => {
    document.title = title ? `${title} · nubo` : "nubo";
  }, [title]);
}
