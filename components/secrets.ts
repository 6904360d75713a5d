// Secrets: the cluster's KMS key, generated passwords, a private CA with one certificate per node,
// and the Secrets Manager secrets the nodes read at boot with their instance roles. No value
// created here ever reaches user-data, a rendered file or a plain stack output. A standby
// cluster (postgres-ha:standby) creates no cluster secret: it reads its primary's, replicated
// to its region.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as tls from "@pulumi/tls";
import { PASSWORD_LENGTH, STATS_USER, type ClusterSecret, type NodeSecret, type RoleSecret } from "../src/secrets";
import type { Role } from "../src/spec";
import { CA_VALIDITY_DAYS, type CertificateProfile } from "../src/tls/profile";
import { componentType, duplicateNodeNames, tagsFor, throwIfInvalid, type TaggedArgs } from "./common";

/** Node certificates use ECDSA P-256: small, fast, and accepted by PostgreSQL, etcd, Patroni and HAProxy. */
export const KEY_ALGORITHM = { algorithm: "ECDSA", ecdsaCurve: "P256" } as const;
/** pgBackRest's repository passphrase is longer than the login passwords (it never gets typed). */
export const REPO_PASSPHRASE_LENGTH = 64;

/** @pulumi/tls names of the key usages a node certificate needs. */
export function certificateUses(profile: CertificateProfile): string[] {
  const eku = { serverAuth: "server_auth", clientAuth: "client_auth" } as const;
  return ["digital_signature", ...profile.extendedKeyUsages.map((u) => eku[u])];
}

/** The generated passwords and what they are for. */
export type PasswordPurpose = "superuser" | "replication" | "rewind" | "restApi" | "haproxyStats" | "repoCipher";

/** One node's secrets: its certificate and the Secrets Manager secret it reads at boot. */
export interface SecretsNodeArgs {
  /** The node's name (db1, etcd2, lb1 …), as in its certificate profile. */
  name: string;
  /** Its role: HAProxy nodes' secrets also hold the stats page's user and password. */
  role: Role;
  /** The Secrets Manager name of its node secret (ClusterSpec.names.nodeSecret[node]); nodes ask for it by name. */
  secretName: string;
  /**
   * What its certificate says (nodeCertificateProfiles with the EC2 layout): common name, DNS
   * and IP SANs, key usages, validity in days.
   */
  certificate: CertificateProfile;
}

/** A declared login role (postgres.roles): a generated password in a secret of its own. */
export interface SecretsRoleArgs {
  /** The role's name (its `username` in the secret). */
  name: string;
  /** The Secrets Manager name of its secret (ClusterSpec.names.roleSecret[role]); pgha-access asks for it by name. */
  secretName: string;
  /** postgres.roles.<name>.passwordVersion: a new value generates a new password (rotation). */
  passwordVersion: number;
  /** Where applications connect (the read-write endpoint's name), stored beside the password. */
  host: string;
  /** The read-write endpoint's port. */
  port: number;
  /** The database the role owns or is granted first, if any. */
  dbname?: string;
}

/** Secrets: the cluster's KMS key, passwords, private CA, node certificates and their secrets. */
export interface SecretsArgs extends TaggedArgs {
  /** The cluster's name (postgres-ha:clusterName): in the KMS key's description. */
  clusterName: string;
  /** The stack's name: in the KMS key's description. */
  stack: string;
  /** The KMS alias of the cluster key (ClusterSpec.names.kmsAlias, `alias/…`); pgBackRest names it. */
  kmsAliasName: string;
  /** The Secrets Manager name of the cluster secret (ClusterSpec.names.clusterSecret): PostgreSQL nodes read it. */
  clusterSecretName: string;
  /**
   * The cluster secret is another stack's, replicated to this region (a standby cluster,
   * postgres-ha:standby: its database, roles and passwords are the primary's): it is not created
   * here, no cluster password is generated, and clusterSecretArn is the ARN pattern of that
   * replica in this region and account (`…:secret:<name>-??????`, Secrets Manager's random
   * suffix). Default false: the secret is created here.
   */
  clusterSecretReplicated?: { region: string };
  /** The private CA's subject common name (caCommonName). */
  caCommonName: string;
  /** Every node, in order: one key, certificate and node secret each. At least one; names unique. */
  nodes: SecretsNodeArgs[];
  /**
   * Days before a node certificate expires from which `pulumi up` re-issues it
   * (postgres-ha:tls.renewBeforeDays; `earlyRenewalHours`). Must be below the certificates' validity.
   */
  renewBeforeDays: number;
  /** Declared login roles (postgres.roles): one password secret each. Default none. */
  roles?: SecretsRoleArgs[];
  /**
   * Generation of the cluster's own passwords (postgres-ha:postgres.credentialsVersion): another
   * value generates new superuser, replication, rewind and REST API passwords (the rollout
   * then rotates them on the running members). Default 1 (the passwords carry no keeper, so a
   * stack from before the key keeps its passwords).
   */
  credentialsVersion?: number;
  /** Generate pgBackRest's repository passphrase (postgres-ha:backup.repoEncryption; in the cluster secret). Default false. */
  repoEncryption?: boolean;
  /**
   * Keep what cannot be recreated: protect the KMS key and the repository passphrase, and keep
   * deleted secrets recoverable for 30 days (else deleted at once). Default false; prod: true.
   */
  keepData?: boolean;
}

