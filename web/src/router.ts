// A small history-API router: the address bar shows /instances/<id>, a
// reload asks nubod for that path and gets index.html (routes_web.c), and
// the portal draws the view.  Links are ordinary <a href> elements, so
// keyboard, middle-click and "open in new tab" work.

import { useEffect, useState } from "preact/hooks";

type Listener = () => void;
const listeners = new Set<Listener>();

export function path(): string {
  return location.pathname;
}

export function navigate(to: string, replace = false): void {
  if (to === location.pathname + location.search) return;
  if (replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  listeners.forEach((l) => l());
}

window.addEventListener("popstate", () => listeners.forEach((l) => l()));

/** Intercepts clicks on same-origin links (not modified clicks). */
document.addEventListener("click", (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = (e.target as Element | null)?.closest?.("a");
  if (!a || a.target || a.hasAttribute("download")) return;
  const href = a.getAttribute("href");
  if (!href || !href.startsWith("/") || href.startsWith("//") || href.startsWith("/v1/")) return;
  e.preventDefault();
  navigate(href);
});

export function useLocation(): string {
  const [p, setP] = useState(location.pathname + location.search);
  useEffect(() => {
    const l = () => setP(location.pathname + location.search);
    listeners.add(l);
    return () => {
      listeners.delete(l);
    };
  }, []);
  return p;
}

export function query(name: string): string | null {
  return new URLSearchParams(location.search).get(name);
}

export { match } from "./router-match";
