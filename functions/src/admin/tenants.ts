/**
 * Operator helper for the tenants secret (`DR2E_TENANTS_SECRET_ARN`, format in
 * shared/src/tenant-secret.ts) and for billing:
 *
 * ```sh
 * npm run tenants -- add "Acme Photos"            # new tenant: prints the API key (once) and its JSON entry
 * npm run tenants -- add "Acme Photos" --id acme
 * npm run tenants -- rotate-key acme              # a second key for an existing tenant: add the hash to its entry
 * npm run tenants -- hash dr2e_sk_...             # the stored form of a key
 * npm run tenants -- check < secret.json          # validate a secret before putting it
 * npm run tenants -- usage --bucket dr2e-data-bucket                 # this month, every tenant with usage, and a total
 * npm run tenants -- usage acme --from 2025-01-01 --to 2025-02-01 --csv --data-dir .data
 * ```
 *
 * Nothing is written anywhere: paste the entry into the secret's `tenants` array (for example
 * with `aws secretsmanager put-secret-value`). The API picks up new keys within seconds.
 *
 * `usage` reads the usage ledger itself, not the API, so it needs no tenant key and still
 * reports revoked tenants. Its period follows `GET /v1/usage` (default: this calendar month UTC,
 * `to` exclusive, at most 400 days); where it reads is decided by usage-store.ts (`--bucket`,
 * `--data-dir`, or `DR2E_MODE=aws` + `DR2E_BUCKET` / `DR2E_DATA_DIR`), and it refuses to guess.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Command, Option } from 'commander';
import {
  parseTenantSecret,
  SECRET_MAX_BYTES,
  TenantSecretEntrySchema,
  type TenantSecretEntry,
} from '../../../shared/adapters/aws/index.js';
import {
  generateApiKey,
  hashApiKey,
  randomBytes,
  toHex,
  parseWith,
  generateWebhookSecret,
  systemClock,
  type Clock,
  ValidationError,
} from '../../../shared/src/index.js';
import { UsageQuerySchema } from '../api-schemas.js';
import { usagePeriod } from '../routes/account.js';
import { formatUsageCsv, formatUsageJson, formatUsageTable, usageReport } from './usage-report.js';
import { openUsageStore, type UsageStoreDependencies } from './usage-store.js';

/** A tenant id from a display name: lower-case words joined by `-`, plus a short random tail. */
export function tenantIdFromName(name: string): string {
  const slug = name
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '') // accents split off by NFKD
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40);
  return `${slug || 'tenant'}-${toHex(randomBytes(3))}`;
}

/**
 * A new tenant entry and its API key (shown once; only the hash goes into the secret).
 *
 * @example
 * ```ts
 * const { apiKey, entry } = await newTenantEntry('Acme Photos');
 * // entry = { id: 'acme-photos-1a2b3c', name: 'Acme Photos', apiKeyHashes: ['sha256:...'], webhookSecret: 'whsec_...' }
 * ```
 */
export async function newTenantEntry(
  name: string,
  id?: string,
): Promise<{ apiKey: string; entry: TenantSecretEntry }> {
  const apiKey = generateApiKey();
  const entry = parseWith(
    TenantSecretEntrySchema,
    {
      id: id ?? tenantIdFromName(name),
      name,
      apiKeyHashes: [await hashApiKey(apiKey)],
      webhookSecret: generateWebhookSecret(),
    },
    'tenant entry',
  );
  return { apiKey, entry };
}

/** Replacements for tests: the clock (default period), the environment, the S3 client. */
export interface TenantsCliDependencies extends UsageStoreDependencies {
  clock?: Clock;
}

interface UsageCommandOptions {
  from?: string;
  to?: string;
  json?: boolean;
  csv?: boolean;
  bucket?: string;
  prefix?: string;
  dataDir?: string;
}

/**
 * The CLI (exported so tests can run it with their own output and dependencies).
 *
 * @example
 * ```ts
 * let output = '';
 * await tenantsCli((text) => (output += text)).parseAsync(['node', 'tenants', 'usage', '--data-dir', dir, '--json']);
 * ```
 */