/** Every problem of Secrets' arguments (empty when it can be built). */
export function validateSecretsArgs(args: SecretsArgs): string[] {
  const problems: string[] = [];
  if (args.nodes.length === 0) problems.push("nodes: at least one node");
  problems.push(...duplicateNodeNames(args.nodes));
  const roleNames = (args.roles ?? []).map((r) => r.name);
  for (const r of new Set(roleNames.filter((n, i) => roleNames.indexOf(n) !== i))) problems.push(`roles: ${r} is listed twice`);
  for (const r of args.roles ?? []) if (!Number.isInteger(r.passwordVersion) || r.passwordVersion < 1) problems.push(`roles.${r.name}.passwordVersion: ${r.passwordVersion} is not an integer ≥ 1`);
  if (args.credentialsVersion !== undefined && (!Number.isInteger(args.credentialsVersion) || args.credentialsVersion < 1)) problems.push(`credentialsVersion: ${args.credentialsVersion} is not an integer ≥ 1`);
  for (const n of args.nodes) {
    if (n.certificate.name !== n.name) problems.push(`nodes.${n.name}.certificate: is the profile of ${n.certificate.name}`);
    if (args.renewBeforeDays >= n.certificate.validityDays) problems.push(`renewBeforeDays: ${args.renewBeforeDays} is not below ${n.name}'s certificate validity (${n.certificate.validityDays} days): it would be re-issued on every update`);
  }
  return problems;
}

export class Secrets extends pulumi.ComponentResource {
  readonly kmsKeyArn: pulumi.Output<string>;
  readonly kmsKeyId: pulumi.Output<string>;
  readonly kmsAliasName: string;
  /** The cluster secret's ARN; with clusterSecretReplicated the ARN pattern of the primary's replica in this region. */
  readonly clusterSecretArn: pulumi.Output<string>;
  readonly nodeSecretArns: Record<string, pulumi.Output<string>>;
  /** Per declared login role: its password secret. */
  readonly roleSecretArns: Record<string, pulumi.Output<string>>;
  /** The role secrets' versions: the rollout applies a rotated password only once its secret holds it. */
  readonly roleSecretVersions: Record<string, pulumi.Resource>;
  /** The CA certificate (public) clients use to verify the nodes (sslmode=verify-full). */
  readonly caCertPem: pulumi.Output<string>;
  /** The secret versions: a node must not boot before its secrets have a value (no cluster secret version when it is replicated from another stack). */
  readonly clusterSecretVersion?: pulumi.Resource;
  readonly nodeSecretVersions: Record<string, pulumi.Resource>;

