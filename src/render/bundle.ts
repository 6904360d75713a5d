// render(spec, node, layout) → NodeBundle: every file a node gets, and the cloud-init user-data
// that delivers them. Pure: no Pulumi, no I/O beyond reading templates.
import { createHash } from "crypto";
import { gzipSync } from "zlib";
import YAML from "yaml";
import { DB_USERS, POSTGRES_MAJOR, PORTS, nodeByName, nodesOf, type ClusterSpec, type NodeSpec } from "../spec";
import { TLS_DIR, type Layout } from "../layout";
import { renderTemplate } from "./templates";
import { dynamicConfig, renderPgHba } from "./dynamic";
import { imagePackages } from "./packages";
import { architectureOf } from "../config/defaults";

export interface BundleFile {
  path: string;
  /** Octal mode, e.g. "0644". */
  mode: string;
  owner: string;
  content: string;
}

export interface NodeBundle {
  node: string;
  role: NodeSpec["role"];
  files: BundleFile[];
  /** The one idempotent setup script (also among files). */
  setupScript: string;
  /** #cloud-config text that writes the files and runs the setup script. */
  cloudConfig: string;
  /** The cloud-config gzip-compressed (EC2 user-data must stay under 16 KiB). */
  userDataGzip: Buffer;
}

/** Paths on a node — the same on EC2 and in the sandbox. */
export const NODE_PATHS = {
  dataMount: "/var/lib/postgresql",
  dataDir: `/var/lib/postgresql/${POSTGRES_MAJOR}/pgha`,
  binDir: `/usr/lib/postgresql/${POSTGRES_MAJOR}/bin`,
  socketDir: "/var/run/postgresql",
  pgpass: "/var/lib/postgresql/.pgpass_patroni",
  patroniConfig: "/etc/patroni/config.yml",
  dynamicFile: "/etc/patroni/dynamic.json",
  baseConf: "/etc/patroni/postgresql.base.conf",
  pgHbaReference: "/etc/patroni/pg_hba.conf",
  patroniSecretsEnv: "/etc/patroni/secrets.env",
  pgbackrestConf: "/etc/pgbackrest/pgbackrest.conf",
  pgbackrestSecrets: "/etc/pgbackrest/conf.d/secrets.conf",
  etcdConfig: "/etc/etcd/pgha-etcd.yml",
  etcdDataDir: "/var/lib/etcd/pgha",
  haproxyConfig: "/etc/haproxy/pgha.cfg",
  nodeEnv: "/etc/pgha/node.env",
  extraHosts: "/etc/pgha/hosts",
  setup: "/usr/local/sbin/pgha-setup",
  secretsScript: "/usr/local/sbin/pgha-secrets",
  backupScript: "/usr/local/sbin/pgha-backup",
  restoreScript: "/usr/local/sbin/pgha-restore",
  dynamicScript: "/usr/local/sbin/pgha-dynamic",
  patronictl: "/usr/local/bin/pgha-patronictl",
  cron: "/etc/cron.d/pgha-backup",
} as const;

export const REST_API_USER = "patroni";

function file(path: string, content: string, mode = "0644"): BundleFile {
  return { path, mode, owner: "root:root", content: content.endsWith("\n") ? content : content + "\n" };
}

/**
 * A node script as it travels: without its explanatory comment lines. EC2 takes at most 16 KiB of
 * (gzipped) user-data and the comments were a fifth of it, leaving a prod node ~300 bytes of
 * room for the user's own parameters. Kept: the shebang, the leading header block (the usage
 * text the scripts print), shellcheck directives and every line of code; the commented source
 * is the template in this repository.
 */
