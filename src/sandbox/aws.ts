// The sandbox's AWS: what a node calls on EC2, served on the sandbox network by real
// implementations of the same APIs, so the EC2 branch of every node script runs here too.
//   - S3: s3rver on its own namespace (src/sandbox/s3.ts), the bucket of the stack;
//   - Secrets Manager, SNS, STS, CloudWatch (and SQS, the alert inbox): moto's server (Debian 13's
//     python3-moto) on the `aws` host, booted from the sandbox image like every host, over HTTPS
//     with a certificate from the cluster CA.
// The `aws` host also plays the deployer: what `pulumi up` does against AWS (put secret values,
// upload the bundles) the sandbox does with awscli on that host, against the same endpoints.
import * as fs from "fs";
import * as path from "path";
import { repoRoot } from "../repo-root";
import YAML from "yaml";
import { SANDBOX_NETWORK, sandboxS3HostOf, type Layout } from "../layout";
import { bundleKeys, bundlePrefix, desiredPointer } from "../bundle/format";
import { renderAwsEnv, type NodeBundle } from "../render/bundle";
import { nodeSoftware } from "../render/software";
import type { ClusterSpec } from "../spec";
import { bootHost, hostExec, hostState, startHost, waitForBoot } from "./hosts";
import { awsAccessDir, awsHostTlsDir, type SecretDocument } from "./material";
import { waitForPort } from "./s3";

export const AWS_HOST = "aws";


const MOTO_PORT = 443;

/** The aws host's user-data: moto as a systemd service, names of the sandbox endpoints, awscli's env. */
function awsHostUserData(layout: Layout): string {
  const hosts = layout.aws.hosts.map((h) => `${h.address} ${h.name}`).join("\n");
  const unit = `[Unit]
Description=moto: the sandbox's AWS APIs (Secrets Manager, SNS) over HTTPS
After=network-online.target

[Service]
Environment=PYTHONDONTWRITEBYTECODE=1
ExecStart=/usr/bin/moto_server -H ${SANDBOX_NETWORK.awsAddress} -p ${MOTO_PORT} -c /run/pgha-aws-host/aws.crt -k /run/pgha-aws-host/aws.key
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
`;
  const doc = {
    hostname: AWS_HOST,
    timezone: "UTC",
    write_files: [
      { path: "/etc/systemd/system/pgha-aws-apis.service", permissions: "0644", content: unit },
      // The nodes' AWS environment, plus SQS: the alert topic's inbox queue (only the deployer reads it).
      { path: "/etc/pgha/aws.env", permissions: "0644", content: `${renderAwsEnv(layout)}AWS_ENDPOINT_URL_SQS=https://${SANDBOX_NETWORK.awsHost}\n` },
      { path: "/etc/pgha/sandbox-hosts", permissions: "0644", content: `${hosts}\n` },
      { path: "/opt/pgha/deploy.py", permissions: "0755", content: fs.readFileSync(path.join(repoRoot(), "sandbox/aws-host/deploy.py"), "utf8") },
    ],
    runcmd: [["sh", "-c", "cat /etc/pgha/sandbox-hosts >> /etc/hosts"], ["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", "pgha-aws-apis.service"]],
  };
  return `#cloud-config\n# The sandbox's AWS API host (not a node of the stack): moto serves Secrets Manager.\n${YAML.stringify(doc, { lineWidth: 0, version: "1.1" })}`;
}

/** Boots the aws host (idempotent) and waits until moto answers on the sandbox network. */
export async function startAwsApis(stateDir: string, image: string, layout: Layout): Promise<void> {
  const state = await hostState(AWS_HOST).catch(() => undefined);
  if (state === undefined) {
    await bootHost(
      {
        name: AWS_HOST,
        address: SANDBOX_NETWORK.awsAddress,
        userData: awsHostUserData(layout),
        binds: [
          { source: awsAccessDir(stateDir), target: SANDBOX_NETWORK.awsDir, readOnly: true },
          { source: awsHostTlsDir(stateDir), target: "/run/pgha-aws-host", readOnly: true },
        ],
      },
      { image, stateDir },
    );
  } else if (state === "stopped") {
    await startHost(AWS_HOST);
  }
  await waitForBoot(AWS_HOST);
  await waitForPort(SANDBOX_NETWORK.awsAddress, MOTO_PORT, 60_000);
}