  constructor(name: string, args: SecretsArgs, opts?: pulumi.ComponentResourceOptions) {
    super(componentType("Secrets"), name, {}, opts);
    throwIfInvalid(this, "Secrets", validateSecretsArgs(args));
    const keep = args.keepData ?? false;
    const parent = { parent: this };

    const key = new aws.kms.Key(`${name}-key`, {
      description: `postgres-ha ${args.clusterName}/${args.stack}: secrets, EBS volumes and backups`,
      enableKeyRotation: true,
      deletionWindowInDays: 30,
      tags: tagsFor(args, `${name}-key`),
    }, { ...parent, protect: keep });
    new aws.kms.Alias(`${name}-key`, { name: args.kmsAliasName, targetKeyId: key.keyId }, { parent: key });
    this.kmsKeyArn = key.arn;
    this.kmsKeyId = key.keyId;
    this.kmsAliasName = args.kmsAliasName;

    const credentialsVersion = args.credentialsVersion ?? 1;
    const replicated = args.clusterSecretReplicated;
    const passwords = generatePasswords(this, name, !replicated, args.repoEncryption ?? false, keep, credentialsVersion);
    const ca = createCertificateAuthority(this, name, args.caCommonName);
    const certificates = args.nodes.map((node) => ({ node, ...issueNodeCertificate(this, name, args.renewBeforeDays, node.certificate, ca) }));

    // Secrets Manager: names fixed by the spec (the nodes ask for them by name), KMS-encrypted.
    const recoveryWindowInDays = keep ? 30 : 0;
    const secret = (secretName: string, resourceName: string, description: string, value: pulumi.Output<string>) => {
      const s = new aws.secretsmanager.Secret(resourceName, {
        name: secretName,
        description,
        kmsKeyId: key.arn,
        recoveryWindowInDays,
        tags: tagsFor(args, secretName),
      }, parent);
      const version = new aws.secretsmanager.SecretVersion(resourceName, { secretId: s.id, secretString: pulumi.secret(value) }, { parent: s });
      return { secret: s, version };
    };

    if (replicated) {
      // A standby cluster: the primary's secret, replicated into this region by the primary's
      // side; the nodes ask for it by name, so their policy names it by ARN pattern.
      const partition = aws.getPartitionOutput({}, parent);
      const account = aws.getCallerIdentityOutput({}, parent);
      this.clusterSecretArn = pulumi.all([partition.partition, account.accountId]).apply(([p, a]) => secretArnPattern(p, replicated.region, a, args.clusterSecretName));
    } else {
      const cluster = secret(args.clusterSecretName, `${name}-cluster`, "postgres-ha cluster credentials (PostgreSQL nodes only)", clusterValue(passwords, credentialsVersion));
      this.clusterSecretArn = cluster.secret.arn;
      this.clusterSecretVersion = cluster.version;
    }

    this.nodeSecretArns = {};
    this.nodeSecretVersions = {};
    for (const { node, key: nodeKey, cert } of certificates) {
      const value = pulumi
        .all([ca.cert.certPem, cert.certPem, nodeKey.privateKeyPem, passwords.haproxyStats])
        .apply(([caCert, nodeCert, nodeKeyPem, statsPassword]) => {
          const v: NodeSecret = { caCert, nodeCert, nodeKey: nodeKeyPem };
          if (node.role === "haproxy") {
            v.statsUser = STATS_USER;
            v.statsPassword = statsPassword;
          }
          return JSON.stringify(v);
        });
      const s = secret(node.secretName, `${name}-${node.name}`, `postgres-ha node ${node.name}: TLS key and certificates`, value);
      this.nodeSecretArns[node.name] = s.secret.arn;
      this.nodeSecretVersions[node.name] = s.version;
    }
    this.caCertPem = ca.cert.certPem;

    // Login roles: a password of their own, in a secret of their own (the shape RDS uses, so
    // tools that read RDS secrets read these). passwordVersion is a keeper: raising it rotates.
    this.roleSecretArns = {};
    this.roleSecretVersions = {};
    for (const role of args.roles ?? []) {
      const generated = randomPassword(this, `${name}-role-${role.name}`, { keepers: { passwordVersion: String(role.passwordVersion) } });
      const value = generated.apply((password) =>
        JSON.stringify({ engine: "postgres", username: role.name, password, host: role.host, port: role.port, ...(role.dbname ? { dbname: role.dbname } : {}), passwordVersion: role.passwordVersion } satisfies RoleSecret),
      );
      const s = secret(role.secretName, `${name}-role-${role.name}`, `postgres-ha login role ${role.name}: password (version ${role.passwordVersion})`, value);
      this.roleSecretArns[role.name] = s.secret.arn;
      this.roleSecretVersions[role.name] = s.version;
    }

    this.registerOutputs({
      kmsKeyArn: this.kmsKeyArn,
      kmsAliasName: this.kmsAliasName,
      clusterSecretArn: this.clusterSecretArn,
      nodeSecretArns: this.nodeSecretArns,
      roleSecretArns: this.roleSecretArns,
      caCertPem: this.caCertPem,
    });
  }
}

interface ClusterPasswords {
  superuser: pulumi.Output<string>;
  replication: pulumi.Output<string>;
  rewind: pulumi.Output<string>;
  restApi: pulumi.Output<string>;
  repoCipher?: pulumi.Output<string>;
}
interface Passwords {
  /** The cluster secret's passwords: none when that secret is another stack's (a standby cluster). */
  cluster?: ClusterPasswords;
  haproxyStats: pulumi.Output<string>;
}

/**
 * The ARN pattern of a secret known by name only (Secrets Manager appends '-' and six random
 * characters to the name): what an IAM policy names for a secret this stack does not create.
 */
export function secretArnPattern(partition: string, region: string, account: string, name: string): string {
  return `arn:${partition}:secretsmanager:${region}:${account}:secret:${name}-??????`;
}

