// The shapes of the secrets a node fetches at boot (Secrets Manager on AWS, files in the
// sandbox). Generated values only; nothing here is ever rendered into a file for review.

/** Cluster secret: read by PostgreSQL nodes only. */
export interface ClusterSecret {
  superuserPassword: string;
  replicationPassword: string;
  rewindPassword: string;
  restApiPassword: string;
  /** postgres.credentialsVersion these four passwords belong to (absent: 1). */
  credentialsVersion?: number;
  /** pgBackRest repository passphrase (backup.repoEncryption). */
  repoCipherPass?: string;
  /** Sandbox only: access keys of the local S3 endpoint (EC2 uses the instance role). */
  s3AccessKeyId?: string;
  s3SecretAccessKey?: string;
}

/** Node secret: read by that node only. */
export interface NodeSecret {
  caCert: string;
  nodeCert: string;
  nodeKey: string;
  /** HAProxy nodes: stats page credentials. */
  statsUser?: string;
  statsPassword?: string;
}

/**
 * A declared login role's secret (postgres.roles): the document RDS keeps for a database user, so
 * tools that read RDS secrets read it; passwordVersion says which rotation it holds.
 */
export interface RoleSecret {
  engine: "postgres";
  username: string;
  password: string;
  /** The read-write endpoint. */
  host: string;
  port: number;
  dbname?: string;
  passwordVersion: number;
}

/** Generated passwords: 32 letters and digits (no quoting issues in env files or conninfo). */
export const PASSWORD_LENGTH = 32;
export const PASSWORD_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
export const STATS_USER = "pgha-stats";
