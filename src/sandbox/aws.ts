// The sandbox's AWS: what a node calls on EC2, served on the sandbox network by real
// implementations of the same APIs, so the EC2 branch of every node script runs here too.
//   - S3: s3rver on its own namespace (src/sandbox/s3.ts), the bucket of the stack;
//   - Secrets Manager: moto's server (Debian 13's python3-moto) on the `aws` host, booted from
//     the sandbox image like every host, over HTTPS with a certificate from the cluster CA.
// The `aws` host also plays the deployer: what `pulumi up` does against AWS (put secret values,
// upload the bundles) the sandbox does with awscli on that host, against the same endpoints.
import YAML from "yaml";
import { SANDBOX_NETWORK, type Layout } from "../layout";
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
      { path: "/etc/pgha/aws.env", permissions: "0644", content: renderAwsEnv(layout) },
      { path: "/etc/pgha/sandbox-hosts", permissions: "0644", content: `${hosts}\n` },
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
  const r = await hostExec(AWS_HOST, ["bash", "-c", 'set -a; . /etc/pgha/aws.env; set +a; exec aws "$@"', "aws", ...args], { input, timeoutMs });
  if (r.code !== 0) throw new Error(`aws ${args.slice(0, 3).join(" ")} … on the sandbox's aws host exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

/** Creates or updates secrets in the sandbox's Secrets Manager (values through stdin only). */
export async function publishSecrets(docs: SecretDocument[]): Promise<void> {
  const existing = new Set(
    JSON.parse(await awsCli(["secretsmanager", "list-secrets", "--output", "json"])).SecretList?.map((s: { Name: string }) => s.Name) ?? [],
  );
  for (const d of docs) {
    const args = existing.has(d.name)
      ? ["secretsmanager", "put-secret-value", "--secret-id", d.name, "--secret-string", "file:///dev/stdin"]
      : ["secretsmanager", "create-secret", "--name", d.name, "--secret-string", "file:///dev/stdin"];
    await awsCli([...args, "--output", "json"], d.value);
  }
}

/** Deletes a secret (tests of a missing secret; removing a scratch host). */
export async function deleteSecret(name: string): Promise<void> {
  await awsCli(["secretsmanager", "delete-secret", "--secret-id", name, "--force-delete-without-recovery", "--output", "json"]);
}

/** Uploads one object (bytes through stdin). */
export async function putObject(bucket: string, key: string, body: Buffer | string): Promise<void> {
  await awsCli(["s3", "cp", "--only-show-errors", "-", `s3://${bucket}/${key}`], body);
}

export async function listObjects(bucket: string, prefix: string): Promise<string[]> {
  const out = await awsCli(["s3api", "list-objects-v2", "--bucket", bucket, "--prefix", prefix, "--output", "json"]);
  return ((JSON.parse(out || "{}").Contents ?? []) as { Key: string }[]).map((o) => o.Key);
}

export async function getObject(bucket: string, key: string): Promise<Buffer> {
  const r = await hostExec(AWS_HOST, ["bash", "-c", 'set -a; . /etc/pgha/aws.env; set +a; exec aws s3 cp --only-show-errors "$1" - | base64 -w0', "get", `s3://${bucket}/${key}`]);
  if (r.code !== 0) throw new Error(`cannot read s3://${bucket}/${key}: ${r.stderr.trim()}`);
  return Buffer.from(r.stdout, "base64");
}

/**
 * What `pulumi up` uploads (components/bundles.ts), the sandbox way: the node software, each
 * node's bundle and, last, each node's desired pointer (a node never points at a missing bundle).
 */
export async function publishBundles(spec: ClusterSpec, bundles: NodeBundle[]): Promise<void> {
  const prefix = bundlePrefix(spec.clusterName);
  const bucket = spec.backup.bucketName;
  const software = nodeSoftware();
  const have = new Set(await listObjects(bucket, prefix));
  const softwareKey = bundleKeys.software(prefix, software.sha256);
  if (!have.has(softwareKey)) await putObject(bucket, softwareKey, software.tar);
  for (const b of bundles) {
    const key = bundleKeys.bundle(prefix, b.node, b.hash);
    if (!have.has(key)) await putObject(bucket, key, b.archive);
  }
  for (const b of bundles) await putObject(bucket, bundleKeys.desired(prefix, b.node), desiredPointer(b.hash, software.sha256));
}
