// A reusable harness that runs the Pulumi program offline, the way the language host would,
// against deterministic mocks — and records everything it registered.
//
//   const run = await runProgram({ stack: "prod" });                  // Pulumi.prod.yaml as shipped
//   const run = await runProgram({ stack: "dev", overrides: { postgres: { parameters: { work_mem: "8MB" } } } });
//   run.ofType("aws:ec2/instance:Instance")  → [{ type, name, urn, inputs, state, parent, options, … }]
//   run.outputs                               → the stack outputs (resolved)
//   run.error                                 → what the program threw (e.g. a RunError for bad config)
//
// The harness itself lives in src/plan/ (the `pgha plan`, `diff` and `check` commands use it at
// runtime); this file adds what only jest has: each run happens in an isolated module registry (a
// fresh program, shared SDKs), so one test file can run several stacks. Pulumi keeps its runtime
// state on globals: call runProgram sequentially, never concurrently (await each run).
import * as path from "path";
import { loadStackConfig } from "../../src/config/load";
import { withStandbyFromPrimary } from "../../src/config/stack-file";
import { buildSpec, type ClusterSpec } from "../../src/spec";
import { rawStackConfig, type RawConfig } from "../../src/plan/config";
import { runProgram as runProgramIn, type ModuleIsolation, type ProgramRun, type RunOptions as PlanRunOptions } from "../../src/plan/run";
import { decodeUserDataBytes } from "../../src/delivery/userdata";

export { PROJECT, type RawConfig } from "../../src/plan/config";
export { ACCOUNT_ID, digest, fakePassword, type FakeContext } from "../../src/plan/fakes";
export { UNKNOWN, type ProgramRun, type RecordedResource, type ResourceOptionsSeen, type ResourceOverride } from "../../src/plan/run";

export const ROOT = path.resolve(__dirname, "../..");

/**
 * The raw config of a stack: Pulumi.yaml's namespaced values and declared defaults, then
 * Pulumi.<stack>.yaml, then `overrides` (keys with or without the `postgres-ha:` prefix;
 * objects merge into the stack's value, `undefined` removes a key).
 */
export function stackConfig(stack: string, overrides: Record<string, unknown> = {}): RawConfig {
  return rawStackConfig(ROOT, stack, overrides).config;
}

/** What a test passes: the harness's options without the project root and the isolation (fixed here). */
export type RunOptions = Omit<PlanRunOptions, "root" | "isolation">;

/** jest: the program and its modules load in an isolated registry; the SDKs are shared with it. */
export const jestIsolation: ModuleIsolation = {
  async run(sdk, body) {
    await jest.isolateModulesAsync(async () => {
      for (const name of Object.keys(sdk)) jest.doMock(name, () => sdk[name]);
      await body();
    });
    for (const name of Object.keys(sdk)) jest.dontMock(name);
  },
};

export function runProgram(opts: RunOptions): Promise<ProgramRun> {
  return runProgramIn({ ...opts, root: ROOT, config: opts.config ?? stackConfig(opts.stack, opts.overrides), isolation: jestIsolation });
}

// ---------------------------------------------------------------------------------------------
// Helpers for assertions.

/** The ClusterSpec the program built for a run's config (the same pure path, outside Pulumi). */
export function specOf(run: Pick<ProgramRun, "config" | "stack">): ClusterSpec {
  // As the program reads its config (index.ts): a standby naming only its primary is completed
  // from the primary's stack file.
  return buildSpec(loadStackConfig(withStandbyFromPrimary(run.config, ROOT), { stack: run.stack }), run.stack);
}

/** An instance's cloud-config text: base64 → gunzip (the form EC2 hands cloud-init). */
export function decodeUserData(userDataBase64: string): string {
  return decodeUserDataBytes(userDataBase64).text;
}

/** A JSON policy document input (string) parsed, or the object as is. */
export function policyOf(value: unknown): { Version: string; Statement: any[] } {
  return typeof value === "string" ? JSON.parse(value) : (value as { Version: string; Statement: any[] });
}

/** Inputs without the keys given (for comparing two runs). */
export function without<T extends Record<string, unknown>>(obj: T, keys: string[]): Partial<T> {
  const out: Record<string, unknown> = { ...obj };
  for (const k of keys) delete out[k];
  return out as Partial<T>;
}

export const TYPES = {
  instance: "aws:ec2/instance:Instance",
  volume: "aws:ebs/volume:Volume",
  volumeAttachment: "aws:ec2/volumeAttachment:VolumeAttachment",
  securityGroup: "aws:ec2/securityGroup:SecurityGroup",
  ingress: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
  egress: "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
  vpc: "aws:ec2/vpc:Vpc",
  subnet: "aws:ec2/subnet:Subnet",
  natGateway: "aws:ec2/natGateway:NatGateway",
  vpcEndpoint: "aws:ec2/vpcEndpoint:VpcEndpoint",
  bucket: "aws:s3/bucket:Bucket",
  bucketVersioning: "aws:s3/bucketVersioning:BucketVersioning",
  bucketSse: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
  bucketPublicAccessBlock: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
  bucketOwnership: "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
  bucketPolicy: "aws:s3/bucketPolicy:BucketPolicy",
  bucketLifecycle: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
  bucketObject: "aws:s3/bucketObjectv2:BucketObjectv2",
  kmsKey: "aws:kms/key:Key",
  kmsAlias: "aws:kms/alias:Alias",
  secret: "aws:secretsmanager/secret:Secret",
  secretVersion: "aws:secretsmanager/secretVersion:SecretVersion",
  role: "aws:iam/role:Role",
  rolePolicy: "aws:iam/rolePolicy:RolePolicy",
  rolePolicyAttachment: "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
  instanceProfile: "aws:iam/instanceProfile:InstanceProfile",
  loadBalancer: "aws:lb/loadBalancer:LoadBalancer",
  targetGroup: "aws:lb/targetGroup:TargetGroup",
  listener: "aws:lb/listener:Listener",
  targetGroupAttachment: "aws:lb/targetGroupAttachment:TargetGroupAttachment",
  zone: "aws:route53/zone:Zone",
  zoneAssociation: "aws:route53/zoneAssociation:ZoneAssociation",
  stackReference: "pulumi:pulumi:StackReference",
  record: "aws:route53/record:Record",
  randomPassword: "random:index/randomPassword:RandomPassword",
  privateKey: "tls:index/privateKey:PrivateKey",
  localCommand: "command:local:Command",
} as const;
