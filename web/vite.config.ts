// The dashboard's build: `npx vite build -c web/vite.config.ts` (scripts/setup.sh) writes build/ui, which the
// server serves at /ui (src/server/ui.ts). Hashed file names under assets/ let the server mark them immutable.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('.'),
  base: '/ui/',
  plugins: [react()],
  build: {
    outDir: here('../build/ui'),
    emptyOutDir: true,
    assetsDir: 'assets',
    // No source maps in the served build: smaller, and nothing the API does not already say.
    sourcemap: false,
    chunkSizeWarningLimit: 1024,
  },
});
