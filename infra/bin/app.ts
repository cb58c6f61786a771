/**
 * CDK entry point (`cdk.json` "app": `npx tsx infra/bin/app.ts`). Settings come from the
 * context in cdk.json or `-c key=value`; see infra/README.md.
 */
import { InfraConfigError } from '../lib/config.js';
import { buildDr2eApp } from '../lib/app.js';

try {
  buildDr2eApp().app.synth();
} catch (error) {
  if (error instanceof InfraConfigError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}
