// backup.secondRepository: a copy of the pgBackRest repository in another region, kept by S3
// Replication. The prod stack as shipped declares one (eu-central-1); staging does not. Under
// mocks: the region's provider, its own KMS key and alias, a bucket with the first one's
// guarantees, the replication rule and its role, and node policies that may read the copy.
import { TYPES, policyOf, runProgram, specOf, type ProgramRun, type RecordedResource } from "../helpers/mocks";

const SECOND = "eu-central-1";

let prod: ProgramRun;
let staging: ProgramRun;
beforeAll(async () => {
  // One program run at a time (each isolates its own module registry).
  prod = await runProgram({ stack: "prod" });
  staging = await runProgram({ stack: "staging" });
  if (prod.error) throw prod.error;
  if (staging.error) throw staging.error;
});

const providerUrn = (r: RecordedResource) => (r.options.provider ?? "").split("::").slice(0, -1).join("::");

describe("prod: a second repository in eu-central-1", () => {
  let provider: RecordedResource;
  let regional: RecordedResource[];
  beforeAll(() => {
    const providers = prod.resources.filter((r) => r.type === "pulumi:providers:aws");
    expect(providers).toHaveLength(1);
    provider = providers[0];
    regional = prod.resources.filter((r) => r.custom && providerUrn(r) === provider.urn);
  });

  test("the spec lists both repositories; the second bucket is named after its region", () => {
    const spec = specOf(prod);
    expect(spec.backup.repositories.map((r) => [r.index, r.region])).toEqual([[1, "eu-west-1"], [2, SECOND]]);
    expect(spec.backup.repositories[1].bucketName).toBe(`pgha-prod-orders-${SECOND}`);
  });

  test("an AWS provider for the second region, under the component; its key, alias and bucket use it", () => {
    expect(provider.inputs.region).toBe(SECOND);
    const component = prod.resources.find((r) => r.type === "postgres-ha:index:SecondRegionRepository")!;
    expect(provider.parent).toBe(component.urn);
    const types = regional.map((r) => r.type);
    for (const t of ["aws:kms/key:Key", "aws:kms/alias:Alias", TYPES.bucket, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
      "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "aws:s3/bucketVersioning:BucketVersioning",
      "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "aws:s3/bucketPolicy:BucketPolicy"]) {
      expect(types).toContain(t);
    }
    // Nothing else goes to the second region: the nodes, secrets and the first bucket stay home.
    expect(regional.filter((r) => r.type === TYPES.instance || r.type === TYPES.secret)).toEqual([]);
    expect(prod.ofType(TYPES.bucket).filter((b) => providerUrn(b) === "").map((b) => b.inputs.bucket)).toEqual(["pgha-prod-orders-eu-west-1"]);
  });

  test("the second bucket: SSE-KMS under the second region's own key, versioned, private, TLS only, kept in prod", () => {
    const bucket = regional.find((r) => r.type === TYPES.bucket)!;
    expect(bucket.inputs.bucket).toBe(`pgha-prod-orders-${SECOND}`);
    expect(bucket.options.protect).toBe(true);
    expect(bucket.options.retainOnDelete).toBe(true);
    const key = regional.find((r) => r.type === "aws:kms/key:Key")!;
    expect(key.inputs.enableKeyRotation).toBe(true);
    expect(key.options.protect).toBe(true);
    const alias = regional.find((r) => r.type === "aws:kms/alias:Alias")!;
    expect(alias.inputs.name).toBe(specOf(prod).names.kmsAlias);
    const sse = regional.find((r) => r.type === "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")!;
    expect(sse.inputs.rules[0].applyServerSideEncryptionByDefault).toEqual({ sseAlgorithm: "aws:kms", kmsMasterKeyId: key.state.arn });
    expect(regional.find((r) => r.type === "aws:s3/bucketVersioning:BucketVersioning")!.inputs.versioningConfiguration.status).toBe("Enabled");
    const block = regional.find((r) => r.type === "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")!.inputs;
    expect([block.blockPublicAcls, block.blockPublicPolicy, block.ignorePublicAcls, block.restrictPublicBuckets]).toEqual([true, true, true, true]);
    const policy = policyOf(regional.find((r) => r.type === "aws:s3/bucketPolicy:BucketPolicy")!.inputs.policy);
    expect(policy.Statement[0]).toMatchObject({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } });
  });

  test("no S3 rule expires anything under the repository prefix in the second bucket", () => {
    const rules = regional.find((r) => r.type === "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")!.inputs.rules as any[];
    const repoPrefix = "pgbackrest/orders/";
    for (const rule of rules.filter((r) => r.expiration?.days || r.transitions?.length)) {
      expect(repoPrefix.startsWith(rule.filter?.prefix ?? "")).toBe(false);
    }
  });

  test("PostgreSQL nodes may read the copy (its prefix only, its key through S3 in that region) and never write it; etcd and HAProxy may not", () => {
    const bucket = regional.find((r) => r.type === TYPES.bucket)!;
    const key = regional.find((r) => r.type === "aws:kms/key:Key")!;
    const checked: string[] = [];
    for (const p of prod.ofType(TYPES.rolePolicy)) {
      const doc = policyOf(p.inputs.policy);
      const sids = doc.Statement.map((s: any) => s.Sid);
      const node = p.name.replace(/^.*-(\w+\d)-node$/, "$1");
      if (!node.startsWith("db")) {
        expect(sids).not.toContain("SecondRepositoryObjects");
        continue;
      }
      const objects = doc.Statement.find((s: any) => s.Sid === "SecondRepositoryObjects");
      expect(objects.Resource).toEqual([`${bucket.state.arn}/pgbackrest/orders/*`, `${bucket.state.arn}/restore-points/orders/*`]);
      expect(objects.Action).toEqual(["s3:GetObject"]);
      const kms = doc.Statement.find((s: any) => s.Sid === "UseSecondRegionKey");
      expect(kms.Resource).toBe(key.state.arn);
      expect(kms.Action).not.toContain("kms:GenerateDataKey");
      expect(kms.Condition).toEqual({ StringEquals: { "kms:ViaService": [`s3.${SECOND}.amazonaws.com`] } });
      const list = doc.Statement.find((s: any) => s.Sid === "ListSecondRepository");
      expect(list.Resource).toBe(bucket.state.arn);
      checked.push(node);
    }
    expect(checked.sort()).toEqual(["db1", "db2", "db3"]);
  });

  test("S3 Replication of the repository and the restore catalogue only, re-encrypted under the second key, deletions too, with RTC; registered in the first region", () => {
    const rules = prod.ofType("aws:s3/bucketReplicationConfig:BucketReplicationConfig");
    expect(rules).toHaveLength(1);
    const r = rules[0];
    expect(providerUrn(r)).toBe(""); // the stack's region: the rule lives on the source bucket
    const source = prod.ofType(TYPES.bucket).find((b) => providerUrn(b) === "")!;
    const bucket = regional.find((x) => x.type === TYPES.bucket)!;
    const key = regional.find((x) => x.type === "aws:kms/key:Key")!;
    expect(r.inputs.bucket).toBe(source.id);
    expect(r.inputs.rules.map((x: any) => [x.priority, x.filter.prefix])).toEqual([[1, "pgbackrest/orders/"], [2, "restore-points/orders/"]]);
    for (const rule of r.inputs.rules) expect(rule).toMatchObject({
      status: "Enabled",
      deleteMarkerReplication: { status: "Enabled" },
      sourceSelectionCriteria: { sseKmsEncryptedObjects: { status: "Enabled" } },
      destination: {
        bucket: bucket.state.arn,
        encryptionConfiguration: { replicaKmsKeyId: key.state.arn },
        replicationTime: { status: "Enabled", time: { minutes: 15 } },
        metrics: { status: "Enabled", eventThreshold: { minutes: 15 } },
      },
    });
    // Both buckets are versioned before the rule exists (S3 refuses it otherwise).
    for (const v of prod.ofType(TYPES.bucketVersioning)) expect(r.options.dependencies).toContain(v.urn);
  });

  test("the replication role: assumed by S3 only; reads the source prefix, writes replicas to the copy's prefix, each key only through its region's S3", () => {
    const r = prod.ofType("aws:s3/bucketReplicationConfig:BucketReplicationConfig")[0];
    const role = prod.ofType(TYPES.role).find((x) => x.state.arn === r.inputs.role)!;
    expect(policyOf(role.inputs.assumeRolePolicy).Statement).toEqual([{ Effect: "Allow", Principal: { Service: "s3.amazonaws.com" }, Action: "sts:AssumeRole" }]);
    const doc = policyOf(prod.ofType(TYPES.rolePolicy).find((p) => p.inputs.role === role.id)!.inputs.policy);
    const bySid = Object.fromEntries(doc.Statement.map((s: any) => [s.Sid, s]));
    const bucket = regional.find((x) => x.type === TYPES.bucket)!;
    expect(bySid.WriteReplicas.Resource).toEqual([`${bucket.state.arn}/pgbackrest/orders/*`, `${bucket.state.arn}/restore-points/orders/*`]);
    expect(bySid.ReadRepositoryVersions.Resource).toHaveLength(2);
    expect(bySid.ReadRepositoryVersions.Resource[0]).toMatch(/\/pgbackrest\/orders\/\*$/);
    expect(bySid.DecryptSource.Condition).toEqual({ StringLike: { "kms:ViaService": "s3.eu-west-1.amazonaws.com" } });
    expect(bySid.EncryptReplica.Condition).toEqual({ StringLike: { "kms:ViaService": `s3.${SECOND}.amazonaws.com` } });
    expect(JSON.stringify(doc)).not.toContain('"s3:*"');
  });

  test("a PostgreSQL node boots only once the second repository exists", () => {
    const bucket = regional.find((r) => r.type === TYPES.bucket)!;
    for (const i of prod.ofType(TYPES.instance).filter((r) => r.inputs.tags["pgha:role"] === "postgres")) {
      expect(i.options.dependencies).toContain(bucket.urn);
    }
  });

  test("alarms on the copy's freshness, in the first region, to the alert topic: per replication rule its latency past RTC's 15 min for 15 min, and any failed replication", () => {
    const rules = prod.ofType("aws:s3/bucketReplicationConfig:BucketReplicationConfig")[0].inputs.rules as { id: string }[];
    const alarms = prod.ofType("aws:cloudwatch/metricAlarm:MetricAlarm").filter((a) => a.inputs.namespace === "AWS/S3");
    expect(alarms.map((a) => [a.inputs.metricName, a.inputs.dimensions.RuleId]).sort()).toEqual(
      rules.flatMap((r) => [["OperationsFailedReplication", r.id], ["ReplicationLatency", r.id]]).sort(),
    );
    // The alert topic, as the dead man's switch names it.
    const heartbeat = prod.ofType("aws:cloudwatch/metricAlarm:MetricAlarm").find((a) => a.inputs.name.endsWith("-monitoring-heartbeat"))!;
    expect(heartbeat.inputs.alarmActions).toHaveLength(1);
    for (const a of alarms) {
      expect(providerUrn(a)).toBe(""); // S3 reports replication metrics in the source bucket's region
      expect(a.inputs.dimensions).toMatchObject({ SourceBucket: "pgha-prod-orders-eu-west-1", DestinationBucket: `pgha-prod-orders-${SECOND}` });
      expect(a.inputs.alarmActions).toEqual(heartbeat.inputs.alarmActions);
      expect(a.inputs.okActions).toEqual(a.inputs.alarmActions);
      expect(a.inputs.treatMissingData).toBe("notBreaching");
    }
    const latency = alarms.find((a) => a.inputs.metricName === "ReplicationLatency")!;
    expect([latency.inputs.statistic, latency.inputs.threshold, latency.inputs.comparisonOperator, latency.inputs.period * latency.inputs.evaluationPeriods]).toEqual(["Maximum", 900, "GreaterThanThreshold", 900]);
    const failed = alarms.find((a) => a.inputs.metricName === "OperationsFailedReplication")!;
    expect([failed.inputs.statistic, failed.inputs.threshold, failed.inputs.comparisonOperator]).toEqual(["Sum", 1, "GreaterThanOrEqualToThreshold"]);
    expect(staging.ofType("aws:cloudwatch/metricAlarm:MetricAlarm").filter((a) => a.inputs.namespace === "AWS/S3")).toEqual([]);
  });

  test("the stack exports the second repository", () => {
    expect(prod.outputs.secondBackupRepository).toEqual({ region: SECOND, bucketName: `pgha-prod-orders-${SECOND}` });
  });
});

test("staging declares none: no second provider, bucket, replication or policy statement", () => {
  expect(staging.ofType("aws:s3/bucketReplicationConfig:BucketReplicationConfig")).toEqual([]);
  expect(staging.resources.filter((r) => r.type === "pulumi:providers:aws")).toEqual([]);
  expect(staging.ofType(TYPES.bucket)).toHaveLength(1);
  for (const p of staging.ofType(TYPES.rolePolicy)) expect(JSON.stringify(p.inputs.policy)).not.toContain("SecondRepository");
  expect(staging.outputs.secondBackupRepository).toBeNull();
});
