// Secrets: the cluster's KMS key, generated passwords, a private CA with one certificate per node,
// and the Secrets Manager secrets the nodes read at boot with their instance roles. No value
// created here ever reaches user-data, a rendered file or a plain stack output.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as tls from "@pulumi/tls";
import type { Layout } from "../src/layout";
import { PASSWORD_LENGTH, STATS_USER, type ClusterSecret, type NodeSecret } from "../src/secrets";
import type { ClusterSpec } from "../src/spec";
import { CA_VALIDITY_DAYS, caCommonName, nodeCertificateProfiles, type CertificateProfile } from "../src/tls/profile";
import { componentType, keepsData, tagsFor } from "./common";

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

export interface SecretsArgs {
  spec: ClusterSpec;
  /** The EC2 layout: node addresses for the certificates' IP SANs. */
  layout: Layout;
}

export class Secrets extends pulumi.ComponentResource {
  readonly kmsKeyArn: pulumi.Output<string>;
  readonly kmsKeyId: pulumi.Output<string>;
  readonly kmsAliasName: string;
  readonly clusterSecretArn: pulumi.Output<string>;
  readonly nodeSecretArns: Record<string, pulumi.Output<string>>;
  /** The CA certificate (public) clients use to verify the nodes (sslmode=verify-full). */
  readonly caCertPem: pulumi.Output<string>;
  /** The secret versions: a node must not boot before its secrets have a value. */
  readonly clusterSecretVersion: pulumi.Resource;
  readonly nodeSecretVersions: Record<string, pulumi.Resource>;

  constructor(name: string, args: SecretsArgs, opts?: pulumi.ComponentResourceOptions) {
    super(componentType("Secrets"), name, {}, opts);
    const { spec, layout } = args;
    const parent = { parent: this };

    const key = new aws.kms.Key(`${name}-key`, {
      description: `postgres-ha ${spec.clusterName}/${spec.stack}: secrets, EBS volumes and backups`,
      enableKeyRotation: true,
      deletionWindowInDays: 30,
      tags: tagsFor(spec, `${name}-key`),
    }, { ...parent, protect: keepsData(spec) });
    new aws.kms.Alias(`${name}-key`, { name: spec.names.kmsAlias, targetKeyId: key.keyId }, { parent: key });
    this.kmsKeyArn = key.arn;
    this.kmsKeyId = key.keyId;
    this.kmsAliasName = spec.names.kmsAlias;

    const passwords = generatePasswords(this, name, spec);
    const ca = createCertificateAuthority(this, name, spec);
    const certificates = nodeCertificateProfiles(spec, layout).map((profile) => ({ profile, ...issueNodeCertificate(this, name, spec, profile, ca) }));

    // Secrets Manager: names fixed by the spec (the nodes ask for them by name), KMS-encrypted.
    const recoveryWindowInDays = keepsData(spec) ? 30 : 0;
    const secret = (secretName: string, resourceName: string, description: string, value: pulumi.Output<string>) => {
      const s = new aws.secretsmanager.Secret(resourceName, {
        name: secretName,
        description,
        kmsKeyId: key.arn,
        recoveryWindowInDays,
        tags: tagsFor(spec, secretName),
      }, parent);
      const version = new aws.secretsmanager.SecretVersion(resourceName, { secretId: s.id, secretString: pulumi.secret(value) }, { parent: s });
      return { secret: s, version };
    };

    const clusterValue = pulumi
      .all([passwords.superuser, passwords.replication, passwords.rewind, passwords.restApi, passwords.repoCipher ?? pulumi.output(undefined)])
      .apply(([superuserPassword, replicationPassword, rewindPassword, restApiPassword, repoCipherPass]) => {
        const value: ClusterSecret = { superuserPassword, replicationPassword, rewindPassword, restApiPassword };
        if (repoCipherPass) value.repoCipherPass = repoCipherPass;
        return JSON.stringify(value);
      });
    const cluster = secret(spec.names.clusterSecret, `${name}-cluster`, "postgres-ha cluster credentials (PostgreSQL nodes only)", clusterValue);
    this.clusterSecretArn = cluster.secret.arn;

    this.nodeSecretArns = {};
    this.clusterSecretVersion = cluster.version;
    this.nodeSecretVersions = {};
    for (const { profile, key: nodeKey, cert } of certificates) {
      const node = spec.nodes.find((n) => n.name === profile.name)!;
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
      const s = secret(spec.names.nodeSecret[node.name], `${name}-${node.name}`, `postgres-ha node ${node.name}: TLS key and certificates`, value);
      this.nodeSecretArns[node.name] = s.secret.arn;
      this.nodeSecretVersions[node.name] = s.version;
    }
    this.caCertPem = ca.cert.certPem;

    this.registerOutputs({
      kmsKeyArn: this.kmsKeyArn,
      kmsAliasName: this.kmsAliasName,
      clusterSecretArn: this.clusterSecretArn,
      nodeSecretArns: this.nodeSecretArns,
      caCertPem: this.caCertPem,
    });
  }
}

interface Passwords {
  superuser: pulumi.Output<string>;
  replication: pulumi.Output<string>;
  rewind: pulumi.Output<string>;
  restApi: pulumi.Output<string>;
  haproxyStats: pulumi.Output<string>;
  repoCipher?: pulumi.Output<string>;
}

function generatePasswords(parent: pulumi.Resource, name: string, spec: ClusterSpec): Passwords {
  const password = (purpose: PasswordPurpose, length = PASSWORD_LENGTH, protect = false) =>
    pulumi.secret(
      new random.RandomPassword(`${name}-${purpose}`, {
        length,
        // Letters and digits only (src/secrets.ts): no quoting trouble in env files or conninfo.
        special: false,
        upper: true,
        lower: true,
        numeric: true,
        minUpper: 1,
        minLower: 1,
        minNumeric: 1,
      }, { parent, protect }).result,
    );
  return {
    superuser: password("superuser"),
    replication: password("replication"),
    rewind: password("rewind"),
    restApi: password("restApi"),
    haproxyStats: password("haproxyStats"),
    // A new passphrase would make every existing backup unreadable: protected in prod.
    repoCipher: spec.backup.repoEncryption ? password("repoCipher", REPO_PASSPHRASE_LENGTH, keepsData(spec)) : undefined,
  };
}

interface CertificateAuthority {
  key: tls.PrivateKey;
  cert: tls.SelfSignedCert;
}

function createCertificateAuthority(parent: pulumi.Resource, name: string, spec: ClusterSpec): CertificateAuthority {
  const key = new tls.PrivateKey(`${name}-ca`, { ...KEY_ALGORITHM }, { parent });
  const cert = new tls.SelfSignedCert(`${name}-ca`, {
    privateKeyPem: key.privateKeyPem,
    subject: { commonName: caCommonName(spec), organization: "postgres-ha" },
    isCaCertificate: true,
    validityPeriodHours: CA_VALIDITY_DAYS * 24,
    allowedUses: ["cert_signing", "crl_signing", "digital_signature"],
  }, { parent: key });
  return { key, cert };
}

function issueNodeCertificate(parent: pulumi.Resource, name: string, spec: ClusterSpec, profile: CertificateProfile, ca: CertificateAuthority) {
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
    earlyRenewalHours: spec.tls.renewBeforeDays * 24,
    allowedUses: certificateUses(profile),
  }, { parent: key });
  return { key, cert };
}
