// A cluster restored from another cluster's repository (postgres-ha:restoreFrom), under mocks.
// The shipped prod-pitr stack starts from prod's backups (eu-west-1, the same region): its
// PostgreSQL nodes may read prod's pgBackRest repository and restore catalogue in prod's bucket
// (GetObject and a prefix-bound ListBucket, nothing that writes), prod's cluster secret (the
// repository's passphrase) by its name's ARN pattern, and prod's key by its alias, through S3 and
// Secrets Manager only. etcd and HAProxy nodes get none of it; the program creates nothing of
// prod's (no bucket, key, alias or secret); a stack without restoreFrom has none of the statements.
import { nodePolicyDocument, type NodePolicyInputs } from "../../components/nodeRoles";
import { restoreSourceKmsAlias, restoreSourcePrefixes } from "../../components/cluster";
import { ACCOUNT_ID, TYPES, policyOf, runProgram, specOf, type ProgramRun, type RecordedResource } from "../helpers/mocks";

jest.setTimeout(120_000);

const SOURCE_BUCKET = "pgha-prod-orders-eu-west-1";
const SOURCE_BUCKET_ARN = `arn:aws:s3:::${SOURCE_BUCKET}`;
const SOURCE_ALIAS = "alias/pgha-orders-prod";
const SOURCE_SECRET = "postgres-ha/prod/orders/cluster";
const RESTORE_SIDS = ["UseRestoreSourceKey", "ListRestoreSource", "RestoreSourceObjects", "ReadRestoreSourceSecret"];

/** The four statements a PostgreSQL node of prod-pitr must have, exactly. */
const EXPECTED_STATEMENTS = {
  UseRestoreSourceKey: {
    Sid: "UseRestoreSourceKey",
    Effect: "Allow",
    Action: ["kms:Decrypt", "kms:DescribeKey"],
    Resource: `arn:aws:kms:eu-west-1:${ACCOUNT_ID}:key/*`,
    Condition: {
      StringEquals: { "kms:ViaService": ["s3.eu-west-1.amazonaws.com", "secretsmanager.eu-west-1.amazonaws.com"] },
      "ForAnyValue:StringEquals": { "kms:ResourceAliases": [SOURCE_ALIAS] },
    },
  },
  ListRestoreSource: {
    Sid: "ListRestoreSource",
    Effect: "Allow",
    Action: ["s3:ListBucket"],
    Resource: SOURCE_BUCKET_ARN,
    Condition: { StringLike: { "s3:prefix": ["pgbackrest/orders", "pgbackrest/orders/*", "restore-points/orders", "restore-points/orders/*"] } },
  },
  RestoreSourceObjects: {
    Sid: "RestoreSourceObjects",
    Effect: "Allow",
    Action: ["s3:GetObject"],
    Resource: [`${SOURCE_BUCKET_ARN}/pgbackrest/orders/*`, `${SOURCE_BUCKET_ARN}/restore-points/orders/*`],
  },
  ReadRestoreSourceSecret: {
    Sid: "ReadRestoreSourceSecret",
    Effect: "Allow",
    Action: ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
    Resource: `arn:aws:secretsmanager:eu-west-1:${ACCOUNT_ID}:secret:${SOURCE_SECRET}-??????`,
  },
};

let pitr: ProgramRun;
let prod: ProgramRun;
beforeAll(async () => {
  // One program run at a time (each isolates its own module registry).
  pitr = await runProgram({ stack: "prod-pitr" });
  prod = await runProgram({ stack: "prod" });
  for (const r of [pitr, prod]) if (r.error) throw r.error;
});

const nodePolicies = (run: ProgramRun) => run.ofType(TYPES.rolePolicy).filter((p) => p.name.endsWith("-node"));
const nodeOfPolicy = (run: ProgramRun, p: RecordedResource) => p.name.replace(`${specOf(run).names.prefix}-`, "").replace(/-node$/, "");
/** Whether a value (inputs, a statement, a document) names `what`; prod's alias as a whole name, not prod-pitr's alias/pgha-orders-prod-pitr. */
const mentions = (value: unknown, what: string) => {
  const text = JSON.stringify(value ?? null);
  return what === SOURCE_ALIAS ? /alias\/pgha-orders-prod(?![\w-])/.test(text) : text.includes(what);
};