/** The cluster secret's value (ClusterSecret, JSON). */
function clusterValue(passwords: Passwords, credentialsVersion: number): pulumi.Output<string> {
  const c = passwords.cluster!;
  return pulumi
    .all([c.superuser, c.replication, c.rewind, c.restApi, c.repoCipher ?? pulumi.output(undefined)])
    .apply(([superuserPassword, replicationPassword, rewindPassword, restApiPassword, repoCipherPass]) => {
      const value: ClusterSecret = { superuserPassword, replicationPassword, rewindPassword, restApiPassword, credentialsVersion };
      if (repoCipherPass) value.repoCipherPass = repoCipherPass;
      return JSON.stringify(value);
    });
}

/**
 * A generated password (a secret Output): letters and digits only (src/secrets.ts), so no quoting
 * trouble in env files or conninfo. `keepers`: a new value generates a new password.
 */
function randomPassword(parent: pulumi.Resource, resourceName: string, opts: { length?: number; protect?: boolean; keepers?: Record<string, string> } = {}): pulumi.Output<string> {
  return pulumi.secret(
    new random.RandomPassword(resourceName, {
      length: opts.length ?? PASSWORD_LENGTH,
      special: false,
      upper: true,
      lower: true,
      numeric: true,
      minUpper: 1,
      minLower: 1,
      minNumeric: 1,
      ...(opts.keepers ? { keepers: opts.keepers } : {}),
    }, { parent, protect: opts.protect ?? false }).result,
  );
}

function generatePasswords(parent: pulumi.Resource, name: string, ownClusterSecret: boolean, repoEncryption: boolean, keep: boolean, credentialsVersion: number): Passwords {
  const password = (purpose: PasswordPurpose, length = PASSWORD_LENGTH, protect = false, keepers?: Record<string, string>) => randomPassword(parent, `${name}-${purpose}`, { length, protect, keepers });
  // The cluster's own passwords are replaced when postgres.credentialsVersion changes; version 1
  // adds no keeper, so a stack created before the key keeps the passwords it has.
  const rotated = credentialsVersion === 1 ? undefined : { credentialsVersion: String(credentialsVersion) };
  const cluster = ownClusterSecret
    ? {
        superuser: password("superuser", PASSWORD_LENGTH, false, rotated),
        replication: password("replication", PASSWORD_LENGTH, false, rotated),
        rewind: password("rewind", PASSWORD_LENGTH, false, rotated),
        restApi: password("restApi", PASSWORD_LENGTH, false, rotated),
      }
    : undefined;
  const haproxyStats = password("haproxyStats");
  // A new passphrase would make every existing backup unreadable: protected in prod.
  const repoCipher = ownClusterSecret && repoEncryption ? password("repoCipher", REPO_PASSPHRASE_LENGTH, keep) : undefined;
  return { cluster: cluster ? { ...cluster, repoCipher } : undefined, haproxyStats };
}

interface CertificateAuthority {
  key: tls.PrivateKey;
  cert: tls.SelfSignedCert;
}

function createCertificateAuthority(parent: pulumi.Resource, name: string, commonName: string): CertificateAuthority {
  const key = new tls.PrivateKey(`${name}-ca`, { ...KEY_ALGORITHM }, { parent });
  const cert = new tls.SelfSignedCert(`${name}-ca`, {
    privateKeyPem: key.privateKeyPem,
    subject: { commonName, organization: "postgres-ha" },
    isCaCertificate: true,
    validityPeriodHours: CA_VALIDITY_DAYS * 24,
    allowedUses: ["cert_signing", "crl_signing", "digital_signature"],
  }, { parent: key });
  return { key, cert };
}

function issueNodeCertificate(parent: pulumi.Resource, name: string, renewBeforeDays: number, profile: CertificateProfile, ca: CertificateAuthority) {
  const key = new tls.PrivateKey(`${name}-${profile.name}`, { ...KEY_ALGORITHM }, { parent });
  const request = new tls.CertRequest(`${name}-${profile.name}`, {
    privateKeyPem: key.privateKeyPem,
    subject: { commonName: profile.commonName, organization: "postgres-ha" },
    dnsNames: profile.dnsNames,
    ipAddresses: profile.ipAddresses,
  }, { parent: key });
  const cert = new tls.LocallySignedCert(`${name}-${profile.name}`, {
    certRequestPem: request.certRequestPem,
    caPrivateKeyPem: ca.key.privateKeyPem,
    caCertPem: ca.cert.certPem,
    validityPeriodHours: profile.validityDays * 24,
    // Re-issued by the first `pulumi up` within the renewal window (then `pgha-secrets rotate`).
    earlyRenewalHours: renewBeforeDays * 24,
    allowedUses: certificateUses(profile),
  }, { parent: key });
  return { key, cert };
}
