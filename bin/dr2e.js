#!/usr/bin/env node
// Thin launcher for the `dr2e` command. It runs the compiled CLI from `dist/` (built by
// `npm run build`, which `npm ci` runs through `prepare`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const compiled = fileURLToPath(new URL('../dist/gpu-task/src/cli/main.js', import.meta.url));
if (!existsSync(compiled)) {
  console.error('dr2e: the CLI is not built yet. Run `npm run build` in the repository first.');
  process.exit(1);
}
const { main } = await import(compiled);
process.exitCode = await main(process.argv.slice(2));
