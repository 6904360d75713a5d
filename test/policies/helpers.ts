// Policy test helpers: resources built by hand (or from the real render path, without Pulumi),
// evaluated through the same engine `pgha check` uses — `unknownCheckingProxy` props, the
// analyzer's not-applicable and unknown-at-preview semantics — so a rule that passes here passes
// for the same reasons under the Pulumi CLI.
import type { Policy } from "@pulumi/policy";
import { repoKeyPrefix } from "../../components/backupBucket";
import { nodePolicyDocument } from "../../components/nodeRoles";
import { ROLLOUT_COMMAND } from "../../components/rollout";
import { bundleKeys, bundlePrefix, desiredPointer, packNodeBundle, rolloutTrigger, sha256, type BundleManifest, type PackedFile } from "../../src/bundle/format";
import { decodeNodeBundle } from "../../src/delivery/bundle-objects";
import { loadStackConfig } from "../../src/config/load";
import { ec2Layout } from "../../src/layout";
import { rawStackConfig } from "../../src/plan/config";
import { evaluatePolicies, type Diagnostic, type PolicyConfigFile } from "../../src/plan/policy-engine";
import { UNKNOWN, type ProgramRun, type RecordedResource } from "../../src/plan/run";
import { renderBundle } from "../../src/render/bundle";
import { nodeSoftware } from "../../src/render/software";
import { buildSpec, type ClusterSpec } from "../../src/spec";
import type { StackContext } from "../../policies/rules/intent";
import { ROOT } from "../helpers/mocks";

export { UNKNOWN };

export interface ResourceExtras {
  state?: Record<string, any>;
  options?: Partial<RecordedResource["options"]>;
  propertyDependencies?: Record<string, string[]>;
  parent?: string;
}

export function urnOf(type: string, name: string): string {
  return `urn:pulumi:test::postgres-ha::${type}::${name}`;
}

/** A resource as the harness would have recorded it. */
export function resource(type: string, name: string, inputs: Record<string, any>, extras: ResourceExtras = {}): RecordedResource {
  return {
    type,
    name,
    urn: urnOf(type, name),
    id: `${name}-id`,
    custom: true,
    inputs,
    secretPaths: [],
    // The same object unless extra outputs are given: a test that changes inputs changes state too.
    state: extras.state ? { ...inputs, ...extras.state } : inputs,
    parent: extras.parent ?? "",
    options: {
      protect: false,
      retainOnDelete: false,
      ignoreChanges: [],
      replaceOnChanges: [],
      deleteBeforeReplace: false,
      additionalSecretOutputs: [],
      dependencies: [],
      ...(extras.options ?? {}),
    },
    propertyDependencies: extras.propertyDependencies ?? {},
  };
}

export interface Outcome {
  violations: Diagnostic[];
  /** "can't run during preview" diagnostics (advisory: the server's handling of UnknownValueError). */
  unknown: Diagnostic[];
  errors: Diagnostic[];
  notApplicable?: string;
  messages: string[];
}

export interface EvaluateOptions {
  /** The policy's own config (becomes { [policy.name]: config }). */
  config?: Record<string, unknown>;
  stackContext?: StackContext;
}

export async function evaluate(policy: Policy, resources: RecordedResource[], opts: EvaluateOptions = {}): Promise<Outcome> {
  const config: PolicyConfigFile = opts.config ? { [policy.name]: opts.config } : {};
  const result = await evaluatePolicies({ resources, policies: [policy], config, packEnforcement: "mandatory", stackContext: opts.stackContext ?? {} });
  const outcome = result.outcomes[0];
  const ds = outcome.diagnostics;
  return {
    violations: ds.filter((d) => d.kind === "violation"),
    unknown: ds.filter((d) => d.kind === "unknown-at-preview"),
    errors: ds.filter((d) => d.kind === "error"),
    notApplicable: outcome.notApplicable,
    messages: ds.map((d) => d.message),
  };
}

/** The checks every "unknown" case makes: no violation, no pass either — the rule could not run. */
export function expectCouldNotRun(o: Outcome): void {
  expect(o.errors).toEqual([]);
  expect(o.violations).toEqual([]);
  expect(o.unknown.length).toBeGreaterThan(0);
}

export function expectPass(o: Outcome): void {
  expect(o.errors).toEqual([]);
  expect(o.unknown).toEqual([]);
  expect(o.violations.map((v) => v.message)).toEqual([]);
}

export function expectViolation(o: Outcome, pattern: RegExp): void {
  expect(o.errors).toEqual([]);
  expect(o.violations.length).toBeGreaterThan(0);
  expect(o.violations.map((v) => v.message).join("\n")).toMatch(pattern);
}

