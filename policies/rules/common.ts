// What every rule shares: type tokens, tiers, tags, and reading values that may be unknown.
//
// Unknowns: CrossGuard hands policies `props` wrapped in `unknownCheckingProxy`; reading a value
// that is unknown during `pulumi preview` throws `UnknownValueError`, which the analyzer reports
// as "can't run policy during preview" (advisory) — never as a pass. Rules therefore read only the
// keys they need (never `JSON.stringify(props)` or `Object.values` over a whole bag, which would
// also trip over unrelated unknowns) and never catch errors around a read.
import type { EnforcementLevel, PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs } from "@pulumi/policy";

export type Tier = "dev" | "staging" | "prod";
export const TIERS: readonly Tier[] = ["dev", "staging", "prod"];
export type Role = "postgres" | "etcd" | "haproxy" | "monitor";

export const T = {
  stack: "pulumi:pulumi:Stack",
  instance: "aws:ec2/instance:Instance",
  launchTemplate: "aws:ec2/launchTemplate:LaunchTemplate",
  volume: "aws:ebs/volume:Volume",
  subnet: "aws:ec2/subnet:Subnet",
  securityGroup: "aws:ec2/securityGroup:SecurityGroup",
  securityGroupRule: "aws:ec2/securityGroupRule:SecurityGroupRule",
  ingressRule: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
  egressRule: "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
  bucket: "aws:s3/bucket:Bucket",
  bucketV2: "aws:s3/bucketV2:BucketV2",
  bucketVersioning: "aws:s3/bucketVersioning:BucketVersioning",
  bucketVersioningV2: "aws:s3/bucketVersioningV2:BucketVersioningV2",
  bucketSse: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
  bucketSseV2: "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
  bucketPublicAccessBlock: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
  bucketPolicy: "aws:s3/bucketPolicy:BucketPolicy",
  bucketLifecycle: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
  bucketLifecycleV2: "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2",
  kmsKey: "aws:kms/key:Key",
  secret: "aws:secretsmanager/secret:Secret",
  localCommand: "command:local:Command",
  randomPassword: "random:index/randomPassword:RandomPassword",
  privateKey: "tls:index/privateKey:PrivateKey",
} as const;

export const TAG = { tier: "pgha:tier", role: "pgha:role", node: "pgha:node", cluster: "pgha:cluster", stack: "pgha:stack" } as const;

export function isTier(v: unknown): v is Tier {
  return typeof v === "string" && (TIERS as readonly string[]).includes(v);
}

/** The resource's tags (an empty object when it has none). Throws UnknownValueError when unknown. */
export function tagsOf(props: Record<string, any>): Record<string, any> {
  const tags = props.tags;
  return tags && typeof tags === "object" ? tags : {};
}

/** The tier a resource says it belongs to (`pgha:tier` tag), if any. */
export function tierTag(props: Record<string, any>): Tier | undefined {
  const v = tagsOf(props)[TAG.tier];
  return isTier(v) ? v : undefined;
}

/** "orders-prod-db1 (aws:ec2/instance:Instance)": how violations name a resource. */
export function describe(r: { name: string; type: string }): string {
  return `${r.name} (${r.type})`;
}

export function isEnabled(v: unknown): boolean {
  return v === true || v === "true" || v === "on" || v === "yes" || v === 1;
}

/** A rule's own config, merged over its defaults (the engine passes only what the file set). */
export function configOf<C extends object>(args: { getConfig<T extends object>(): T }, defaults: C): C {
  const given = (args.getConfig<Partial<C>>() ?? {}) as Partial<C>;
  const out = { ...defaults } as C;
  for (const [k, v] of Object.entries(given)) if (v !== undefined && v !== null) (out as any)[k] = v;
  return out;
}

export type ResourceArgs = ResourceValidationArgs;
export type StackArgs = StackValidationArgs;
export type { EnforcementLevel, PolicyResource, ReportViolation };

/** Resources whose input `property` depends on `target` (how companions find their bucket at preview). */
export function dependsThrough(r: PolicyResource, property: string, target: PolicyResource): boolean {
  return (r.propertyDependencies?.[property] ?? []).some((d) => d === target || d.urn === target.urn);
}

export type ResourceValidation = (args: ResourceArgs, report: ReportViolation) => void | Promise<void>;

/** A resource validation for some types only; other resources are not applicable (as validateResourceOfType does). */
export function onlyFor(types: readonly string[], validate: ResourceValidation): ResourceValidation {
  return (args, report) => {
    if (!types.includes(args.type)) args.notApplicable(`${ONLY_APPLIES_TO} ${types.join(", ")}`);
    return validate(args, report);
  };
}

/** The not-applicable reason of a resource outside a policy's types. */
export const ONLY_APPLIES_TO = "only applies to";

/**
 * Collects findings so that one problem seen in several places of one resource (e.g. the same
 * pg_hba line in dynamic.json, patroni.yml and pg_hba.conf) is reported once, naming the places.
 */
export class Findings {
  private readonly byKey = new Map<string, { urn: string | undefined; prefix: string; message: string; places: string[] }>();

  add(urn: string | undefined, prefix: string, message: string, place: string): void {
    const key = `${urn}\u0000${prefix}\u0000${message}`;
    const found = this.byKey.get(key);
    if (found) {
      if (!found.places.includes(place)) found.places.push(place);
    } else this.byKey.set(key, { urn, prefix, message, places: [place] });
  }

  report(report: ReportViolation): void {
    for (const f of this.byKey.values()) report(`${f.prefix}${f.message} (in ${f.places.join("; ")})`, f.urn);
  }
}
