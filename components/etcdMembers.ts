// EtcdMembers: Patroni's distributed configuration store (etcd1…etcdN, a static initial
// cluster rendered into every member's bundle). etcd keeps its data on the root volume.
import * as pulumi from "@pulumi/pulumi";
import { nodesOf } from "../src/spec";
import { componentType } from "./common";
import { amiLookup, createNodeInstance, type NodeContext } from "./instance";

export interface EtcdMembersArgs {
  context: NodeContext;
}

export class EtcdMembers extends pulumi.ComponentResource {
  readonly instanceIds: Record<string, pulumi.Output<string>>;
  readonly privateIps: Record<string, string>;
  readonly bundleHashes: Record<string, string>;
  readonly resources: pulumi.Resource[];

  constructor(name: string, args: EtcdMembersArgs, opts?: pulumi.ComponentResourceOptions) {
    super(componentType("EtcdMembers"), name, {}, opts);
    const ctx = args.context;
    const members = nodesOf(ctx.spec, "etcd");
    if (members.length === 0 || members.length % 2 === 0) throw new pulumi.ResourceError(`EtcdMembers: needs an odd number of members (postgres-ha:etcd.nodes), the spec has ${members.length}`, this, true);
    const ami = amiLookup(this);
    this.instanceIds = {};
    this.privateIps = {};
    this.bundleHashes = {};
    this.resources = [];
    for (const node of members) {
      const { instance, bundleHash } = createNodeInstance(this, name, node, ctx, ami(node.instanceType));
      this.instanceIds[node.name] = instance.id;
      this.privateIps[node.name] = node.privateIp;
      this.bundleHashes[node.name] = bundleHash;
      this.resources.push(instance);
    }
    this.registerOutputs({ instanceIds: this.instanceIds, privateIps: this.privateIps, bundleHashes: this.bundleHashes });
  }
}
