// Secrets and certificates of a sandbox cluster, kept on the machine under <stateDir>/material
// (0700) and published to the sandbox's Secrets Manager (moto, src/sandbox/aws.ts) under the
// same names and in the same shapes as on AWS (src/secrets.ts, src/tls/profile.ts). Also the
// sandbox's stand-in for the instance role: static credentials, an awscli config and the CA of
// the local AWS endpoints, bind-mounted read-only into every host at /run/pgha-aws.
import * as fs from "fs";
import * as path from "path";
import { randomInt } from "crypto";
import { PORTS, type ClusterSpec } from "../spec";
import { loginRoles, roleDatabase } from "../access/declaration";
import { SANDBOX_NETWORK, type Layout } from "../layout";
import { caCommonName, CA_VALIDITY_DAYS, nodeCertificateProfiles, type CertificateProfile } from "../tls/profile";
import { createCertificateAuthority, issueCertificate, type CertificateAuthority, type IssuedCertificate } from "../tls/local-ca";
import { PASSWORD_ALPHABET, PASSWORD_LENGTH, STATS_USER, type ClusterSecret, type NodeSecret, type RoleSecret } from "../secrets";

/** s3rver's fixed credentials (not a secret: the endpoint exists only on the sandbox bridge). */
export const SANDBOX_S3_KEYS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };

export interface SandboxMaterial {
  dir: string;
  ca: CertificateAuthority;
  cluster: ClusterSecret;
  statsPassword: string;
  /** Declared login roles (postgres.roles): the password and the passwordVersion it was generated for. */
  roles: Record<string, RolePassword>;
  /** Secrets of login roles the config no longer declares (to delete, as `pulumi up` does). */
  retiredRoleSecrets: string[];
  nodes: Record<string, IssuedCertificate>;
  s3: IssuedCertificate;
  aws: IssuedCertificate;
  operator: IssuedCertificate;
}

export interface RolePassword {
  password: string;
  version: number;
}

export function generatePassword(length = PASSWORD_LENGTH): string {
  let s = "";
  for (let i = 0; i < length; i++) s += PASSWORD_ALPHABET[randomInt(PASSWORD_ALPHABET.length)];
  return s;
}

function writePrivate(file: string, content: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.writeFileSync(file + ".tmp", content, { mode: 0o600 });
  fs.renameSync(file + ".tmp", file);
}

function readJson<T>(file: string): T | undefined {
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, "utf8")) as T) : undefined;
}

export function materialDir(stateDir: string): string {
  return path.join(stateDir, "material");
}

/** Directory bind-mounted read-only at /run/pgha-aws in every host (no secret of the cluster in it). */
export function awsAccessDir(stateDir: string): string {
  return path.join(materialDir(stateDir), "aws");
}

/** The AWS API host's TLS certificate and key (bound into that host only). */
export function awsHostTlsDir(stateDir: string): string {
  return path.join(materialDir(stateDir), "aws-host");
}

export const OPERATOR_FILES = (stateDir: string) => ({
  caFile: path.join(materialDir(stateDir), "ca.crt"),
  certFile: path.join(materialDir(stateDir), "operator.crt"),
  keyFile: path.join(materialDir(stateDir), "operator.key"),
});

function sameNames(cert: { profile?: CertificateProfile }, profile: CertificateProfile): boolean {
  return JSON.stringify(cert.profile) === JSON.stringify(profile);
}

/**
 * Creates what is missing (CA, passwords, certificates) and keeps what exists, so a restarted
 * sandbox keeps its identity; then writes every host's secret files.
 */