// ---------------------------------------------------------------------------------------------
// A cluster from the real render path (no Pulumi runtime): what the program would register for
// the nodes — their subnets, instances with the bootstrap user-data, roles and instance
// profiles, the bundle objects (node software, each node's bundle and desired pointer) and the
// rollout command — enough for the stack policies.

export interface SyntheticCluster {
  spec: ClusterSpec;
  config: Record<string, string>;
  resources: RecordedResource[];
  stackContext: StackContext;
  instance(node: string): RecordedResource;
  /** The node's bundle object, its desired pointer, its role's inline policy. */
  bundleObject(node: string): RecordedResource;
  pointer(node: string): RecordedResource;
  rolePolicy(node: string): RecordedResource;
}

export const T = {
  instance: "aws:ec2/instance:Instance",
  subnet: "aws:ec2/subnet:Subnet",
  command: "command:local:Command",
  volume: "aws:ebs/volume:Volume",
  bucket: "aws:s3/bucket:Bucket",
  object: "aws:s3/bucketObjectv2:BucketObjectv2",
  role: "aws:iam/role:Role",
  rolePolicy: "aws:iam/rolePolicy:RolePolicy",
  instanceProfile: "aws:iam/instanceProfile:InstanceProfile",
} as const;

export const SYNTHETIC_KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/0b5e8a4c-synthetic";

export function syntheticCluster(stack: string, overrides: Record<string, unknown> = {}): SyntheticCluster {
  const { config } = rawStackConfig(ROOT, stack, overrides);
  const spec = buildSpec(loadStackConfig(config, { stack }), stack);
  const layout = ec2Layout(spec);
  const p = spec.names.prefix;
  const azs = ["a", "b", "c", "d", "e", "f"].map((s) => `${spec.region}${s}`);
  const subnets = spec.network.subnets.map((s) =>
    resource(T.subnet, `${p}-private-${s.index + 1}`, { cidrBlock: s.cidr, availabilityZone: azs[s.index], tags: { ...spec.tags } }),
  );
  const bucket = spec.backup.bucketName;
  const bucketArn = `arn:aws:s3:::${bucket}`;
  const prefix = bundlePrefix(spec.clusterName);
  const object = (name: string, key: string, body: Record<string, string>, dependencies: string[] = []) =>
    resource(
      T.object,
      name,
      { bucket, key, ...body, serverSideEncryption: "aws:kms", kmsKeyId: SYNTHETIC_KEY_ARN, bucketKeyEnabled: true, tags: { ...spec.tags, Name: key } },
      { options: { dependencies } },
    );
  const software = nodeSoftware();
  const softwareObject = object(`${p}-software`, bundleKeys.software(prefix, software.sha256), { contentBase64: software.tar.toString("base64") });
  const resources: RecordedResource[] = [...subnets, softwareObject];
  const rolloutNodes: { name: string; role: string; hash: string; instanceId: string }[] = [];
  for (const n of spec.nodes) {
    const bundle = renderBundle(spec, n.name, layout);
    const tags = { ...spec.tags, Name: `${p}-${n.name}`, "pgha:node": n.name, "pgha:role": n.role };
    const archive = object(`${p}-${n.name}-bundle`, bundleKeys.bundle(prefix, n.name, bundle.hash), { contentBase64: bundle.archive.toString("base64") });
    const pointer = object(`${p}-${n.name}-desired`, bundleKeys.desired(prefix, n.name), { content: desiredPointer(bundle.hash, software.sha256) }, [archive.urn, softwareObject.urn]);
    const role = resource(T.role, `${p}-${n.name}`, { tags }, { state: { name: `${p}-${n.name}-role`, arn: `arn:aws:iam::123456789012:role/${p}-${n.name}-role` } });
    const document = nodePolicyDocument({
      node: n,
      region: spec.region,
      kmsKeyArn: SYNTHETIC_KEY_ARN,
      nodeSecretArn: `arn:aws:secretsmanager:${spec.region}:123456789012:secret:${spec.names.nodeSecret[n.name]}`,
      clusterSecretArn: n.role === "postgres" ? `arn:aws:secretsmanager:${spec.region}:123456789012:secret:${spec.names.clusterSecret}` : undefined,
      bucket: { arn: bucketArn, repoPrefix: repoKeyPrefix(spec), logicalPrefix: spec.backup.logicalPrefix },
      bundles: { nodePrefix: bundleKeys.nodePrefix(prefix, n.name), softwarePrefix: bundleKeys.softwarePrefix(prefix) },
    });
    const rolePolicy = resource(T.rolePolicy, `${p}-${n.name}-node`, { role: `${p}-${n.name}-role`, policy: JSON.stringify(document) }, { propertyDependencies: { role: [role.urn] } });
    const profile = resource(T.instanceProfile, `${p}-${n.name}`, { role: `${p}-${n.name}-role`, tags }, { state: { name: `${p}-${n.name}-profile` }, propertyDependencies: { role: [role.urn] } });
    const subnet = subnets[n.subnetIndex];
    const instance = resource(
      T.instance,
      `${p}-${n.name}`,
      {
        instanceType: n.instanceType,
        subnetId: subnet.id,
        privateIp: n.privateIp,
        associatePublicIpAddress: false,
        iamInstanceProfile: `${p}-${n.name}-profile`,
        userDataBase64: bundle.userDataGzip.toString("base64"),
        tags,
      },
      { propertyDependencies: { subnetId: [subnet.urn], iamInstanceProfile: [profile.urn] }, options: { dependencies: [pointer.urn] } },
    );
    resources.push(archive, pointer, role, rolePolicy, profile, instance);
    rolloutNodes.push({ name: n.name, role: n.role, hash: bundle.hash, instanceId: instance.id });
  }
  resources.push(
    resource(T.command, `${p}-rollout`, {
      create: ROLLOUT_COMMAND,
      environment: { PGHA_ROLLOUT_PLAN: JSON.stringify({ region: spec.region, nodes: rolloutNodes }) },
      triggers: [rolloutTrigger(rolloutNodes)],
    }),
  );
  const find = (type: string, name: string) => resources.find((r) => r.type === type && r.name === name)!;
  return {
    spec,
    config,
    resources,
    stackContext: { stack, config },
    instance: (node) => resources.find((r) => r.type === T.instance && r.inputs.tags["pgha:node"] === node)!,
    bundleObject: (node) => find(T.object, `${p}-${node}-bundle`),
    pointer: (node) => find(T.object, `${p}-${node}-desired`),
    rolePolicy: (node) => find(T.rolePolicy, `${p}-${node}-node`),
  };
}

