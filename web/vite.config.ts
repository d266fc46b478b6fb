// Vite builds the portal into <repo>/build/web (scripts/build-web.sh); nubod
// serves that directory (src/api/routes_web.c).  Everything is emitted as
// files: no inline script or style, so the strict Content-Security-Policy
// holds (default-src 'self').
import { defineConfig } from "vitest/config";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL(".", import.meta.url));

export default defineConfig({
  root,
  base: "/",
  cacheDir: fileURLToPath(new URL("./node_modules/.vite", import.meta.url)),
  build: {
    outDir: process.env.NUBO_WEB_OUT ?? fileURLToPath(new URL("../build/web", import.meta.url)),
    emptyOutDir: true,
    assetsDir: "assets",
    assetsInlineLimit: 0, // no data: URIs (img-src 'self')
    cssCodeSplit: false,
    sourcemap: false,
    target: "es2022",
    modulePreload: { polyfill: false },
    reportCompressedSize: true,
  },
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  test: {
    root: fileURLToPath(new URL("..", import.meta.url)),
    include: ["tests/web/unit/**/*.test.ts"],
    environment: "node",
    globals: true, // the tests live outside web/: no import from "vitest"
  },
});
