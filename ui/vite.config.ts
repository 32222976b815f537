import { defineConfig } from "vite";

// Built into dist/, embedded by the Tauri shell (desktop/app, `frontendDist`). No remote
// content: everything is bundled, nothing is loaded from a CDN.
export default defineConfig({
  clearScreen: false,
  server: { host: "127.0.0.1", port: 5173, strictPort: true },
  build: { outDir: "dist", target: "es2022", sourcemap: false, assetsInlineLimit: 0 },
  test: { include: ["tests/unit/**/*.test.ts"], environment: "node" },
});
