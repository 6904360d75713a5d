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

/** The cluster's tags plus a Name (what the EC2 console shows) and any extras. */
export function tagsFor(spec: ClusterSpec, name: string, extra: Record<string, string> = {}): Record<string, string> {
  return { ...spec.tags, Name: name, ...extra };
}

/** Tags of a node's resources: which node, which role. */
export function nodeTags(spec: ClusterSpec, node: NodeSpec, name: string): Record<string, string> {
  return tagsFor(spec, name, { "pgha:node": node.name, "pgha:role": node.role });
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

/** Whether the tier keeps stateful resources when they leave the program (prod). */
export function keepsData(spec: ClusterSpec): boolean {
  return spec.tier === "prod";
}