export async function ensureMaterial(spec: ClusterSpec, layout: Layout, stateDir: string): Promise<SandboxMaterial> {
  const dir = materialDir(stateDir);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  const store = path.join(dir, "material.json");
  type Stored = {
    ca: CertificateAuthority;
    cluster: ClusterSecret;
    statsPassword: string;
    roles?: Record<string, RolePassword>;
    nodes: Record<string, IssuedCertificate & { profile?: CertificateProfile }>;
    s3: IssuedCertificate & { profile?: CertificateProfile };
    aws?: IssuedCertificate & { profile?: CertificateProfile };
    operator: IssuedCertificate & { profile?: CertificateProfile };
  };
  const existing = readJson<Stored>(store);
  const ca = existing?.ca ?? (await createCertificateAuthority(caCommonName(spec), CA_VALIDITY_DAYS));
  // The cluster's own passwords are kept until postgres.credentialsVersion changes (rotation), as
  // the RandomPassword keepers do on AWS.
  const rotated = existing?.cluster && (existing.cluster.credentialsVersion ?? 1) !== spec.postgres.credentialsVersion;
  const cluster: ClusterSecret = existing?.cluster && !rotated
    ? existing.cluster
    : {
        ...existing?.cluster,
        superuserPassword: generatePassword(),
        replicationPassword: generatePassword(),
        rewindPassword: generatePassword(),
        restApiPassword: generatePassword(),
      };
  cluster.credentialsVersion = spec.postgres.credentialsVersion;
  if (spec.backup.repoEncryption && !cluster.repoCipherPass) cluster.repoCipherPass = generatePassword(64);
  if (!spec.backup.repoEncryption) delete cluster.repoCipherPass;
  cluster.s3AccessKeyId = SANDBOX_S3_KEYS.accessKeyId;
  cluster.s3SecretAccessKey = SANDBOX_S3_KEYS.secretAccessKey;
  const statsPassword = existing?.statsPassword ?? generatePassword();
  // A login role keeps its password until its passwordVersion changes (rotation), as the
  // RandomPassword keeper does on AWS.
  const roles: Record<string, RolePassword> = {};
  for (const r of loginRoles(spec.access)) {
    const have = existing?.roles?.[r.name];
    roles[r.name] = have && have.version === r.passwordVersion ? have : { password: generatePassword(), version: r.passwordVersion };
  }
  const retiredRoleSecrets = Object.keys(existing?.roles ?? {}).filter((r) => !roles[r]).map((r) => spec.names.clusterSecret.replace(/cluster$/, `role/${r}`));

  const nodes: Stored["nodes"] = {};
  for (const profile of nodeCertificateProfiles(spec, layout)) {
    const have = existing?.nodes?.[profile.name];
    nodes[profile.name] = have && sameNames(have, profile) ? have : { ...(await issueCertificate(ca, profile)), profile };
  }
  const s3Profile: CertificateProfile = {
    name: "s3",
    commonName: SANDBOX_NETWORK.s3Host,
    // Both regions' endpoints serve this one certificate.
    dnsNames: [SANDBOX_NETWORK.s3Host, SANDBOX_NETWORK.s3SecondHost],
    ipAddresses: [SANDBOX_NETWORK.s3Address, SANDBOX_NETWORK.s3SecondAddress],
    extendedKeyUsages: ["serverAuth"],
    validityDays: spec.tls.certValidityDays,
  };
  const s3 = existing?.s3 && sameNames(existing.s3, s3Profile) ? existing.s3 : { ...(await issueCertificate(ca, s3Profile)), profile: s3Profile };
  const awsProfile: CertificateProfile = {
    name: "aws",
    commonName: SANDBOX_NETWORK.awsHost,
    dnsNames: [SANDBOX_NETWORK.awsHost],
    ipAddresses: [SANDBOX_NETWORK.awsAddress],
    extendedKeyUsages: ["serverAuth"],
    validityDays: spec.tls.certValidityDays,
  };
  const aws = existing?.aws && sameNames(existing.aws, awsProfile) ? existing.aws : { ...(await issueCertificate(ca, awsProfile)), profile: awsProfile };
  const operatorProfile: CertificateProfile = {
    name: "operator",
    commonName: "pgha-operator",
    dnsNames: ["pgha-operator"],
    ipAddresses: [SANDBOX_NETWORK.machineAddress],
    extendedKeyUsages: ["clientAuth"],
    validityDays: spec.tls.certValidityDays,
  };
  const operator = existing?.operator && sameNames(existing.operator, operatorProfile) ? existing.operator : { ...(await issueCertificate(ca, operatorProfile)), profile: operatorProfile };

  const stored: Stored = { ca, cluster, statsPassword, roles, nodes, s3, aws, operator };
  writePrivate(store, JSON.stringify(stored, null, 2));
  const material: SandboxMaterial = { dir, ca, cluster, statsPassword, roles, retiredRoleSecrets, nodes, s3, aws, operator };
  writeAwsAccess(stateDir, material);
  const files = OPERATOR_FILES(stateDir);
  fs.writeFileSync(files.caFile, ca.certPem, { mode: 0o644 });
  writePrivate(files.certFile, operator.certPem);
  writePrivate(files.keyFile, operator.keyPem);
  writePrivate(path.join(dir, "s3.crt"), s3.certPem);
  writePrivate(path.join(dir, "s3.key"), s3.keyPem);
  return material;
}

/**
 * The sandbox's instance role: fixed credentials of the local AWS APIs (s3rver and moto accept
 * them; they exist only on the sandbox bridge), an awscli config (path-style S3 addressing, as
 * s3rver serves it) and the CA that signed the endpoints' certificates.
 */
function writeAwsAccess(stateDir: string, m: SandboxMaterial): void {
  const dir = awsAccessDir(stateDir);
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  fs.chmodSync(dir, 0o755);
  fs.writeFileSync(
    path.join(dir, "credentials"),
    `[default]\naws_access_key_id = ${SANDBOX_S3_KEYS.accessKeyId}\naws_secret_access_key = ${SANDBOX_S3_KEYS.secretAccessKey}\n`,
    { mode: 0o644 },
  );
  fs.writeFileSync(path.join(dir, "config"), "[default]\ns3 =\n  addressing_style = path\n", { mode: 0o644 });
  fs.writeFileSync(path.join(dir, "ca.pem"), m.ca.certPem, { mode: 0o644 });
  const tls = awsHostTlsDir(stateDir);
  writePrivate(path.join(tls, "aws.crt"), m.aws.certPem);
  writePrivate(path.join(tls, "aws.key"), m.aws.keyPem);
}