export function compactScript(content: string, template: string): string {
  const lines = content.split("\n");
  const out: string[] = [];
  let header = true;
  for (const [i, line] of lines.entries()) {
    const comment = /^\s*#/.test(line);
    if (i > 0 && !comment) header = false;
    if (i === 0 || header || !comment || /^\s*# shellcheck /.test(line)) out.push(line);
  }
  while (out.length && out[out.length - 1] === "") out.pop();
  return `${out.join("\n")}\n# (comments stripped to fit EC2 user-data; the commented source is templates/${template}.mustache)\n`;
}

function script(path: string, template: string, view: object): BundleFile {
  return file(path, compactScript(renderTemplate(template, view), template), "0755");
}

function indent(text: string, spaces: number): string {
  const pad = " ".repeat(spaces);
  return text
    .trimEnd()
    .split("\n")
    .map((l) => (l.length ? pad + l : l))
    .join("\n");
}

/** Everything a template may use about the node and cluster. */
function commonView(spec: ClusterSpec, node: NodeSpec, layout: Layout) {
  const tls = spec.tls.enabled;
  const scheme = tls ? "https" : "http";
  const address = layout.addresses[node.name];
  const secrets = layout.secrets;
  return {
    node: node.name,
    role: node.role,
    stack: spec.stack,
    scope: spec.scope,
    namespace: spec.namespace,
    address,
    ports: PORTS,
    users: DB_USERS,
    restApiUser: REST_API_USER,
    tls,
    tlsEnabled: tls ? "true" : "false",
    tlsDir: TLS_DIR,
    scheme,
    stanza: spec.backup.stanza,
    bucket: spec.backup.bucketName,
    logicalPrefix: spec.backup.logicalPrefix,
    dataDir: node.role === "etcd" ? NODE_PATHS.etcdDataDir : NODE_PATHS.dataDir,
    binDir: NODE_PATHS.binDir,
    socketDir: NODE_PATHS.socketDir,
    dynamicFile: NODE_PATHS.dynamicFile,
    pgMajor: POSTGRES_MAJOR,
    pgPort: PORTS.postgres,
    etcdDataDir: NODE_PATHS.etcdDataDir,
    layoutKind: layout.kind,
    secretSourceKind: secrets.kind,
    secretSourceName: secrets.kind === "secrets-manager" ? "AWS Secrets Manager" : `files in ${secrets.dir}`,
    secretSourceDescription:
      secrets.kind === "secrets-manager"
        ? `AWS Secrets Manager in ${secrets.region}, read with the instance role`
        : `JSON files in ${secrets.dir}, bind-mounted read-only by the sandbox`,
    secretRegion: secrets.kind === "secrets-manager" ? secrets.region : "",
    secretDir: secrets.kind === "files" ? secrets.dir : "",
    clusterSecret: node.role === "postgres" ? spec.names.clusterSecret : "",
    nodeSecret: spec.names.nodeSecret[node.name],
    dataDevice: node.role === "postgres" && layout.dataVolume.kind === "ebs" ? layout.dataVolume.deviceName : "",
    dataMount: NODE_PATHS.dataMount,
    restUrl: `${scheme}://${address}:${PORTS.patroniRestApi}`,
    ssmAgentUrl: layout.ssmAgentUrl ? layout.ssmAgentUrl.replace("{arch}", architectureOf(node.instanceType) === "arm64" ? "arm64" : "amd64") : "",
    s3: layout.s3,
    s3EndpointUrl: layout.s3.credentials === "secret" || layout.s3.caFile ? `https://${layout.s3.endpoint}:${layout.s3.port}` : "",
    s3CaFile: layout.s3.caFile ?? "",
    kmsKeyId: layout.s3.sseKms ? spec.names.kmsAlias : "",
    fullRetentionDays: spec.backup.fullRetentionDays,
    archiveTimeoutSeconds: spec.backup.archiveTimeoutSeconds,
    curlTls: tls ? `--cacert ${TLS_DIR}/ca.crt --cert ${TLS_DIR}/node.crt --key ${TLS_DIR}/node.key` : "",
    logicalRetentionWeeks: spec.backup.logicalRetentionWeeks,
  };
}

/** What every host gets: its facts, the setup script, and the secret fetch/rotation units. */
function commonFiles(view: object): BundleFile[] {
  return [
    file(NODE_PATHS.nodeEnv, renderTemplate("node.env", view)),
    script(NODE_PATHS.setup, "pgha-setup.sh", view),
    script(NODE_PATHS.secretsScript, "pgha-secrets.sh", view),
    file("/etc/systemd/system/pgha-secrets.service", renderTemplate("systemd/pgha-secrets.service", view)),
    file("/etc/systemd/system/pgha-secrets-rotate.service", renderTemplate("systemd/pgha-secrets-rotate.service", view)),
    file("/etc/systemd/system/pgha-secrets-rotate.timer", renderTemplate("systemd/pgha-secrets-rotate.timer", view)),
  ];
}

function baseConfFile(spec: ClusterSpec, view: object): BundleFile {
  return file(NODE_PATHS.baseConf, renderTemplate("postgresql.base.conf", { ...view, ssl: spec.tls.enabled ? "on" : "off" }));
}

/** pgbackrest.conf: the S3 repository; its secrets go to conf.d/secrets.conf at boot. */
function pgbackrestFile(spec: ClusterSpec, layout: Layout, view: object, archivePushQueueMax: string): BundleFile {
  return file(
    NODE_PATHS.pgbackrestConf,
    renderTemplate("pgbackrest.conf", {
      ...view,
      repoPath: spec.backup.repoPath,
      s3KeyType: layout.s3.credentials === "instance-role" ? "auto" : "shared",
      cipher: spec.backup.repoEncryption,
      secretNames: [
        ...(spec.backup.repoEncryption ? ["repo1-cipher-pass"] : []),
        ...(layout.s3.credentials === "secret" ? ["repo1-s3-key", "repo1-s3-key-secret"] : []),
      ].join(", "),
      secretsConf: NODE_PATHS.pgbackrestSecrets,
      archivePushQueueMax,
    }),
  );
}

function postgresFiles(spec: ClusterSpec, node: NodeSpec, layout: Layout): BundleFile[] {
  const view = commonView(spec, node, layout);
  const dynamic = dynamicConfig(spec, layout);
  const etcdHosts = nodesOf(spec, "etcd")
    .map((n) => `${layout.addresses[n.name]}:${PORTS.etcdClient}`)
    .join(",");
  const patroni = renderTemplate("patroni.yml", {
    ...view,
    etcdHosts,
    secretsEnv: NODE_PATHS.patroniSecretsEnv,
    pgpassFile: NODE_PATHS.pgpass,
    baseConfFile: NODE_PATHS.baseConf,
    dcsYaml: indent(YAML.stringify(dynamic, { lineWidth: 0, version: "1.1" }), 4),
    postBootstrap: `${NODE_PATHS.backupScript} post-bootstrap`,
    tags: {
      nofailover: String(node.tags.nofailover ?? false),
      noloadbalance: String(node.tags.noloadbalance ?? false),
      clonefrom: String(node.tags.clonefrom ?? false),
      nosync: String(node.tags.nosync ?? false),
      replicatefrom: node.tags.replicatefrom,
    },
  });
  const jobs = [
    { schedule: spec.backup.fullSchedule, kind: "full" },
    spec.backup.diffSchedule && { schedule: spec.backup.diffSchedule, kind: "diff" },
    spec.backup.incrSchedule && { schedule: spec.backup.incrSchedule, kind: "incr" },
    spec.backup.logicalSchedule && { schedule: spec.backup.logicalSchedule, kind: "logical" },
    spec.backup.restoreDrillSchedule && { schedule: spec.backup.restoreDrillSchedule, kind: "drill" },
  ].filter(Boolean);
  // WAL may queue locally while S3 is unreachable; cap it at a quarter of the data volume so
  // an S3 outage can never fill the disk and stop the primary.
  const queueMaxGiB = Math.max(1, Math.floor(spec.postgres.dataVolume.sizeGiB / 4));
  return [
    file(NODE_PATHS.patroniConfig, patroni, "0644"),
    file(NODE_PATHS.dynamicFile, JSON.stringify(dynamic, null, 2)),
    file(NODE_PATHS.pgHbaReference, renderPgHba(spec, layout)),
    pgbackrestFile(spec, layout, view, `${queueMaxGiB}GiB`),
    baseConfFile(spec, view),
    file(NODE_PATHS.cron, renderTemplate("pgha-backup.cron", { ...view, jobs })),
    script(NODE_PATHS.backupScript, "pgha-backup.sh", view),
    script(NODE_PATHS.restoreScript, "pgha-restore.sh", view),
    script(NODE_PATHS.dynamicScript, "pgha-dynamic.sh", view),
    script(NODE_PATHS.patronictl, "pgha-patronictl.sh", view),
    file("/etc/systemd/system/patroni.service.d/pgha.conf", renderTemplate("systemd/patroni.conf", view)),
  ];
}

function etcdFiles(spec: ClusterSpec, node: NodeSpec, layout: Layout): BundleFile[] {
  const view = commonView(spec, node, layout);
  const initialCluster = nodesOf(spec, "etcd")
    .map((n) => `${n.name}=${view.scheme}://${layout.addresses[n.name]}:${PORTS.etcdPeer}`)
    .join(",");
  return [
    file(NODE_PATHS.etcdConfig, renderTemplate("etcd.yml", { ...view, initialCluster, initialClusterToken: spec.etcd.initialClusterToken })),
    file("/etc/systemd/system/etcd.service.d/pgha.conf", renderTemplate("systemd/etcd.conf", view)),
  ];
}

function haproxyFiles(spec: ClusterSpec, node: NodeSpec, layout: Layout): BundleFile[] {
  const view = commonView(spec, node, layout);
  const members = nodesOf(spec, "postgres").map((n) => ({
    name: n.name,
    address: layout.addresses[n.name],
    pgPort: PORTS.postgres,
    restPort: PORTS.patroniRestApi,
    checkTls: spec.tls.enabled
      ? ` check-ssl verify required ca-file ${TLS_DIR}/ca.crt crt ${TLS_DIR}/node.pem verifyhost ${n.name}`
      : "",
  }));
  const h = spec.haproxy;
  return [
    file(
      NODE_PATHS.haproxyConfig,
      renderTemplate("haproxy.cfg", {
        ...view,
        members,
        checkIntervalMs: h.checkIntervalMs,
        fastInterMs: Math.max(200, Math.floor(h.checkIntervalMs / 2)),
        fall: h.fall,
        rise: h.rise,
      }),
    ),
    file("/etc/systemd/system/haproxy.service.d/pgha.conf", renderTemplate("systemd/haproxy.conf", view)),
  ];
}

/** The files of one node, sorted by path. */
export function renderNodeFiles(spec: ClusterSpec, nodeName: string, layout: Layout): BundleFile[] {
  const node = nodeByName(spec, nodeName);
  const view = commonView(spec, node, layout);
  const files: BundleFile[] = commonFiles(view);
  if (layout.extraHosts.length) {
    files.push(file(NODE_PATHS.extraHosts, layout.extraHosts.map((h) => `${h.address} ${h.name}`).join("\n")));
  }
  if (node.role === "postgres") files.push(...postgresFiles(spec, node, layout));
  if (node.role === "etcd") files.push(...etcdFiles(spec, node, layout));
  if (node.role === "haproxy") files.push(...haproxyFiles(spec, node, layout));
  return files.sort((a, b) => a.path.localeCompare(b.path));
}

/** cloud-config that writes the bundle and runs the setup script (the node's user-data). */
export function renderCloudConfig(spec: ClusterSpec, node: NodeSpec, layout: Layout, files: BundleFile[]): string {
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
    doc.packages = imagePackages();
  }
  doc.write_files = files.map((f) => ({ path: f.path, owner: f.owner, permissions: f.mode, content: f.content }));
  doc.runcmd = [[NODE_PATHS.setup]];
  return `#cloud-config\n# postgres-ha ${spec.stack}/${spec.clusterName} node ${node.name} (${node.role}); layout ${layout.kind}.\n${YAML.stringify(doc, { lineWidth: 0, version: "1.1" })}`;
}

