// The EC2 instance of one node, shared by PostgresNodes, EtcdMembers and HaproxyNodes.
// Everything a node runs comes from its bundle in the bucket, fetched by the bootstrap in its
// user-data; this file only decides how the VM is shaped: AMI, subnet, fixed address, instance
// role, IMDSv2, encrypted disks.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { Layout } from "../src/layout";
import type { NodeBundle } from "../src/render/bundle";
import type { ClusterSpec, NodeSpec, Role } from "../src/spec";
import { debianAmiId, debianArchitecture, nodeTags } from "./common";
import type { NodeSubnet } from "./network";

/** Root disk of every node: the OS, packages, logs (and etcd's data on etcd members). */
export const ROOT_VOLUME_GIB = 20;
/**
 * Instance inputs the program never updates in place:
 *  - userDataBase64: the bootstrap only matters at first boot (it names the node and where its
 *    bundles are; it does not change with the stack's config), and a running node converges to
 *    new bundles through the rollout, not by stopping and starting the VM;
 *  - ami: a new Debian point release must not replace every node of the cluster at once.
 * Replace a node on purpose with `pulumi up --replace <urn>` (docs/aws.md).
 */
export const INSTANCE_IGNORE_CHANGES = ["userDataBase64", "ami"];

/** What every node needs from the rest of the cluster. */
export interface NodeContext {
  spec: ClusterSpec;
  layout: Layout;
  subnets: NodeSubnet[];
  securityGroupIds: Record<Role, pulumi.Input<string>>;
  kmsKeyArn: pulumi.Input<string>;
  instanceProfileNames: Record<string, pulumi.Input<string>>;
  /** Per node: resources that must exist before it boots (role policies, secret values, routes, its bundle). */
  bootDependencies: (node: NodeSpec) => pulumi.Input<pulumi.Resource>[];
  /** Per node: its rendered bundle (EC2 layout); the instance gets its bootstrap user-data. */
  bundles: Record<string, NodeBundle>;
}

export interface NodeInstance {
  node: NodeSpec;
  instance: aws.ec2.Instance;
  bundleHash: string;
  subnet: NodeSubnet;
}

export function createNodeInstance(parent: pulumi.Resource, name: string, node: NodeSpec, ctx: NodeContext, amiId: pulumi.Input<string>): NodeInstance {
  const { spec } = ctx;
  const bundle = ctx.bundles[node.name];
  if (!bundle) throw new pulumi.InputPropertyError({ propertyPath: `bundles.${node.name}`, reason: `no rendered bundle for node ${node.name}` });
  const subnet = ctx.subnets[node.subnetIndex];
  if (!subnet) throw new pulumi.InputPropertyError({ propertyPath: `subnets[${node.subnetIndex}]`, reason: `node ${node.name}: no subnet #${node.subnetIndex} in the network` });
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
