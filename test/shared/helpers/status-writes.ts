/**
 * Finds code that writes a job's `status` by hand, for the test that keeps every status change
 * inside the lifecycle module (shared/src/job.ts). Syntactic: the TypeScript parser without the
 * type checker (the whole tree, about 200 files, scans in about two seconds on the 2-core dev box,
 * where building a typed program alone took about 45 s). It flags:
 * - an object literal with a `status` property and a field every job write sets or only job
 *   records have (`updatedAt`, `timestamps`, `attempts`, `webhookDeliveries`);
 * - an object literal that spreads another object and sets `status` to a job status literal:
 *   the shape of `{ ...job, status: 'failed' }`;
 * - a `status` passed to `Object.assign` after its target, and any assignment to `x.status` or
 *   `x['status']`.
 * Literals such as `{ status: 'ok' }`, `{ id, status: job.status }` (HTTP bodies, views,
 * webhook delivery records) and zod shapes pass. What a syntactic scan cannot see (a status
 * from a variable in a literal without job fields), the job stores refuse at run time
 * (`checkJobWrite`).
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import ts from 'typescript';
import { JOB_STATUSES } from '../../../shared/src/index.js';

/** One place that writes `status` outside the lifecycle. */
export interface StatusWrite {
  file: string;
  line: number;
  code: string;
}

/** Fields every job write sets, or that only job records have (see `JobSchema`). */
const JOB_FIELDS = new Set(['updatedAt', 'timestamps', 'attempts', 'webhookDeliveries']);

/** The job statuses. */
const JOB_STATUS_NAMES: ReadonlySet<string> = new Set(JOB_STATUSES);

function propertyName(name: ts.PropertyName | undefined): string | undefined {
  if (!name) return undefined;
  if (ts.isIdentifier(name) || ts.isStringLiteral(name) || ts.isNumericLiteral(name)) return name.text;
  if (ts.isComputedPropertyName(name) && ts.isStringLiteralLike(name.expression)) return name.expression.text;
  return undefined;
}

/** `x as const`, `(x)`, `x satisfies T` -> x. */
function unwrap(expression: ts.Expression): ts.Expression {
  let inner = expression;
  while (
    ts.isAsExpression(inner) ||
    ts.isParenthesizedExpression(inner) ||
    ts.isSatisfiesExpression(inner) ||
    ts.isTypeAssertionExpression(inner)
  ) {
    inner = inner.expression;
  }
  return inner;
}

/** A zod shape (`z.object({ ... })`, `.extend({ ... })`): declares a field, writes nothing. */
function isSchemaShape(node: ts.ObjectLiteralExpression): boolean {
  const call = node.parent;
  return (
    ts.isCallExpression(call) &&
    ts.isPropertyAccessExpression(call.expression) &&
    ['object', 'extend', 'strictObject', 'looseObject'].includes(call.expression.name.text)
  );
}

function isStatusWrite(node: ts.Node): boolean {
  if (ts.isObjectLiteralExpression(node)) {
    const status = node.properties.find((property) => propertyName(property.name) === 'status');
    if (!status || isSchemaShape(node)) return false;
    const names = node.properties.map((property) => propertyName(property.name));
    if (names.some((name) => name !== undefined && JOB_FIELDS.has(name))) return true;
    const value = ts.isPropertyAssignment(status) ? unwrap(status.initializer) : undefined;
    const statusLiteral =
      value !== undefined && ts.isStringLiteralLike(value) && JOB_STATUS_NAMES.has(value.text);
    return (statusLiteral && node.properties.some(ts.isSpreadAssignment)) || isObjectAssignArgument(node);
  }
  if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.EqualsToken) {
    const target = node.left;
    if (ts.isPropertyAccessExpression(target)) return target.name.text === 'status';
    if (ts.isElementAccessExpression(target)) {
      return ts.isStringLiteralLike(target.argumentExpression) && target.argumentExpression.text === 'status';
    }
  }
  return false;
}

/** `Object.assign(target, { status })`: the literal patches the target. */
function isObjectAssignArgument(node: ts.ObjectLiteralExpression): boolean {
  const call = node.parent;
  return (
    ts.isCallExpression(call) &&
    call.arguments.indexOf(node) > 0 &&
    ts.isPropertyAccessExpression(call.expression) &&
    call.expression.getText() === 'Object.assign'
  );
}

/** Status writes in one source text. */
export function findStatusWrites(file: string, text: string): StatusWrite[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: StatusWrite[] = [];
  const visit = (node: ts.Node): void => {
    if (isStatusWrite(node)) {
      const { line } = source.getLineAndCharacterOfPosition(node.getStart(source));
      found.push({ file, line: line + 1, code: node.getText(source).replace(/\s+/g, ' ').slice(0, 120) });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** `.ts` files under `dir` (relative to `root`), skipping `node_modules` and declaration files. */
export async function sourceFiles(root: string, dir: string): Promise<string[]> {
  const entries = await readdir(path.join(root, dir), { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts'))
    .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)))
    .filter((file) => !file.split(path.sep).includes('node_modules'))
    .sort();
}

/** Status writes in every source file under `dirs`, except `allowed` (repository-relative paths). */
export async function scanStatusWrites(
  root: string,
  dirs: readonly string[],
  allowed: readonly string[],
): Promise<{ files: number; writes: StatusWrite[] }> {
  const files = (await Promise.all(dirs.map((dir) => sourceFiles(root, dir)))).flat();
  const writes: StatusWrite[] = [];
  for (const file of files) {
    if (allowed.includes(file.split(path.sep).join('/'))) continue;
    writes.push(...findStatusWrites(file, await readFile(path.join(root, file), 'utf8')));
  }
  return { files: files.length, writes };
}