export function renderBundle(spec: ClusterSpec, nodeName: string, layout: Layout): NodeBundle {
  const node = nodeByName(spec, nodeName);
  const files = renderNodeFiles(spec, nodeName, layout);
  const cloudConfig = renderCloudConfig(spec, node, layout, files);
  return {
    node: node.name,
    role: node.role,
    files,
    setupScript: NODE_PATHS.setup,
    cloudConfig,
    // mtime 0 and no file name in the header: the same config always gives the same bytes.
    userDataGzip: gzipSync(Buffer.from(cloudConfig), { level: 9 }),
  };
}

export function renderAll(spec: ClusterSpec, layout: Layout): NodeBundle[] {
  return spec.nodes.map((n) => renderBundle(spec, n.name, layout));
}

export function sha256(text: string | Buffer): string {
  return createHash("sha256").update(text).digest("hex");
}

/**
 * A scratch restore host: restores run beside the live cluster without touching it (the
 * sandbox's `restore --new-cluster`; on AWS the same bundle on a temporary instance). It gets
 * the repository configuration, the node scripts and the cluster secret — no Patroni.
 */
export function renderRestoreHostBundle(spec: ClusterSpec, layout: Layout, name: string, address: string): NodeBundle {
  const node: NodeSpec = { name, role: "postgres", index: 0, subnetIndex: 0, privateIp: address, instanceType: spec.postgres.instanceType, tags: {} };
  const hostLayout: Layout = { ...layout, addresses: { ...layout.addresses, [name]: address } };
  const view = {
    ...commonView(spec, node, hostLayout),
    role: "restore",
    nodeSecret: spec.names.clusterSecret.replace(/cluster$/, `node/${name}`),
  };
  const files: BundleFile[] = [
    ...commonFiles(view),
    script(NODE_PATHS.restoreScript, "pgha-restore.sh", view),
    // The restored postgresql.conf (written by Patroni) includes the base configuration.
    baseConfFile(spec, view),
    pgbackrestFile(spec, layout, view, "1GiB"),
  ];
  if (hostLayout.extraHosts.length) files.push(file(NODE_PATHS.extraHosts, hostLayout.extraHosts.map((h) => `${h.address} ${h.name}`).join("\n")));
  files.sort((a, b) => a.path.localeCompare(b.path));
  const cloudConfig = renderCloudConfig(spec, node, hostLayout, files);
  return { node: name, role: "postgres", files, setupScript: NODE_PATHS.setup, cloudConfig, userDataGzip: gzipSync(Buffer.from(cloudConfig), { level: 9 }) };
}