export interface SecretDocument {
  /** The secret's name (the same as on AWS: spec.names.*). */
  name: string;
  /** Its SecretString (JSON). */
  value: string;
}

/** What Secrets Manager holds for the cluster: the cluster secret and one secret per node. */
export function secretDocuments(spec: ClusterSpec, m: SandboxMaterial): SecretDocument[] {
  const docs: SecretDocument[] = [{ name: spec.names.clusterSecret, value: JSON.stringify(m.cluster) }];
  for (const n of spec.nodes) {
    const nodeSecret: NodeSecret = { caCert: m.ca.certPem, nodeCert: m.nodes[n.name].certPem, nodeKey: m.nodes[n.name].keyPem };
    if (n.role === "haproxy") Object.assign(nodeSecret, { statsUser: STATS_USER, statsPassword: m.statsPassword });
    docs.push({ name: spec.names.nodeSecret[n.name], value: JSON.stringify(nodeSecret) });
  }
  for (const r of loginRoles(spec.access)) {
    const dbname = roleDatabase(spec.access, r);
    const value: RoleSecret = { engine: "postgres", username: r.name, password: m.roles[r.name].password, host: spec.serviceNames.readWrite, port: PORTS.readWrite, ...(dbname ? { dbname } : {}), passwordVersion: r.passwordVersion };
    docs.push({ name: r.secret, value: JSON.stringify(value) });
  }
  return docs;
}

/**
 * Re-issues one node's certificate (rotation) and returns the node's new secret document, to
 * publish (src/sandbox/aws.ts); the host picks it up with `pgha-secrets rotate`.
 */
export async function reissueNodeCertificate(spec: ClusterSpec, layout: Layout, stateDir: string, node: string, validityDays?: number): Promise<{ certificate: IssuedCertificate; secret: SecretDocument }> {
  const store = path.join(materialDir(stateDir), "material.json");
  const stored = readJson<any>(store);
  if (!stored) throw new Error("the sandbox has no certificate material yet: run `pgha sandbox up` first");
  const declared = nodeCertificateProfiles(spec, layout).find((p) => p.name === node);
  if (!declared) throw new Error(`no node ${node} in stack ${spec.stack}`);
  const profile = validityDays === undefined ? declared : { ...declared, validityDays };
  const issued = { ...(await issueCertificate(stored.ca, profile)), profile };
  stored.nodes[node] = issued;
  writePrivate(store, JSON.stringify(stored, null, 2));
  const secret = secretDocuments(spec, { ...stored, dir: materialDir(stateDir) }).find((d) => d.name === spec.names.nodeSecret[node])!;
  return { certificate: issued, secret };
}

/** Every generated secret value (for the secrets audit). */
export function generatedSecretValues(m: SandboxMaterial): string[] {
  return [
    m.cluster.superuserPassword,
    m.cluster.replicationPassword,
    m.cluster.rewindPassword,
    m.cluster.restApiPassword,
    m.statsPassword,
    ...Object.values(m.roles).map((r) => r.password),
    ...(m.cluster.repoCipherPass ? [m.cluster.repoCipherPass] : []),
    m.ca.keyPem,
    ...Object.values(m.nodes).map((c) => c.keyPem),
  ];
}

/** The secret of a scratch restore host (new-cluster restores): its own certificate (it also reads the cluster secret). */
export async function ensureRestoreHostSecrets(spec: ClusterSpec, stateDir: string, name: string, address: string): Promise<SecretDocument> {
  const store = path.join(materialDir(stateDir), "material.json");
  const stored = readJson<any>(store);
  if (!stored) throw new Error("the sandbox has no certificate material yet: run `pgha sandbox up` first");
  const profile: CertificateProfile = {
    name,
    commonName: name,
    dnsNames: [name, "localhost"],
    ipAddresses: [address, "127.0.0.1"],
    extendedKeyUsages: ["serverAuth", "clientAuth"],
    validityDays: spec.tls.certValidityDays,
  };
  stored.extraHosts ??= {};
  if (!stored.extraHosts[name] || !sameNames(stored.extraHosts[name], profile)) {
    stored.extraHosts[name] = { ...(await issueCertificate(stored.ca, profile)), profile };
    writePrivate(store, JSON.stringify(stored, null, 2));
  }
  const cert = stored.extraHosts[name];
  return {
    name: spec.names.clusterSecret.replace(/cluster$/, `node/${name}`),
    value: JSON.stringify({ caCert: stored.ca.certPem, nodeCert: cert.certPem, nodeKey: cert.keyPem } satisfies NodeSecret),
  };
}
