#!/usr/bin/env node
// Thin launcher for the `dr2e` command. It runs the compiled CLI from `dist/` (built by
// `npm run build`: run it again after pulling new code), first relaunching itself once with
// huge pages for the photo stage's large buffers where the host gives them on request
// (gpu-task/src/launch: a 12 MP photo restores about 15 % faster; DR2E_HUGE_PAGES=off skips it).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const compiled = (file) => fileURLToPath(new URL(`../dist/gpu-task/src/${file}`, import.meta.url));
if (!existsSync(compiled('cli/main.js')) || !existsSync(compiled('launch/index.js'))) {
  console.error('dr2e: the CLI is not built yet. Run `npm run build` in the repository first.');
  process.exit(1);
}
const { relaunchWithHugePages } = await import(compiled('launch/index.js'));
const relaunched = await relaunchWithHugePages();
if (relaunched !== null) {
  process.exitCode = relaunched;
} else {
  const { main } = await import(compiled('cli/main.js'));
  process.exitCode = await main(process.argv.slice(2));
}
