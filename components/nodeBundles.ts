// NodeBundles: what every node runs, as objects in the stack's bucket (own prefix, SSE-KMS under
// the cluster key, content-addressed): the node software (one artifact for all nodes), each
// node's bundle (its rendered files + manifest), and per node a small desired.json naming the
// bundle and software it must run. A node's bootstrap reads its desired.json at first boot; the
// rollout (components/rollout.ts) converges running nodes to it. A changed cron line, HAProxy
// setting or member tag changes a bundle object and a pointer — never an instance.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { bundleKeys, bundlePrefix, desiredPointer } from "../src/bundle/format";
import type { NodeBundle } from "../src/render/bundle";
import type { NodeSoftware } from "../src/render/software";
import { componentType, tagsFor, throwIfInvalid, type TaggedArgs } from "./common";

/** NodeBundles: what every node runs, as objects in the stack's bucket. */
export interface NodeBundlesArgs extends TaggedArgs {
  /** The cluster's name (postgres-ha:clusterName): the objects' prefix is `bundles/<cluster>/`. */
  clusterName: string;
  /** The rendered bundles of every node (EC2 layout): node name, sha256 and archive. At least one; one per node. */
  bundles: Pick<NodeBundle, "node" | "hash" | "archive">[];
  /** The node-software artifact they all name (its tar and sha256). */
  software: NodeSoftware;
  /** The stack's bucket (BackupBucket.bucketName). */
  bucketName: pulumi.Input<string>;
  /** The key that encrypts its objects (SSE-KMS, bucket key on). */
  kmsKeyArn: pulumi.Input<string>;
  /** The bucket's configuration (encryption, policy; BackupBucket.ready): objects are written only once it exists. */
  bucketReady: pulumi.Input<pulumi.Resource>[];
}

/** Every problem of NodeBundles' arguments (empty when it can be built). */
export function validateNodeBundlesArgs(args: NodeBundlesArgs): string[] {
  const problems: string[] = [];
  if (args.bundles.length === 0) problems.push("bundles: at least one node bundle");
  const seen = new Set<string>();
  for (const b of args.bundles) {
    if (seen.has(b.node)) problems.push(`bundles: two bundles for node ${b.node}`);
    seen.add(b.node);
  }
  return problems;
}

export class NodeBundles extends pulumi.ComponentResource {
  /** Per node: its desired pointer object (instances and the rollout wait for it). */
  readonly pointers: Record<string, aws.s3.BucketObjectv2>;
  /** Per node: the sha256 of the bundle it must run. */
  readonly bundleHashes: Record<string, string>;
  readonly softwareHash: string;
  /** The S3 prefix of the cluster's bundles. */
  readonly prefix: string;

  constructor(name: string, args: NodeBundlesArgs, opts?: pulumi.ComponentResourceOptions) {
    super(componentType("NodeBundles"), name, {}, opts);
    throwIfInvalid(this, "NodeBundles", validateNodeBundlesArgs(args));
    const { software } = args;
    const prefix = bundlePrefix(args.clusterName);
    const object = (resourceName: string, key: string, body: { contentBase64?: string; content?: string }, contentType: string, dependsOn: pulumi.Input<pulumi.Resource>[]) =>
      new aws.s3.BucketObjectv2(resourceName, {
        bucket: args.bucketName,
        key,
        ...body,
        contentType,
        serverSideEncryption: "aws:kms",
        kmsKeyId: args.kmsKeyArn,
        bucketKeyEnabled: true,
        tags: tagsFor(args, key),
      }, { parent: this, dependsOn });
    const softwareObject = object(`${name}-software`, bundleKeys.software(prefix, software.sha256), { contentBase64: software.tar.toString("base64") }, "application/x-tar", args.bucketReady);
    this.pointers = {};
    this.bundleHashes = {};
    for (const b of args.bundles) {
      const archive = object(`${name}-${b.node}-bundle`, bundleKeys.bundle(prefix, b.node, b.hash), { contentBase64: b.archive.toString("base64") }, "application/x-tar", args.bucketReady);
      // The pointer is written last: a node never reads a pointer to an object that is not there.
      this.pointers[b.node] = object(`${name}-${b.node}-desired`, bundleKeys.desired(prefix, b.node), { content: desiredPointer(b.hash, software.sha256) }, "application/json", [archive, softwareObject]);
      this.bundleHashes[b.node] = b.hash;
    }
    this.softwareHash = software.sha256;
    this.prefix = prefix;
    this.registerOutputs({ bundleHashes: this.bundleHashes, softwareHash: this.softwareHash, prefix });
  }
}
