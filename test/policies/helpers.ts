// Policy test helpers: resources built by hand (or from the real render path, without Pulumi),
// evaluated through the same engine `pgha check` uses — `unknownCheckingProxy` props, the
// analyzer's not-applicable and unknown-at-preview semantics — so a rule that passes here passes
// for the same reasons under the Pulumi CLI.
import type { Policy } from "@pulumi/policy";
import { planDynamicConfig } from "../../components/dynamicConfig";
import { loadStackConfig } from "../../src/config/load";
import { ec2Layout } from "../../src/layout";
import { rawStackConfig } from "../../src/plan/config";
import { evaluatePolicies, type Diagnostic, type PolicyConfigFile } from "../../src/plan/policy-engine";
import { UNKNOWN, type ProgramRun, type RecordedResource } from "../../src/plan/run";
import { renderBundle } from "../../src/render/bundle";
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
// the nodes, their subnets and the day-2 command — enough for the stack policies.

export interface SyntheticCluster {
  spec: ClusterSpec;
  config: Record<string, string>;
  resources: RecordedResource[];
  stackContext: StackContext;
  instance(node: string): RecordedResource;
}

export const T = {
  instance: "aws:ec2/instance:Instance",
  subnet: "aws:ec2/subnet:Subnet",
  command: "command:local:Command",
  volume: "aws:ebs/volume:Volume",
  bucket: "aws:s3/bucket:Bucket",
} as const;

export function syntheticCluster(stack: string, overrides: Record<string, unknown> = {}): SyntheticCluster {
  const { config } = rawStackConfig(ROOT, stack, overrides);
  const spec = buildSpec(loadStackConfig(config, { stack }), stack);
  const layout = ec2Layout(spec);
  const azs = ["a", "b", "c", "d", "e", "f"].map((s) => `${spec.region}${s}`);
  const subnets = spec.network.subnets.map((s) =>
    resource(T.subnet, `${spec.names.prefix}-private-${s.index + 1}`, { cidrBlock: s.cidr, availabilityZone: azs[s.index], tags: { ...spec.tags } }),
  );
  const instances = spec.nodes.map((n) => {
    const bundle = renderBundle(spec, n.name, layout);
    const subnet = subnets[n.subnetIndex];
    return resource(
      T.instance,
      `${spec.names.prefix}-${n.name}`,
      {
        instanceType: n.instanceType,
        subnetId: subnet.id,
        privateIp: n.privateIp,
        associatePublicIpAddress: false,
        userDataBase64: bundle.userDataGzip.toString("base64"),
        tags: { ...spec.tags, Name: `${spec.names.prefix}-${n.name}`, "pgha:node": n.name, "pgha:role": n.role },
      },
      { propertyDependencies: { subnetId: [subnet.urn] } },
    );
  });
  const dynamic = planDynamicConfig(spec, layout);
  const command = resource(T.command, `${spec.names.prefix}-apply`, {
    environment: { PGHA_INSTANCE_IDS: UNKNOWN, PGHA_CONFIG_HASH: dynamic.hash, PGHA_SSM_PARAMETERS: JSON.stringify(dynamic.ssmParameters) },
    triggers: [dynamic.hash],
  });
  const resources = [...subnets, ...instances, command];
  return {
    spec,
    config,
    resources,
    stackContext: { stack, config },
    instance: (node) => resources.find((r) => r.type === T.instance && r.inputs.tags["pgha:node"] === node)!,
  };
}

/** A deep copy of a run whose resources a test may change (the engine reads `inputs` and `state`). */
export function cloneRun(run: ProgramRun): ProgramRun {
  const copy = (r: RecordedResource): RecordedResource => ({ ...r, inputs: structuredClone(r.inputs), state: structuredClone(r.state), options: structuredClone(r.options), propertyDependencies: structuredClone(r.propertyDependencies) });
  const resources = run.resources.map(copy);
  return { ...run, resources, stackResource: run.stackResource && copy(run.stackResource), ofType: (t) => resources.filter((r) => r.type === t) };
}
