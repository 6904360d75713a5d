// Node bundles: the node's user-data — the small cloud-config bootstrap that fetches its bundle —
// and the environment files it carries (how the node reaches AWS, where its bundles live).
import YAML from "yaml";
import type { ClusterSpec } from "../../spec";
import { NODE_PATHS } from "../../node-paths";
import type { Layout } from "../../layout";
import { imagePackages } from "../packages";
import { nodeSoftwareFile } from "../software";
import { bundlePrefix } from "../../bundle/format";

/** KEY=value lines a shell sources (values with anything but plain characters single-quoted). */
function envFile(entries: [string, string | undefined][]): string {
  const quote = (v: string) => (/^[\w@%+=:,./-]*$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`);
  return entries.filter(([, v]) => v !== undefined && v !== "").map(([k, v]) => `${k}=${quote(v!)}`).join("\n") + "\n";
}

/** /etc/pgha/aws.env: how awscli on the node reaches AWS (region; sandbox endpoints, CA, keys). */
export function renderAwsEnv(layout: Layout): string {
  const a = layout.aws;
  return envFile([
    ["AWS_REGION", a.region],
    ["AWS_DEFAULT_REGION", a.region],
    ["AWS_ENDPOINT_URL_S3", a.endpoints.s3],
    ["AWS_ENDPOINT_URL_SECRETS_MANAGER", a.endpoints.secretsManager],
    ["AWS_ENDPOINT_URL_SNS", a.endpoints.sns],
    ["AWS_ENDPOINT_URL_STS", a.endpoints.sts],
    ["AWS_ENDPOINT_URL_CLOUDWATCH", a.endpoints.cloudwatch],
    ["AWS_CA_BUNDLE", a.caBundle],
    ["AWS_SHARED_CREDENTIALS_FILE", a.credentialsFile],
    ["AWS_CONFIG_FILE", a.configFile],
    ["AWS_REQUEST_CHECKSUM_CALCULATION", a.requestChecksums],
    ["AWS_RESPONSE_CHECKSUM_VALIDATION", a.requestChecksums],
  ]);
}

/** The S3 location of a cluster's bundles, as the node's tools address it. */
export function bundlesUri(spec: ClusterSpec): string {
  return `s3://${spec.backup.bucketName}/${bundlePrefix(spec.clusterName).replace(/\/$/, "")}`;
}

/**
 * The node's user-data: a bootstrap of a few KiB, the same shape on every node. It names the
 * node and where its bundles live; pgha-bootstrap (node software, copied here verbatim) fetches
 * the desired bundle with the instance role, verifies its sha256 and installs it.
 */
export function renderCloudConfig(spec: ClusterSpec, node: { name: string; role: string }, layout: Layout): string {
  const doc: Record<string, unknown> = {
    hostname: node.name,
    fqdn: `${node.name}.${spec.clusterName}.${spec.network.domain}`,
    prefer_fqdn_over_hostname: false,
    // Access is SSM Session Manager; no password logins, no root logins.
    ssh_pwauth: false,
    disable_root: true,
    timezone: "UTC",
  };
  if (layout.installPackages) {
    doc.package_update = true;
    doc.packages = imagePackages(node.role);
  }
  const bootstrapEnv = envFile([
    ["PGHA_NODE", node.name],
    ["PGHA_CLUSTER", spec.scope],
    ["PGHA_STACK", spec.stack],
    ["PGHA_BUNDLES_URI", bundlesUri(spec)],
    ["PGHA_BOOTSTRAP_HOSTS", layout.aws.hosts.map((h) => `${h.address} ${h.name}`).join(";")],
  ]);
  doc.write_files = [
    { path: NODE_PATHS.bootstrapEnv, owner: "root:root", permissions: "0644", content: bootstrapEnv },
    { path: NODE_PATHS.awsEnv, owner: "root:root", permissions: "0644", content: renderAwsEnv(layout) },
    { path: NODE_PATHS.bootstrap, owner: "root:root", permissions: "0755", content: nodeSoftwareFile(NODE_PATHS.bootstrap) },
  ];
  // Packages install after write_files: postgresql-common then creates no "main" cluster
  // (Patroni makes its own; the sandbox image is built the same way, sandbox/build-image.sh).
  if (layout.installPackages && (node.role === "postgres" || node.role === "restore")) {
    (doc.write_files as object[]).push({ path: "/etc/postgresql-common/createcluster.d/pgha.conf", owner: "root:root", permissions: "0644", content: "create_main_cluster = false\n" });
  }
  doc.runcmd = [[NODE_PATHS.bootstrap]];
  return `#cloud-config\n# postgres-ha ${spec.stack}/${spec.clusterName} node ${node.name} (${node.role}); layout ${layout.kind}: bootstrap only, the node's files come from its bundle.\n${YAML.stringify(doc, { lineWidth: 0, version: "1.1" })}`;
}