/** awscli on the aws host with the sandbox's AWS environment; stdin carries payloads and secrets. */
export async function awsCli(args: string[], input?: string | Buffer, timeoutMs = 120_000): Promise<string> {
  // stdin arrives on a socket; awscli's file:///dev/stdin needs a pipe, which `cat |` gives it.
  const r = await hostExec(AWS_HOST, ["bash", "-c", 'set -a; . /etc/pgha/aws.env; set +a; cat | aws "$@"', "aws", ...args], { input, timeoutMs });
  if (r.code !== 0) throw new Error(`aws ${args.slice(0, 3).join(" ")} … on the sandbox's aws host exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

export interface DeployRequest {
  secrets?: SecretDocument[];
  deleteSecrets?: string[];
  objects?: { bucket: string; key: string; body: Buffer | string }[];
  list?: { bucket: string; prefix: string };
  /** SNS topics to create (idempotent), each with an SQS queue subscribed: the sandbox's stand-in for the people paged. */
  topics?: { name: string; inbox: string }[];
  /** Receive (and delete) every message of a queue, waiting up to waitSeconds for the first. */
  readInbox?: { queue: string; waitSeconds: number };
  /** CloudWatch datapoints (Sum per minute) of a metric over the last sinceSeconds. */
  metric?: { namespace: string; name: string; dimensions: Record<string, string>; sinceSeconds: number };
}

/** What SNS delivered to an inbox queue (the SNS envelope's fields). */
export interface InboxMessage {
  subject: string | null;
  message: string;
  /** When SNS accepted the publish (ISO 8601). */
  timestamp: string;
  topicArn: string;
}

export interface DeployResult {
  keys: string[] | null;
  objects?: { key: string; size: number; etag: string }[] | null;
  topics?: Record<string, string>;
  messages?: InboxMessage[] | null;
  datapoints?: { timestamp: string; sum: number }[] | null;
}

/**
 * One run of the sandbox's deployer (sandbox/aws-host/deploy.py, boto3 on the aws host): secrets
 * into Secrets Manager, objects into S3, in the order given. Secret values travel on stdin only.
 */
export async function deploy(region: string, req: DeployRequest, s3: { host: string; address: string } = { host: SANDBOX_NETWORK.s3Host, address: SANDBOX_NETWORK.s3Address }): Promise<DeployResult> {
  const payload = JSON.stringify({
    region,
    secrets: req.secrets ?? [],
    deleteSecrets: req.deleteSecrets ?? [],
    objects: (req.objects ?? []).map((o) => ({ bucket: o.bucket, key: o.key, b64: Buffer.from(o.body).toString("base64") })),
    list: req.list ?? null,
    topics: req.topics ?? [],
    readInbox: req.readInbox ?? null,
    metric: req.metric ?? null,
  });
  // S3 of the stack's region: the first region's endpoint, or the second's for a standby cluster.
  const script = 'set -a; . /etc/pgha/aws.env; set +a; grep -q " $1$" /etc/hosts || echo "$2 $1" >> /etc/hosts; AWS_ENDPOINT_URL_S3=https://$1 exec python3 /opt/pgha/deploy.py';
  const r = await hostExec(AWS_HOST, ["bash", "-c", script, "deploy", s3.host, s3.address], { input: payload, timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`the sandbox's deployer (aws host) failed: ${r.stderr.trim().split("\n").slice(-3).join(" | ")}`);
  return JSON.parse(r.stdout);
}

/** Creates or updates secrets in the sandbox's Secrets Manager. */
export async function publishSecrets(docs: SecretDocument[], region = "eu-west-1"): Promise<void> {
  await deploy(region, { secrets: docs });
}

/** Deletes a secret (tests of a missing secret; removing a scratch host). */
export async function deleteSecret(name: string, region = "eu-west-1"): Promise<void> {
  await deploy(region, { deleteSecrets: [name] });
}

/** The SQS queue subscribed to a stack's alert topic in the sandbox. */
export const alertInbox = (spec: ClusterSpec): string => `${spec.monitoring.topicName}-inbox`;

/** What `pulumi up` creates for monitoring.enabled (components: the alert topic), the sandbox way: the topic in moto's SNS, with the inbox queue subscribed. */
export async function createAlertTopic(spec: ClusterSpec): Promise<string> {
  const r = await deploy(spec.region, { topics: [{ name: spec.monitoring.topicName, inbox: alertInbox(spec) }] });
  return r.topics![spec.monitoring.topicName];
}

/** Every message SNS delivered to the stack's alert inbox since the last read (read messages are deleted). */
export async function readAlertInbox(spec: ClusterSpec, waitSeconds = 0): Promise<InboxMessage[]> {
  return (await deploy(spec.region, { readInbox: { queue: alertInbox(spec), waitSeconds } })).messages ?? [];
}

/** The monitoring node's heartbeat datapoints in the sandbox's CloudWatch (the dead man's switch). */
export async function heartbeatDatapoints(spec: ClusterSpec, sinceSeconds: number): Promise<{ timestamp: string; sum: number }[]> {
  const h = spec.monitoring.heartbeat;
  return (await deploy(spec.region, { metric: { namespace: h.namespace, name: h.metricName, dimensions: h.dimensions, sinceSeconds } })).datapoints ?? [];
}

export async function listObjects(bucket: string, prefix: string, region = "eu-west-1", s3?: { host: string; address: string }): Promise<string[]> {
  return (await deploy(region, { list: { bucket, prefix } }, s3)).keys ?? [];
}

/** The objects under a prefix with their size and ETag: what "unchanged" is checked against. */
export async function listObjectDetails(bucket: string, prefix: string, region = "eu-west-1", s3?: { host: string; address: string }): Promise<{ key: string; size: number; etag: string }[]> {
  return (await deploy(region, { list: { bucket, prefix } }, s3)).objects ?? [];
}

/** The S3 endpoint of a stack's own region in the sandbox (a standby cluster: the second region's). */
export function stackS3(spec: ClusterSpec): { host: string; address: string } {
  return sandboxS3HostOf(spec, spec.region) === SANDBOX_NETWORK.s3SecondHost
    ? { host: SANDBOX_NETWORK.s3SecondHost, address: SANDBOX_NETWORK.s3SecondAddress }
    : { host: SANDBOX_NETWORK.s3Host, address: SANDBOX_NETWORK.s3Address };
}

export async function getObject(bucket: string, key: string): Promise<Buffer> {
  const r = await hostExec(AWS_HOST, ["bash", "-c", 'set -a; . /etc/pgha/aws.env; set +a; exec aws s3 cp --only-show-errors "$1" - | base64 -w0', "get", `s3://${bucket}/${key}`]);
  if (r.code !== 0) throw new Error(`cannot read s3://${bucket}/${key}: ${r.stderr.trim()}`);
  return Buffer.from(r.stdout, "base64");
}

/**
 * What `pulumi up` does (components/nodeBundles.ts, components/secrets.ts), the sandbox way: the
 * secrets, the node software, each node's bundle and, last, each node's desired pointer (a node
 * never points at a missing bundle). Content-addressed objects already there are not sent again.
 */
export async function publishBundles(spec: ClusterSpec, bundles: NodeBundle[], secrets: SecretDocument[] = [], deleteSecrets: string[] = []): Promise<void> {
  const prefix = bundlePrefix(spec.clusterName);
  const bucket = spec.backup.bucketName;
  const software = nodeSoftware();
  const have = new Set(await listObjects(bucket, prefix, spec.region, stackS3(spec)));
  const objects: DeployRequest["objects"] = [];
  const softwareKey = bundleKeys.software(prefix, software.sha256);
  if (!have.has(softwareKey)) objects.push({ bucket, key: softwareKey, body: software.tar });
  for (const b of bundles) {
    const key = bundleKeys.bundle(prefix, b.node, b.hash);
    if (!have.has(key)) objects.push({ bucket, key, body: b.archive });
  }
  for (const b of bundles) objects.push({ bucket, key: bundleKeys.desired(prefix, b.node), body: desiredPointer(b.hash, software.sha256) });
  await deploy(spec.region, { secrets, deleteSecrets, objects }, stackS3(spec));
}
