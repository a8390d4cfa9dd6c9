// Build: `npm run build` writes dist/, which the plancube server serves at "/" and which is
// committed (check-build.sh proves it matches these sources). Dev: `npm run dev` serves the
// sources with hot reload and forwards the API and the live feed to a running `plancube serve`.
import { defineConfig } from "vite";

const api = process.env.PLANCUBE_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  base: "./",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // One script and one stylesheet: the grid is needed on the first paint anyway.
    chunkSizeWarningLimit: 1500,
    reportCompressedSize: false,
  },
  server: {
    proxy: { "/api": { target: api, ws: true } },
  },
});
