// EtcdMembers: Patroni's distributed configuration store (etcd1…etcdN, a static initial
// cluster rendered into every member's bundle). etcd keeps its data on the root volume.
import * as pulumi from "@pulumi/pulumi";
import { componentType, throwIfInvalid } from "./common";
import { etcdHandoverBeforeDelete } from "../src/rollout/leave-hook";
import { createNodeGroup, validateNodeGroupArgs, type NodeGroupArgs } from "./instance";

/** EtcdMembers: `nodes` are the etcd members (role `etcd`, etcd1…etcdN), an odd number of them. */
export interface EtcdMembersArgs extends NodeGroupArgs {
  /**
   * The stack's region: before `pulumi up` deletes a member's instance (scale-in, replacement) a
   * beforeDelete hook runs `pgha-etcd handover` on it over SSM, so a leader hands its leadership
   * to another member first (src/rollout/leave-hook.ts). Needs awscli v2 where `pulumi up` runs.
   */
  region: string;
}

/** Every problem of EtcdMembers' arguments (empty when it can be built). */
export function validateEtcdMembersArgs(args: EtcdMembersArgs): string[] {
  const problems = validateNodeGroupArgs("etcd", args);
  if (!args.region) problems.push("region: no region (the hook that hands etcd leadership over before a member's deletion reaches it over SSM)");
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
    // One hook for every member, registered at every run (the engine finds it by name when it
    // deletes a member the program no longer declares).
    const handover = new pulumi.ResourceHook(`${name}-etcd-handover`, (hook) =>
      etcdHandoverBeforeDelete(hook, { region: args.region, componentName: name, log: (l) => pulumi.log.info(l) }) as Promise<unknown> as Promise<void>);
    const group = createNodeGroup(this, name, args, () => [], { beforeDelete: [handover] });
    this.instanceIds = group.instanceIds;
    this.privateIps = group.privateIps;
    this.bundleHashes = group.bundleHashes;
    this.resources = group.resources;
    this.registerOutputs({ instanceIds: this.instanceIds, privateIps: this.privateIps, bundleHashes: this.bundleHashes });
  }
}
