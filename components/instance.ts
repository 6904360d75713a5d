// The EC2 instance of one node and the per-node loop of a node group (createNodeGroup), shared
// by PostgresNodes, EtcdMembers, HaproxyNodes and MonitoringNode, with the arguments they all take (NodeGroupArgs).
// Everything a node runs comes from its bundle in the bucket, fetched by the bootstrap in its
// user-data; this file only decides how the VM is shaped: AMI, subnet, fixed address, instance
// role, IMDSv2, encrypted disks.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { NodeBundle } from "../src/render/bundle";
import type { NodeSpec, Role } from "../src/spec";
import { debianAmiId, debianArchitecture, nodeTags, type TaggedArgs } from "./common";
import type { NodeSubnet } from "./network";

/** Root disk of every node: the OS, packages, logs (and etcd's data on etcd members); the monitoring node's is larger (monitoringNode.ts). */
export { ROOT_VOLUME_GIB } from "../src/monitoring/log-sizing";
import { ROOT_VOLUME_GIB } from "../src/monitoring/log-sizing";
/**
 * Instance inputs the program never updates in place:
 *  - userDataBase64: the bootstrap only matters at first boot (it names the node and where its
 *    bundles are; it does not change with the stack's config), and a running node converges to
 *    new bundles through the rollout, not by stopping and starting the VM;
 * The AMI is not ignored: every instance is given the one it runs now, except the single node a
 * `pulumi up` rolls to the stack's image (components/imageRoll.ts), so a new Debian point release
 * never replaces every node at once.
 */
export const INSTANCE_IGNORE_CHANGES = ["userDataBase64"];

/**
 * What every node of a group (EtcdMembers, PostgresNodes, HaproxyNodes) needs: its spec and what
 * the rest of the cluster made for it. The groups' args extend this, as pulumi-eks's node groups
 * extend `NodeGroupBaseOptions`; every per-node record is keyed by node name.
 */
export interface NodeGroupArgs extends TaggedArgs {
  /**
   * The group's nodes, in order (ClusterSpec.nodes of the group's role): name, role, subnet
   * index, fixed private address, instance type. At least one; every node of the group's role.
   */
  nodes: NodeSpec[];
  /** The node subnets (Network.subnets): a node goes into `subnets[node.subnetIndex]`. */
  subnets: NodeSubnet[];
  /** The security group of each role (Network.securityGroupIds): a node joins its role's, which must be given. */
  securityGroupIds: Partial<Record<Role, pulumi.Input<string>>>;
  /** The cluster's KMS key: encrypts the root volume (and a PostgreSQL node's data volume). */
  kmsKeyArn: pulumi.Input<string>;
  /** Per node: its instance profile (NodeRoles.instanceProfileNames). Required for every node. */
  instanceProfileNames: Record<string, pulumi.Input<string>>;
  /**
   * Per node: its rendered bundle (EC2 layout). The instance gets the bundle's gzipped bootstrap
   * as user-data (ignored after creation, INSTANCE_IGNORE_CHANGES) and reports its hash.
   * Required for every node.
   */
  bundles: Record<string, Pick<NodeBundle, "hash" | "userDataGzip">>;
  /**
   * Per node: what must exist before it boots (role policies, secret values, routes, its bundle
   * pointer), for `dependsOn`. Default: nothing.
   */
  bootDependencies?: (node: NodeSpec) => pulumi.Input<pulumi.Resource>[];
  /** Detailed (1-minute, billed) CloudWatch monitoring of the instances. Default false; prod: true. */
  detailedMonitoring?: boolean;
  /**
   * Per node name: the AMI its instance is given (the cluster's image plan, components/imageRoll.ts).
   * Default: the newest official Debian 13 AMI of the node's architecture.
   */
  amis?: pulumi.Input<Record<string, string>>;
  /** Size of each node's root volume (GiB, gp3). Default ROOT_VOLUME_GIB (20); the monitoring node keeps Prometheus's TSDB there. */
  rootVolumeGiB?: number;
}

/** Every problem of a node group's arguments (empty when it can be built): one line each. */
export function validateNodeGroupArgs(role: Role, args: NodeGroupArgs): string[] {
  const problems: string[] = [];
  if (args.nodes.length === 0) problems.push(`nodes: the group has no ${role} node`);
  if (!args.securityGroupIds[role]) problems.push(`securityGroupIds.${role}: no security group for ${role} nodes`);
  if (args.rootVolumeGiB !== undefined && (!Number.isInteger(args.rootVolumeGiB) || args.rootVolumeGiB < ROOT_VOLUME_GIB)) problems.push(`rootVolumeGiB: ${args.rootVolumeGiB} is not an integer ≥ ${ROOT_VOLUME_GIB} (the OS and packages need that much)`);
  for (const node of args.nodes) {
    if (node.role !== role) problems.push(`nodes: ${node.name} is a ${node.role} node, not ${role}`);
    if (!args.bundles[node.name]) problems.push(`bundles.${node.name}: no rendered bundle for node ${node.name}`);
    if (!args.subnets[node.subnetIndex]) problems.push(`subnets[${node.subnetIndex}]: node ${node.name}: no subnet #${node.subnetIndex} in the network`);
    if (!args.instanceProfileNames[node.name]) problems.push(`instanceProfileNames.${node.name}: no instance profile for node ${node.name}`);
  }
  return problems;
}