/** A resource with changed inputs (state follows: the engine reads `state` for stack policies). */
export function withInputs(r: RecordedResource, inputs: Record<string, any>): RecordedResource {
  const next = { ...r.inputs, ...inputs };
  return { ...r, inputs: next, state: { ...r.state, ...inputs } };
}

/**
 * Rebuilds a node's bundle with `edit` applied to its files — a well-formed bundle (a new
 * manifest, a new sha256, a new key) that its desired pointer names, as a program that rendered
 * those files would upload it. Returns the resources with the bundle object and pointer replaced.
 */
export function withEditedBundle(resources: RecordedResource[], node: string, edit: (files: PackedFile[]) => PackedFile[]): RecordedResource[] {
  const isObject = (r: RecordedResource, suffix: string) => r.type === T.object && typeof r.inputs.key === "string" && r.inputs.key.includes(`/nodes/${node}/`) && r.inputs.key.endsWith(suffix);
  const bundleObject = resources.find((r) => isObject(r, ".tar"))!;
  const pointer = resources.find((r) => isObject(r, "/desired.json"))!;
  const decoded = decodeNodeBundle(Buffer.from(bundleObject.inputs.contentBase64, "base64"));
  const files = edit([...decoded.files.values()].map((f) => ({ path: f.path, mode: f.mode, owner: f.owner, content: f.content, onChange: f.onChange })));
  const manifest: BundleManifest = { ...decoded.manifest, files: files.map((f) => ({ path: f.path, mode: f.mode, owner: f.owner, sha256: sha256(f.content), onChange: f.onChange })) };
  const archive = packNodeBundle(manifest, files);
  const hash = sha256(archive);
  const key = bundleObject.inputs.key.replace(/[0-9a-f]{64}\.tar$/, `${hash}.tar`);
  const software = JSON.parse(pointer.inputs.content).software;
  return resources.map((r) =>
    r === bundleObject ? withInputs(r, { key, contentBase64: archive.toString("base64") }) : r === pointer ? withInputs(r, { content: desiredPointer(hash, software) }) : r,
  );
}

/** A deep copy of a run whose resources a test may change (the engine reads `inputs` and `state`). */
export function cloneRun(run: ProgramRun): ProgramRun {
  const copy = (r: RecordedResource): RecordedResource => ({ ...r, inputs: structuredClone(r.inputs), state: structuredClone(r.state), options: structuredClone(r.options), propertyDependencies: structuredClone(r.propertyDependencies) });
  const resources = run.resources.map(copy);
  return { ...run, resources, stackResource: run.stackResource && copy(run.stackResource), ofType: (t) => resources.filter((r) => r.type === t) };
}
