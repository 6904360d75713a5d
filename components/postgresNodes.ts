// PostgresNodes: the Patroni + PostgreSQL members (db1…dbN), each with its own encrypted gp3
// data volume. The volume is a separate resource attached at /dev/sdf, so a replaced instance
// gets the same data back (pgha-setup mounts it by label) and, in prod, the volume outlives
// the stack (protect + retainOnDelete, a final snapshot if it is ever deleted).
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { DATA_VOLUME_DEVICE } from "../src/layout";
import { leaveBeforeDelete } from "../src/rollout/leave-hook";
import { componentType, nodeTags, throwIfInvalid } from "./common";
import { createNodeGroup, validateNodeGroupArgs, type NodeGroupArgs } from "./instance";

/** The gp3 data volume of each PostgreSQL node (postgres-ha:postgres.dataVolume; the config allows the ranges below). */
export interface DataVolumeArgs {
  /** Size in GiB (10–16384). Growing it is an in-place change; EBS refuses to shrink a volume. */
  sizeGiB: number;
  /** Provisioned IOPS (3000–80000; 3000 are included in gp3's price). */
  iops: number;
  /** Provisioned throughput in MiB/s (125–2000; 125 are included in gp3's price). */
  throughputMiBps: number;
}

/** PostgresNodes: `nodes` are the PostgreSQL members (role `postgres`, db1…dbN). */
export interface PostgresNodesArgs extends NodeGroupArgs {
  /** Every member's data volume: the same size and performance on all (a replica can become leader). */
  dataVolume: DataVolumeArgs;
  /**
   * Keep the data volumes when they leave the program: protect, retainOnDelete and a final
   * snapshot if one is ever deleted. Default false (dev, staging); prod: true.
   */
  keepData?: boolean;
  /**
   * The stack's region: before `pulumi up` deletes a member's data-volume attachment (scale-in, or
   * its instance being replaced) a beforeDelete hook runs `pgha-node leave` on it over SSM
   * (src/rollout/leave-hook.ts). Needs awscli v2 where `pulumi up` runs, like the rollout.
   */
  region: string;
}

/** Every problem of PostgresNodes' arguments (empty when it can be built). */
export function validatePostgresNodesArgs(args: PostgresNodesArgs): string[] {
  const problems = validateNodeGroupArgs("postgres", args);
  const dv = args.dataVolume;
  if (!args.region) problems.push("region: no region (the hook that drains a member before its deletion reaches it over SSM in the stack's region)");
  for (const [key, value] of Object.entries({ sizeGiB: dv.sizeGiB, iops: dv.iops, throughputMiBps: dv.throughputMiBps })) {
    if (!Number.isInteger(value) || value <= 0) problems.push(`dataVolume.${key}: must be a positive integer, got ${value}`);
  }
  return problems;
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
    throwIfInvalid(this, "PostgresNodes", validatePostgresNodesArgs(args));
    const keep = args.keepData ?? false;
    const dv = args.dataVolume;

    this.dataVolumeIds = {};
    // One hook for every member, registered at every run: the engine finds it by name when it
    // deletes the attachment of a member the program no longer declares.
    const stackNodes = args.nodes.map((n) => n.name);
    // (The callback resolves to what it did: the engine ignores it, a test reads it.)
    const leave = new pulumi.ResourceHook(`${name}-postgres-leave`, (hook) =>
      leaveBeforeDelete(hook, { region: args.region, componentName: name, stackNodes, log: (l) => pulumi.log.info(l) }) as Promise<unknown> as Promise<void>);
    const group = createNodeGroup(this, name, args, ({ node, instance, subnet }) => {
      const volumeName = `${name}-${node.name}-data`;
      const volume = new aws.ebs.Volume(volumeName, {
        availabilityZone: subnet.availabilityZone,
        type: "gp3",
        size: dv.sizeGiB,
        iops: dv.iops,
        throughput: dv.throughputMiBps,
        encrypted: true,
        kmsKeyId: args.kmsKeyArn,
        finalSnapshot: keep,
        tags: nodeTags(args, node, volumeName),
      }, { parent: this, protect: keep, retainOnDelete: keep });
      const attachment = new aws.ec2.VolumeAttachment(volumeName, {
        deviceName: DATA_VOLUME_DEVICE,
        volumeId: volume.id,
        instanceId: instance.id,
        // Stop the instance before detaching: PostgreSQL never loses its disk while running.
        stopInstanceBeforeDetaching: true,
      }, { parent: instance, hooks: { beforeDelete: [leave] } });
      this.dataVolumeIds[node.name] = volume.id;
      return [attachment];
    });
    this.instanceIds = group.instanceIds;
    this.privateIps = group.privateIps;
    this.bundleHashes = group.bundleHashes;
    this.resources = group.resources;
    this.registerOutputs({
      instanceIds: this.instanceIds,
      privateIps: this.privateIps,
      bundleHashes: this.bundleHashes,
      dataVolumeIds: this.dataVolumeIds,
    });
  }
}