describe("prod-pitr: restored from prod's repository", () => {
  test("the spec: prod's repository (its bucket, repo1 of prod), catalogue, secret and key alias", () => {
    const spec = specOf(pitr);
    expect(spec.restoreFrom).toMatchObject({
      stack: "prod", cluster: "orders", repoPath: "/pgbackrest/orders", catalogPrefix: "restore-points/orders/",
      repository: { region: "eu-west-1", bucketName: SOURCE_BUCKET }, secretName: SOURCE_SECRET,
    });
    // What prod itself names them: the default is prod's own repo1, secret and key alias.
    expect(specOf(prod).backup.bucketName).toBe(SOURCE_BUCKET);
    expect(specOf(prod).names.clusterSecret).toBe(SOURCE_SECRET);
    expect(specOf(prod).names.kmsAlias).toBe(SOURCE_ALIAS);
    expect(restoreSourceKmsAlias(spec)).toBe(SOURCE_ALIAS);
    expect(restoreSourcePrefixes(spec)).toEqual(["pgbackrest/orders/", "restore-points/orders/"]);
    // Its own names are its own.
    expect(spec.backup.bucketName).toBe("pgha-prod-pitr-orders-eu-west-1");
    expect(spec.names.kmsAlias).toBe("alias/pgha-orders-prod-pitr");
    expect(spec.names.clusterSecret).toBe("postgres-ha/prod-pitr/orders/cluster");
  });

  test("each PostgreSQL node reads prod's repository, catalogue, secret and key: exactly these four statements", () => {
    const checked: string[] = [];
    for (const p of nodePolicies(pitr)) {
      const node = nodeOfPolicy(pitr, p);
      if (!node.startsWith("pitr-db")) continue;
      const doc = policyOf(p.inputs.policy);
      const bySid = Object.fromEntries(doc.Statement.map((s: any) => [s.Sid, s]));
      for (const sid of RESTORE_SIDS) expect(bySid[sid]).toEqual(EXPECTED_STATEMENTS[sid as keyof typeof EXPECTED_STATEMENTS]);
      // Nothing else touches prod's bucket, and nothing there writes (no Put, Delete, multipart).
      const touching = doc.Statement.filter((s: any) => mentions(s.Resource, SOURCE_BUCKET));
      expect(touching.map((s: any) => s.Sid).sort()).toEqual(["ListRestoreSource", "RestoreSourceObjects"]);
      expect(touching.flatMap((s: any) => s.Action).sort()).toEqual(["s3:GetObject", "s3:ListBucket"]);
      // prod's secret only through ReadRestoreSourceSecret (not among its own), and no write to it.
      const secretStatements = doc.Statement.filter((s: any) => mentions(s.Resource, SOURCE_SECRET));
      expect(secretStatements.map((s: any) => s.Sid)).toEqual(["ReadRestoreSourceSecret"]);
      // prod's key by its alias only in UseRestoreSourceKey.
      expect(doc.Statement.filter((s: any) => mentions(s, SOURCE_ALIAS)).map((s: any) => s.Sid)).toEqual(["UseRestoreSourceKey"]);
      // Its own statements are still there: it archives into its own bucket.
      expect(bySid.BackupObjects.Resource.every((r: string) => r.startsWith("arn:aws:s3:::pgha-prod-pitr-orders-eu-west-1/"))).toBe(true);
      checked.push(node);
    }
    expect(checked.sort()).toEqual(["pitr-db1", "pitr-db2"]);
  });

  test("etcd and HAProxy nodes get none of it", () => {
    const checked: string[] = [];
    for (const p of nodePolicies(pitr)) {
      const node = nodeOfPolicy(pitr, p);
      if (node.startsWith("pitr-db")) continue;
      const doc = policyOf(p.inputs.policy);
      expect(doc.Statement.map((s: any) => s.Sid).filter((sid: string) => RESTORE_SIDS.includes(sid))).toEqual([]);
      for (const what of [SOURCE_BUCKET, SOURCE_SECRET, SOURCE_ALIAS]) expect(mentions(doc, what)).toBe(false);
      checked.push(node);
    }
    expect(checked.sort()).toEqual(["pitr-etcd1", "pitr-etcd2", "pitr-etcd3", "pitr-lb1"]);
  });

  test("prod's bucket, key and secret are only read: the program creates none of them, and only policies name them", () => {
    expect(pitr.ofType(TYPES.bucket).map((b) => b.inputs.bucket)).toEqual(["pgha-prod-pitr-orders-eu-west-1"]);
    expect(pitr.ofType(TYPES.kmsAlias).map((a) => a.inputs.name)).toEqual(["alias/pgha-orders-prod-pitr"]);
    const secrets = pitr.ofType(TYPES.secret).map((s) => s.inputs.name);
    expect(secrets).not.toContain(SOURCE_SECRET);
    expect(secrets.every((n: string) => n.startsWith("postgres-ha/prod-pitr/orders/"))).toBe(true);
    expect(pitr.ofType("aws:s3/bucketReplicationConfig:BucketReplicationConfig")).toEqual([]);
    expect(pitr.resources.filter((r) => r.type === "pulumi:providers:aws")).toEqual([]);
    // Any resource whose inputs name prod's bucket, secret or key alias is a PostgreSQL node's inline
    // policy (the node files name them too — node.env, restore-source.conf — packed in the bundles).
    for (const what of [SOURCE_BUCKET, SOURCE_SECRET, SOURCE_ALIAS]) {
      const naming = pitr.resources.filter((r) => mentions(r.inputs, what)).map((r) => `${r.type} ${r.name}`).sort();
      expect(naming).toEqual(["orders-prod-pitr-pitr-db1-node", "orders-prod-pitr-pitr-db2-node"].map((n) => `${TYPES.rolePolicy} ${n}`));
    }
  });
});

