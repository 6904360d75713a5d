// Small helpers every component shares: tags, the Debian AMI lookup, the type-token prefix.
// No config strings are built here (DESIGN.md: only the spec → render path does that).
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { architectureOf } from "../src/config/defaults";
import type { ClusterSpec, NodeSpec } from "../src/spec";

/** Type tokens of this package's components: `postgres-ha:index:<Name>`. */
export function componentType(name: string): string {
  return `postgres-ha:index:${name}`;
}

/**
 * The one argument every component takes: how its AWS resources are tagged. Components take
 * narrow, documented arguments (each `XxxArgs` interface), never the whole ClusterSpec;
 * PostgresHaCluster (components/cluster.ts) maps the spec to them.
 */
export interface TaggedArgs {
  /**
   * Tags of every AWS resource the component creates: the stack's `tags` config plus the keys
   * the spec adds (ClusterSpec.tags). `Name` (and on a node's resources `pgha:node` and
   * `pgha:role`) is added per resource and wins over a key of the same name here.
   */
  tags: Record<string, string>;
}

/** The component's tags plus a Name (what the EC2 console shows) and any extras. */
export function tagsFor(base: TaggedArgs, name: string, extra: Record<string, string> = {}): Record<string, string> {
  return { ...base.tags, Name: name, ...extra };
}

/** Tags of a node's resources: which node, which role. */
export function nodeTags(base: TaggedArgs, node: Pick<NodeSpec, "name" | "role">, name: string): Record<string, string> {
  return tagsFor(base, name, { "pgha:node": node.name, "pgha:role": node.role });
}

/**
 * Throws every problem of a component's arguments at once, before it creates any child (the
 * components' `validateXxxArgs` functions collect them; tests call those directly). A
 * ResourceError on the component, without a stack trace: the engine shows it for an in-process
 * component (InputPropertiesError is only rendered for a provider's `construct`).
 */
export function throwIfInvalid(component: pulumi.Resource, type: string, problems: string[]): void {
  if (problems.length === 0) return;
  const text = problems.length === 1 ? problems[0] : problems.map((p) => `\n  - ${p}`).join("");
  throw new pulumi.ResourceError(`${type}: ${text}`, component, true);
}

/** `nodes: <name> is listed twice` for every node name given more than once (args validators). */
export function duplicateNodeNames(nodes: readonly { name: string }[]): string[] {
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const n of nodes) {
    if (seen.has(n.name)) problems.push(`nodes: ${n.name} is listed twice`);
    seen.add(n.name);
  }
  return problems;
}

/** Debian's own AWS account: the official Debian AMIs are published from it. */
export const DEBIAN_AMI_OWNER = "136693071363";

/** Debian names its AMIs by dpkg architecture (arm64, amd64), EC2 by its own (arm64, x86_64). */
export function debianArchitecture(instanceType: string): "arm64" | "amd64" {
  return architectureOf(instanceType) === "arm64" ? "arm64" : "amd64";
}

/**
 * The newest official Debian 13 AMI for an instance type's architecture. v7 refuses
 * `mostRecent` without `owners`; the name filter excludes the backports images
 * (`debian-13-backports-…`).
 */
export function debianAmiId(instanceType: string, opts: pulumi.InvokeOutputOptions): pulumi.Output<string> {
  const arch = debianArchitecture(instanceType);
  return aws.ec2
    .getAmiOutput(
      {
        owners: [DEBIAN_AMI_OWNER],
        mostRecent: true,
        filters: [
          { name: "name", values: [`debian-13-${arch}-*`] },
          { name: "architecture", values: [architectureOf(instanceType)] },
          { name: "virtualization-type", values: ["hvm"] },
          { name: "root-device-type", values: ["ebs"] },
        ],
      },
      opts,
    )
    .apply((ami) => ami.id);
}

/**
 * Whether the tier keeps stateful resources when they leave the program (prod): the components'
 * `keepData` argument (protect, retainOnDelete, final snapshots, recovery windows).
 */
export function keepsData(spec: Pick<ClusterSpec, "tier">): boolean {
  return spec.tier === "prod";
}
