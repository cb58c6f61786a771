/**
 * Synthesizes the dr2e stack in-process (no network, no credentials, no Docker) for the infra
 * tests, with the context from cdk.json plus per-test overrides.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Template } from 'aws-cdk-lib/assertions';
import { buildDr2eApp, type Dr2eApp } from '../../infra/lib/app.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The `context` object of cdk.json (the documented defaults). */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return cdkJson.context ?? {};
}

export interface SynthOptions {
  /** Context values on top of cdk.json's (strings, as `-c key=value` would give them, or JSON values). */
  context?: Record<string, unknown>;
  /** Run esbuild for the Lambda functions (slower); otherwise bundling is skipped. */
  bundle?: boolean;
}

export interface Synthesized extends Dr2eApp {
  template: Template;
  outdir: string;
}

/**
 * Builds the app exactly as `cdk synth` does (same factory, cdk-nag registered) and returns the
 * stack's template. Any unacknowledged cdk-nag finding makes the synth throw.
 *
 * @example
 * ```ts
 * const { template } = synthDr2e({ context: { spot: 'true' } });
 * template.resourceCountIs('AWS::ECS::Service', 1);
 * ```
 */
export function synthDr2e(options: SynthOptions = {}): Synthesized {
  const outdir = mkdtempSync(path.join(os.tmpdir(), 'dr2e-cdk-'));
  outdirs.push(outdir);
  const built = buildDr2eApp({
    outdir,
    context: {
      ...cdkJsonContext(),
      ...options.context,
      // What the CLI passes: asset paths in resource metadata (the bundle test finds code by it).
      'aws:cdk:enable-asset-metadata': true,
      ...(options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }),
    },
  });
  return { ...built, outdir, template: Template.fromStack(built.stack) };
}

const outdirs: string[] = [];

/** Removes the cloud assemblies this process synthesized (call from `afterAll`). */
export function removeSynthOutputs(): void {
  for (const dir of outdirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** A resource of the template: `[logicalId, resource]` pairs of one type. */
export type CfnResource = {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
  DependsOn?: string | string[];
};

export function resourcesOfType(template: Template, type: string): [string, CfnResource][] {
  return Object.entries(template.findResources(type)) as [string, CfnResource][];
}

/** The one resource of a type (throws when there is not exactly one). */
export function onlyResource(template: Template, type: string): [string, CfnResource] {
  const found = resourcesOfType(template, type);
  const [first] = found;
  if (found.length !== 1 || !first) throw new Error(`expected one ${type}, found ${found.length}`);
  return first;
}

/** Every IAM policy document of the template (inline policies of roles, policies, managed policies). */
export function policyDocuments(template: Template): { owner: string; document: PolicyDocument }[] {
  const documents: { owner: string; document: PolicyDocument }[] = [];
  for (const [id, resource] of resourcesOfType(template, 'AWS::IAM::Policy')) {
    documents.push({ owner: id, document: resource.Properties?.PolicyDocument as PolicyDocument });
  }
  for (const [id, resource] of resourcesOfType(template, 'AWS::IAM::ManagedPolicy')) {
    documents.push({ owner: id, document: resource.Properties?.PolicyDocument as PolicyDocument });
  }
  for (const [id, resource] of resourcesOfType(template, 'AWS::IAM::Role')) {
    const inline = (resource.Properties?.Policies ?? []) as { PolicyDocument: PolicyDocument }[];
    for (const policy of inline) documents.push({ owner: id, document: policy.PolicyDocument });
  }
  for (const type of ['AWS::S3::BucketPolicy', 'AWS::SQS::QueuePolicy', 'AWS::SNS::TopicPolicy']) {
    for (const [id, resource] of resourcesOfType(template, type)) {
      documents.push({ owner: id, document: resource.Properties?.PolicyDocument as PolicyDocument });
    }
  }
  return documents;
}

export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
  Principal?: unknown;
}

export interface PolicyDocument {
  Statement: PolicyStatement[];
}

/** A statement's actions as a list. */
export function actionsOf(statement: PolicyStatement): string[] {
  const actions = statement.Action ?? statement.NotAction ?? [];
  return Array.isArray(actions) ? actions : [actions];
}

/** A statement's resources as a list (tokens stay objects). */
export function resourcesOf(statement: PolicyStatement): unknown[] {
  const resources = statement.Resource ?? [];
  return Array.isArray(resources) ? resources : [resources];
}

/** `{ Ref: id }` or `{ 'Fn::GetAtt': [id, attr] }` -> id; other values -> undefined. */
export function referencedId(value: unknown): string | undefined {
  if (value && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    if (typeof record.Ref === 'string') return record.Ref;
    const getAtt = record['Fn::GetAtt'];
    if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') return getAtt[0];
  }
  return undefined;
}

/** The object key pattern of `{ 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucket, 'Arn'] }, '/tenants/*']] }`. */
export function objectPattern(resource: unknown): { bucket?: string; pattern: string } | undefined {
  if (!resource || typeof resource !== 'object') return undefined;
  const join = (resource as Record<string, unknown>)['Fn::Join'];
  if (!Array.isArray(join) || !Array.isArray(join[1])) return undefined;
  const [head, ...rest] = join[1] as unknown[];
  if (rest.some((part) => typeof part !== 'string')) return undefined;
  return { bucket: referencedId(head), pattern: rest.join('') };
}