describe("a stack without restoreFrom", () => {
  test("prod: no node policy has any of the statements, nor names another stack's secret", () => {
    expect(specOf(prod).restoreFrom).toBeUndefined();
    const policies = nodePolicies(prod);
    expect(policies.length).toBe(specOf(prod).nodes.length);
    for (const p of policies) {
      const doc = policyOf(p.inputs.policy);
      expect(doc.Statement.map((s: any) => s.Sid).filter((sid: string) => RESTORE_SIDS.includes(sid))).toEqual([]);
      expect(mentions(doc, "ResourceAliases")).toBe(false);
    }
  });
});

describe("nodePolicyDocument with a restore source in another region", () => {
  // restoreFrom.region/bucket naming the source's second-region copy: the objects' key is the
  // source's key there, the secret's the source's key in this stack's region.
  const inputs = (role: "postgres" | "etcd" | "haproxy"): NodePolicyInputs => ({
    node: { name: role === "postgres" ? "db1" : role === "etcd" ? "etcd1" : "lb1", role },
    region: "eu-west-1",
    kmsKeyArn: "arn:aws:kms:eu-west-1:111122223333:key/own",
    nodeSecretArn: "arn:aws:secretsmanager:eu-west-1:111122223333:secret:own-node-abcdef",
    clusterSecretArn: "arn:aws:secretsmanager:eu-west-1:111122223333:secret:own-cluster-abcdef",
    bucket: { arn: "arn:aws:s3:::own", repoPrefix: "pgbackrest/orders/", logicalPrefix: "logical/orders/", catalogPrefix: "restore-points/orders/" },
    bundles: { nodePrefix: "bundles/orders/nodes/db1/", softwarePrefix: "bundles/orders/software/" },
    restoreSource: {
      region: "eu-central-1", account: "111122223333", partition: "aws", bucketName: "pgha-prod-orders-eu-central-1",
      kmsAliasName: SOURCE_ALIAS, prefixes: ["pgbackrest/orders", "restore-points/orders/"], secretName: SOURCE_SECRET,
    },
  });

  test("the key in both regions, through S3 in the bucket's and Secrets Manager in this stack's; the secret in this stack's region", () => {
    const bySid = Object.fromEntries(nodePolicyDocument(inputs("postgres")).Statement.map((s) => [s.Sid, s]));
    expect(bySid.UseRestoreSourceKey.Resource).toEqual(["arn:aws:kms:eu-central-1:111122223333:key/*", "arn:aws:kms:eu-west-1:111122223333:key/*"]);
    expect(bySid.UseRestoreSourceKey.Condition).toEqual({
      StringEquals: { "kms:ViaService": ["s3.eu-central-1.amazonaws.com", "secretsmanager.eu-west-1.amazonaws.com"] },
      "ForAnyValue:StringEquals": { "kms:ResourceAliases": [SOURCE_ALIAS] },
    });
    expect(bySid.ReadRestoreSourceSecret.Resource).toBe(`arn:aws:secretsmanager:eu-west-1:111122223333:secret:${SOURCE_SECRET}-??????`);
    // A prefix without its trailing slash is bound like one with it.
    expect(bySid.RestoreSourceObjects.Resource).toEqual(["arn:aws:s3:::pgha-prod-orders-eu-central-1/pgbackrest/orders/*", "arn:aws:s3:::pgha-prod-orders-eu-central-1/restore-points/orders/*"]);
    expect(bySid.ListRestoreSource.Condition?.StringLike["s3:prefix"]).toEqual(["pgbackrest/orders", "pgbackrest/orders/*", "restore-points/orders", "restore-points/orders/*"]);
  });

  test.each(["etcd", "haproxy"] as const)("a %s node's document has none of it, even when given a restore source", (role) => {
    const doc = nodePolicyDocument({ ...inputs(role), clusterSecretArn: undefined });
    expect(doc.Statement.map((s) => s.Sid).filter((sid) => RESTORE_SIDS.includes(sid))).toEqual([]);
  });
});