export interface NodeInstance {
  node: NodeSpec;
  instance: aws.ec2.Instance;
  bundleHash: string;
  subnet: NodeSubnet;
}

/** One node's instance, named `<name>-<node>`, parented to its group (arguments validated first). */
export function createNodeInstance(parent: pulumi.Resource, name: string, node: NodeSpec, ctx: NodeGroupArgs, amiId: pulumi.Input<string>, hooks?: pulumi.ResourceHookBinding): NodeInstance {
  const bundle = ctx.bundles[node.name];
  const subnet = ctx.subnets[node.subnetIndex];
  const resourceName = `${name}-${node.name}`;
  const tags = nodeTags(ctx, node, resourceName);
  const instance = new aws.ec2.Instance(resourceName, {
    ami: amiId,
    instanceType: node.instanceType,
    subnetId: subnet.id,
    privateIp: node.privateIp,
    associatePublicIpAddress: false,
    vpcSecurityGroupIds: [ctx.securityGroupIds[node.role]!],
    iamInstanceProfile: ctx.instanceProfileNames[node.name],
    userDataBase64: bundle.userDataGzip.toString("base64"),
    metadataOptions: {
      httpEndpoint: "enabled",
      httpTokens: "required",
      // 1 hop: processes on the instance (awscli, pgBackRest, SSM agent) get tokens; containers would not.
      httpPutResponseHopLimit: 1,
      instanceMetadataTags: "disabled",
    },
    rootBlockDevice: {
      volumeType: "gp3",
      volumeSize: ctx.rootVolumeGiB ?? ROOT_VOLUME_GIB,
      encrypted: true,
      kmsKeyId: ctx.kmsKeyArn,
      deleteOnTermination: true,
      tags,
    },
    monitoring: ctx.detailedMonitoring ?? false,
    tags,
    // A fixed private address: the old instance must be gone before its replacement can take it.
  }, { parent, ignoreChanges: INSTANCE_IGNORE_CHANGES, deleteBeforeReplace: true, dependsOn: ctx.bootDependencies?.(node) ?? [], ...(hooks ? { hooks } : {}) });
  return { node, instance, bundleHash: bundle.hash, subnet };
}

/** One AMI lookup per architecture (arm64 and amd64 images differ). */
export function amiLookup(parent: pulumi.Resource): (instanceType: string) => pulumi.Output<string> {
  const cache = new Map<string, pulumi.Output<string>>();
  return (instanceType) => {
    const arch = debianArchitecture(instanceType);
    if (!cache.has(arch)) cache.set(arch, debianAmiId(instanceType, { parent }));
    return cache.get(arch)!;
  };
}

/** What a node group reports, per node name: what the cluster merges, outputs and rolls out. */
export interface NodeGroupOutputs {
  instanceIds: Record<string, pulumi.Output<string>>;
  privateIps: Record<string, string>;
  /** The sha256 of the bundle each node must run. */
  bundleHashes: Record<string, string>;
  /** The instances and whatever each node adds (a data-volume attachment): what a rollout waits for. */
  resources: pulumi.Resource[];
}

/**
 * The per-node loop of every node group: one instance per node (one AMI lookup per
 * architecture), then `perNode` for what the group adds to a node (a data volume), filling the
 * group's outputs. Resources are registered node by node, in `args.nodes` order.
 */
export function createNodeGroup(
  parent: pulumi.Resource,
  name: string,
  args: NodeGroupArgs,
  perNode: (created: NodeInstance) => pulumi.Resource[] = () => [],
  /** Resource hooks bound to every instance of the group (EtcdMembers: the leadership hand-over). */
  instanceHooks?: pulumi.ResourceHookBinding,
): NodeGroupOutputs & { instances: NodeInstance[] } {
  const ami = amiLookup(parent);
  const out: NodeGroupOutputs & { instances: NodeInstance[] } = { instanceIds: {}, privateIps: {}, bundleHashes: {}, resources: [], instances: [] };
  for (const node of args.nodes) {
    const image = args.amis ? pulumi.output(args.amis).apply((m) => m[node.name] ?? pulumi.output(ami(node.instanceType))) : ami(node.instanceType);
    const created = createNodeInstance(parent, name, node, args, image, instanceHooks);
    const extra = perNode(created);
    out.instanceIds[node.name] = created.instance.id;
    out.privateIps[node.name] = node.privateIp;
    out.bundleHashes[node.name] = created.bundleHash;
    out.resources.push(created.instance, ...extra);
    out.instances.push(created);
  }
  return out;
}

/** Several groups' outputs as one (the cluster's): per-node records merged, resources in group order. */
export function mergeNodeGroups(...groups: NodeGroupOutputs[]): NodeGroupOutputs {
  return {
    instanceIds: Object.assign({}, ...groups.map((g) => g.instanceIds)),
    privateIps: Object.assign({}, ...groups.map((g) => g.privateIps)),
    bundleHashes: Object.assign({}, ...groups.map((g) => g.bundleHashes)),
    resources: groups.flatMap((g) => g.resources),
  };
}
