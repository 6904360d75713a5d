// EtcdMembers: Patroni's distributed configuration store (etcd1…etcdN, a static initial
// cluster rendered into every member's bundle). etcd keeps its data on the root volume.
import * as pulumi from "@pulumi/pulumi";
import { componentType, throwIfInvalid } from "./common";
import { createNodeGroup, validateNodeGroupArgs, type NodeGroupArgs } from "./instance";

/** EtcdMembers: `nodes` are the etcd members (role `etcd`, etcd1…etcdN), an odd number of them. */
export type EtcdMembersArgs = NodeGroupArgs;

/** Every problem of EtcdMembers' arguments (empty when it can be built). */
export function validateEtcdMembersArgs(args: EtcdMembersArgs): string[] {
  const problems = validateNodeGroupArgs("etcd", args);
  if (args.nodes.length % 2 === 0) problems.push(`nodes: needs an odd number of members (postgres-ha:etcd.nodes), got ${args.nodes.length}`);
  return problems;
}

export class EtcdMembers extends pulumi.ComponentResource {
  readonly instanceIds: Record<string, pulumi.Output<string>>;
  readonly privateIps: Record<string, string>;
  readonly bundleHashes: Record<string, string>;
  readonly resources: pulumi.Resource[];

  constructor(name: string, args: EtcdMembersArgs, opts?: pulumi.ComponentResourceOptions) {
    super(componentType("EtcdMembers"), name, {}, opts);
    throwIfInvalid(this, "EtcdMembers", validateEtcdMembersArgs(args));
    const group = createNodeGroup(this, name, args);
    this.instanceIds = group.instanceIds;
    this.privateIps = group.privateIps;
    this.bundleHashes = group.bundleHashes;
    this.resources = group.resources;
    this.registerOutputs({ instanceIds: this.instanceIds, privateIps: this.privateIps, bundleHashes: this.bundleHashes });
  }
}