export function tenantsCli(
  write: (text: string) => void = (text) => process.stdout.write(text),
  dependencies: TenantsCliDependencies = {},
): Command {
  const program = new Command('tenants').description('Manage dr2e tenants (entries of the tenants secret)');
  program.exitOverride();
  program
    .command('add')
    .argument('<name>', 'display name')
    .option('--id <id>', 'tenant id (default: from the name)')
    .description('create a tenant: prints its API key once and the entry for the secret')
    .action(async (name: string, options: { id?: string }) => {
      const { apiKey, entry } = await newTenantEntry(name, options.id);
      write(`API key (give it to the tenant; it is not stored anywhere): ${apiKey}\n`);
      write(`Add this entry to the "tenants" array of the secret:\n${JSON.stringify(entry, null, 2)}\n`);
    });
  program
    .command('rotate-key')
    .argument('<tenantId>')
    .description('a new API key for a tenant: add the hash to its apiKeyHashes, remove the old hash later')
    .action(async (tenantId: string) => {
      const apiKey = generateApiKey();
      write(`New API key for ${tenantId}: ${apiKey}\nAdd to its apiKeyHashes: ${await hashApiKey(apiKey)}\n`);
    });
  program
    .command('hash')
    .argument('<apiKey>')
    .description('the stored form of an API key')
    .action(async (apiKey: string) => write(`${await hashApiKey(apiKey)}\n`));
  program
    .command('check')
    .argument('[file]', 'secret JSON file (default: stdin)')
    .description('validate a tenants secret')
    .action((file?: string) => {
      const text = readFileSync(file ?? 0, 'utf8');
      const bytes = Buffer.byteLength(text);
      if (bytes > SECRET_MAX_BYTES) {
        throw new ValidationError(
          `the secret is ${bytes} bytes; Secrets Manager stores at most ${SECRET_MAX_BYTES}: remove whitespace (JSON.stringify without indent) or tenants`,
        );
      }
      const secret = parseTenantSecret(text);
      write(`ok: ${secret.tenants.length} tenants (${secret.tenants.map((t) => t.id).join(', ')})\n`);
    });
  program
    .command('usage')
    .argument('[tenantIds...]', 'tenants to report (default: every tenant with usage in the period)')
    .option(
      '--from <date>',
      'start, inclusive: YYYY-MM-DD (midnight UTC) or ISO date-time (default: this month)',
    )
    .option('--to <date>', 'end, exclusive (default: the first day of next month UTC)')
    .addOption(new Option('--json', 'JSON: { from, to, tenants: [...], total }').conflicts('csv'))
    .addOption(new Option('--csv', 'CSV with a header row and a total row').conflicts('json'))
    .option(
      '--bucket <name>',
      'read the S3 usage ledger of this bucket (AWS credentials and region from the environment)',
    )
    .option('--prefix <prefix>', 'key prefix of the usage records in the bucket (default: usage/)')
    .option(
      '--data-dir <dir>',
      'read the local usage ledger under <dir>/usage (the DR2E_DATA_DIR of npm start)',
    )
    .description('usage per tenant for a period (jobs, images, faces, modelSeconds), for billing')
    .action(async (tenantIds: string[], options: UsageCommandOptions) => {
      // The same checks and defaults as GET /v1/usage, so the invoice matches what tenants see.
      const query = parseWith(
        UsageQuerySchema,
        {
          ...(options.from !== undefined ? { from: options.from } : {}),
          ...(options.to !== undefined ? { to: options.to } : {}),
        },
        'period',
      );
      const period = usagePeriod(query, (dependencies.clock ?? systemClock).now());
      const store = openUsageStore(options, dependencies);
      try {
        const report = await usageReport(store.ledger, period, tenantIds);
        if (options.json) write(formatUsageJson(report));
        else if (options.csv) write(formatUsageCsv(report));
        else write(formatUsageTable(report, store.description));
      } finally {
        store.close();
      }
    });
  return program;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  tenantsCli()
    .parseAsync(process.argv)
    .catch((error: unknown) => {
      const code = (error as { code?: string }).code;
      if (code === 'commander.helpDisplayed' || code === 'commander.help' || code === 'commander.version')
        return;
      console.error(error instanceof Error ? error.message : String(error));
      process.exitCode = 1;
    });
}
