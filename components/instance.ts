// The EC2 instance of one node, shared by PostgresNodes, EtcdMembers and HaproxyNodes.
// Everything a node runs comes from its rendered bundle (user-data); this file only decides
// how the VM is shaped: AMI, subnet, fixed address, instance role, IMDSv2, encrypted disks.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { Layout } from "../src/layout";
import { renderBundle, sha256, type NodeBundle } from "../src/render/bundle";
import type { ClusterSpec, NodeSpec, Role } from "../src/spec";
import { debianAmiId, debianArchitecture, nodeTags } from "./common";
import type { NodeSubnet } from "./network";

/** Root disk of every node: the OS, packages, logs (and etcd's data on etcd members). */
export const ROOT_VOLUME_GIB = 20;
/** EC2 refuses user-data above 16 KiB (before base64); the bundle is gzipped to stay below. */
export const USER_DATA_LIMIT_BYTES = 16 * 1024;

/**
 * Instance inputs the program never updates in place:
 *  - userDataBase64 only matters at first boot; later config changes reach running nodes as
 *    day-2 changes (DynamicConfig), not by stopping and starting the VM;
 *  - ami: a new Debian point release must not replace every node of the cluster at once.
 * Replace a node on purpose with `pulumi up --replace <urn>` (docs/aws.md).
 */
export const INSTANCE_IGNORE_CHANGES = ["userDataBase64", "ami"];

/**
 * A digest of a node's rendered files (mode, owner, path, content of each): the same value
 * `pgha render` gives for the files, so drift between the stack and a node is visible.
 */
export function bundleHash(bundle: Pick<NodeBundle, "files">): string {
  return sha256(bundle.files.map((f) => `${f.mode} ${f.owner} ${f.path} ${sha256(f.content)}`).join("\n"));
}

/** What every node needs from the rest of the cluster. */
export interface NodeContext {
  spec: ClusterSpec;
  layout: Layout;
  subnets: NodeSubnet[];
  securityGroupIds: Record<Role, pulumi.Input<string>>;
  kmsKeyArn: pulumi.Input<string>;
  instanceProfileNames: Record<string, pulumi.Input<string>>;
  /** Per node: resources that must exist before it boots (role policies, secret values, routes). */
  bootDependencies: (node: NodeSpec) => pulumi.Input<pulumi.Resource>[];
}

export interface NodeInstance {
  node: NodeSpec;
  instance: aws.ec2.Instance;
  bundleHash: string;
  subnet: NodeSubnet;
}

/** Problems with a node's bundle that EC2 would only report at launch. */
export function userDataProblems(spec: ClusterSpec, layout: Layout): string[] {
  return spec.nodes
    .map((n) => ({ n, size: renderBundle(spec, n.name, layout).userDataGzip.length }))
    .filter(({ size }) => size > USER_DATA_LIMIT_BYTES)
    .map(({ n, size }) => `node ${n.name}: user-data is ${size} bytes gzipped, EC2 allows ${USER_DATA_LIMIT_BYTES}`);
}

export function createNodeInstance(parent: pulumi.Resource, name: string, node: NodeSpec, ctx: NodeContext, amiId: pulumi.Input<string>): NodeInstance {
  const { spec } = ctx;
  const bundle = renderBundle(spec, node.name, ctx.layout);
  const subnet = ctx.subnets[node.subnetIndex];
  if (!subnet) throw new Error(`node ${node.name}: no subnet #${node.subnetIndex} in the network`);
  const resourceName = `${name}-${node.name}`;
  const tags = nodeTags(spec, node, resourceName);
  const instance = new aws.ec2.Instance(resourceName, {
    ami: amiId,
    instanceType: node.instanceType,
    subnetId: subnet.id,
    privateIp: node.privateIp,
    associatePublicIpAddress: false,
    vpcSecurityGroupIds: [ctx.securityGroupIds[node.role]],
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
      volumeSize: ROOT_VOLUME_GIB,
      encrypted: true,
      kmsKeyId: ctx.kmsKeyArn,
      deleteOnTermination: true,
      tags,
    },
    monitoring: spec.tier === "prod",
    tags,
  }, { parent, ignoreChanges: INSTANCE_IGNORE_CHANGES, dependsOn: ctx.bootDependencies(node) });
  return { node, instance, bundleHash: bundleHash(bundle), subnet };
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
