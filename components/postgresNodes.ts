// PostgresNodes: the Patroni + PostgreSQL members (db1…dbN), each with its own encrypted gp3
// data volume. The volume is a separate resource attached at /dev/sdf, so a replaced instance
// gets the same data back (pgha-setup mounts it by label) and, in prod, the volume outlives
// the stack (protect + retainOnDelete, a final snapshot if it is ever deleted).
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { DATA_VOLUME_DEVICE } from "../src/layout";
import { nodesOf } from "../src/spec";
import { componentType, keepsData, nodeTags } from "./common";
import { amiLookup, createNodeInstance, type NodeContext } from "./instance";

export interface PostgresNodesArgs {
  context: NodeContext;
}

export class PostgresNodes extends pulumi.ComponentResource {
  readonly instanceIds: Record<string, pulumi.Output<string>>;
  readonly privateIps: Record<string, string>;
  readonly bundleHashes: Record<string, string>;
  readonly dataVolumeIds: Record<string, pulumi.Output<string>>;
  /** The instances and their data-volume attachments (what a day-2 change waits for). */
  readonly resources: pulumi.Resource[];

  constructor(name: string, args: PostgresNodesArgs, opts?: pulumi.ComponentResourceOptions) {
    super(componentType("PostgresNodes"), name, {}, opts);
    const ctx = args.context;
    const { spec } = ctx;
    const nodes = nodesOf(spec, "postgres");
    if (nodes.length === 0) throw new Error("PostgresNodes: the spec has no PostgreSQL node");
    const ami = amiLookup(this);
    const keep = keepsData(spec);
    const dv = spec.postgres.dataVolume;

    this.instanceIds = {};
    this.privateIps = {};
    this.bundleHashes = {};
    this.dataVolumeIds = {};
    this.resources = [];
    for (const node of nodes) {
      const { instance, bundleHash, subnet } = createNodeInstance(this, name, node, ctx, ami(node.instanceType));
      const volumeName = `${name}-${node.name}-data`;
      const volume = new aws.ebs.Volume(volumeName, {
        availabilityZone: subnet.availabilityZone,
        type: "gp3",
        size: dv.sizeGiB,
        iops: dv.iops,
        throughput: dv.throughputMiBps,
        encrypted: true,
        kmsKeyId: ctx.kmsKeyArn,
        finalSnapshot: keep,
        tags: nodeTags(spec, node, volumeName),
      }, { parent: this, protect: keep, retainOnDelete: keep });
      const attachment = new aws.ec2.VolumeAttachment(volumeName, {
        deviceName: DATA_VOLUME_DEVICE,
        volumeId: volume.id,
        instanceId: instance.id,
        // Stop the instance before detaching: PostgreSQL never loses its disk while running.
        stopInstanceBeforeDetaching: true,
      }, { parent: instance });
      this.instanceIds[node.name] = instance.id;
      this.privateIps[node.name] = node.privateIp;
      this.bundleHashes[node.name] = bundleHash;
      this.dataVolumeIds[node.name] = volume.id;
      this.resources.push(instance, attachment);
    }
    this.registerOutputs({
      instanceIds: this.instanceIds,
      privateIps: this.privateIps,
      bundleHashes: this.bundleHashes,
      dataVolumeIds: this.dataVolumeIds,
    });
  }
}
