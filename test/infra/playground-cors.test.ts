/**
 * The playground page is served by the API and talks to the data bucket directly (presigned POST,
 * signed GET links): the bucket's CORS rule must name the API's own origin and, by default,
 * nothing else; configured app origins are added, never a wildcard unless asked for. Synthesis
 * runs with cdk-nag registered, so a finding would fail these tests too.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { removeSynthOutputs, resourcesOfType, synthDr2e, type Synthesized } from './helpers.js';

afterAll(removeSynthOutputs);

interface CorsRule {
  AllowedMethods: string[];
  AllowedOrigins: unknown[];
}

function corsRules(synth: Synthesized): CorsRule[] {
  const buckets = resourcesOfType(synth.template, 'AWS::S3::Bucket').filter(
    ([, bucket]) => bucket.Properties?.CorsConfiguration !== undefined,
  );
  expect(buckets).toHaveLength(1);
  return (buckets[0]?.[1].Properties?.CorsConfiguration as { CorsRules: CorsRule[] }).CorsRules;
}

/** The logical id of the HTTP API whose endpoint `origin` is, if it is one. */
function apiOfOrigin(origin: unknown): string | undefined {
  const getAtt = (origin as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt'];
  return getAtt?.[1] === 'ApiEndpoint' ? getAtt[0] : undefined;
}

describe('data bucket CORS for the playground', () => {
  it("allows the API's own origin only, by default, for POST uploads and GET downloads", () => {
    // Act
    const synth = synthDr2e();
    const rules = corsRules(synth);

    // Assess
    expect(rules).toHaveLength(1);
    const [rule] = rules;
    expect(rule?.AllowedMethods.sort()).toEqual(['GET', 'HEAD', 'POST']);
    expect(rule?.AllowedOrigins).toHaveLength(1);
    const httpApi = resourcesOfType(synth.template, 'AWS::ApiGatewayV2::Api')[0]?.[0];
    expect(httpApi).toMatch(/^[A-Za-z0-9]+$/); // a logical id, so the check below cannot pass on two undefineds
    expect(apiOfOrigin(rule?.AllowedOrigins[0])).toBe(httpApi);
  });

  it('adds the configured app origins after the API origin', () => {
    // Act
    const synth = synthDr2e({ context: { corsAllowedOrigins: 'https://app.example.com' } });
    const origins = corsRules(synth)[0]?.AllowedOrigins ?? [];

    // Assess
    expect(origins).toHaveLength(2);
    const httpApi = resourcesOfType(synth.template, 'AWS::ApiGatewayV2::Api')[0]?.[0];
    expect(httpApi).toMatch(/^[A-Za-z0-9]+$/);
    expect(apiOfOrigin(origins[0])).toBe(httpApi);
    expect(origins[1]).toBe('https://app.example.com');
  });
});
