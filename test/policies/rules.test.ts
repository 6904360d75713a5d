// Every rule of the pack: at least one passing and one failing case, and its handling of unknown
// (preview-time) values — the rule must neither pass nor fail then, but report that it could not
// run. Resources are built by hand or from the real render path (no Pulumi runtime: fast).
import { gzipSync } from "zlib";
import type { Policy } from "@pulumi/policy";
import * as rules from "../../policies/rules";
import { policies } from "../../policies/rules";
import { TIER_DEFAULTS } from "../../src/config/defaults";
import { writeTar } from "../../src/bundle/tar";
import { UNKNOWN, evaluate, expectCouldNotRun, expectPass, expectViolation, resource, syntheticCluster, withEditedBundle, withInputs, T, type Outcome } from "./helpers";
import type { RecordedResource } from "../../src/plan/run";

const SG_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule";
const B = {
  sse: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
  block: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
  versioning: "aws:s3/bucketVersioning:BucketVersioning",
  policy: "aws:s3/bucketPolicy:BucketPolicy",
  lifecycle: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
};
const KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234";
const prodTags = { Name: "x", "pgha:cluster": "orders", "pgha:stack": "prod", "pgha:tier": "prod" };
const devTags = { ...prodTags, "pgha:stack": "dev", "pgha:tier": "dev" };

function bucket(name = "pgha-prod-orders-eu-west-1", extras: Parameters<typeof resource>[3] = {}) {
  return resource(T.bucket, "orders-prod-backups", { bucket: name, forceDestroy: false, tags: prodTags }, { options: { protect: true, retainOnDelete: true }, ...extras });
}
/** A companion resource linked to its bucket the way the program links it (a dependency on `bucket`). */
function companion(type: string, b: RecordedResource, inputs: Record<string, any>) {
  return resource(type, `${b.name}-${type.split(":").pop()}`, { bucket: b.inputs.bucket, ...inputs }, { propertyDependencies: { bucket: [b.urn] } });
}
function tlsOnlyPolicy(arn: string) {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [{ Sid: "DenyInsecureTransport", Effect: "Deny", Principal: "*", Action: "s3:*", Resource: [arn, `${arn}/*`], Condition: { Bool: { "aws:SecureTransport": "false" } } }],
  });
}
const programLifecycleRules = [
  { id: "logical-dumps", status: "Enabled", filter: { prefix: "logical/orders/" }, expiration: { days: 84 } },
  { id: "noncurrent-versions", status: "Enabled", filter: {}, noncurrentVersionExpiration: { noncurrentDays: 30 }, expiration: { expiredObjectDeleteMarker: true } },
  { id: "incomplete-uploads", status: "Enabled", filter: {}, abortIncompleteMultipartUpload: { daysAfterInitiation: 7 } },
];
function instance(name: string, inputs: Record<string, any>, role = "postgres", tags = prodTags) {
  return resource(T.instance, name, {
    associatePublicIpAddress: false,
    iamInstanceProfile: `${name}-profile`,
    monitoring: true,
    metadataOptions: { httpTokens: "required", httpEndpoint: "enabled" },
    rootBlockDevice: { encrypted: true, kmsKeyId: KEY_ARN },
    tags: { ...tags, "pgha:role": role },
    ...inputs,
  });
}
function gzipUserData(text: string): string {
  return gzipSync(Buffer.from(text)).toString("base64");
}
const withUserData = (r: RecordedResource, text: string) => ({ ...r, inputs: { ...r.inputs, userDataBase64: gzipUserData(text) }, state: { ...r.inputs, userDataBase64: gzipUserData(text) } });
const without = (rs: RecordedResource[], predicate: (r: RecordedResource) => boolean) => rs.filter((r) => !predicate(r));
const nodeIs = (...names: string[]) => (r: RecordedResource) => r.type === T.instance && names.includes(r.inputs.tags["pgha:node"]);

/** Moves instances into the subnet of another (so they share its AZ). */
function moveTo(rs: RecordedResource[], nodes: string[], target: string): RecordedResource[] {
  const dest = rs.find(nodeIs(target))!;
  return rs.map((r) => (nodeIs(...nodes)(r) ? { ...r, propertyDependencies: { ...r.propertyDependencies, subnetId: dest.propertyDependencies.subnetId } } : r));
}
/** The node's bundle object with its content unknown (what a rule sees if it cannot be computed at preview). */
const bundleOf = (node: string) => (r: RecordedResource) => r.type === T.object && typeof r.inputs.key === "string" && r.inputs.key.includes(`/nodes/${node}/`) && r.inputs.key.endsWith(".tar");
function withUnknownBundle(rs: RecordedResource[], node: string): RecordedResource[] {
  return rs.map((r) => (bundleOf(node)(r) ? withInputs(r, { contentBase64: UNKNOWN }) : r));
}
/** Replaces the resources a predicate picks. */
const change = (rs: RecordedResource[], predicate: (r: RecordedResource) => boolean, f: (r: RecordedResource) => RecordedResource) => rs.map((r) => (predicate(r) ? f(r) : r));
const isPointerOf = (node: string) => (r: RecordedResource) => r.type === T.object && r.inputs.key?.endsWith(`/nodes/${node}/desired.json`);
/** A line added to one file of a node's bundle (a well-formed bundle its pointer names). */
const appendTo = (path: string, line: string) => (files: { path: string; content: string }[]) => files.map((f) => (f.path === path ? { ...f, content: `${f.content}${line}\n` } : f)) as never;

const prod = syntheticCluster("prod");
const staging = syntheticCluster("staging");
const dev = syntheticCluster("dev");

type Case = () => Promise<Outcome>;
interface RuleCases {
  pass: Case[];
  fail: [Case, RegExp][];
  unknown: Case[];
  notApplicable?: Case[];
}

const run = (policy: Policy, resources: RecordedResource[], opts?: Parameters<typeof evaluate>[2]) => () => evaluate(policy, resources, opts);
const cluster = (policy: Policy, c: ReturnType<typeof syntheticCluster>, resources = c.resources, config?: Record<string, unknown>) =>
  run(policy, resources, { stackContext: c.stackContext, config });

const CASES: Record<string, RuleCases> = {
  "ebs-encrypted": {
    pass: [
      run(rules.ebsEncrypted, [resource(T.volume, "v", { encrypted: true, kmsKeyId: KEY_ARN })]),
      run(rules.ebsEncrypted, [instance("i", { ebsBlockDevices: [{ deviceName: "/dev/sdg", encrypted: true }] })]),
    ],
    fail: [
      [run(rules.ebsEncrypted, [resource(T.volume, "v", { encrypted: false })]), /EBS volume v is not encrypted/],
      [run(rules.ebsEncrypted, [instance("i", { rootBlockDevice: undefined })]), /root device is not encrypted/],
      [run(rules.ebsEncrypted, [instance("i", { ebsBlockDevices: [{ deviceName: "/dev/sdg", encrypted: false }] })]), /ebsBlockDevices\[0\] \(\/dev\/sdg\)/],
    ],
    unknown: [run(rules.ebsEncrypted, [resource(T.volume, "v", { encrypted: UNKNOWN })]), run(rules.ebsEncrypted, [instance("i", { rootBlockDevice: UNKNOWN })])],
  },
  "bucket-sse-kms": (() => {
    const b = bucket();
    const sse = (d: Record<string, unknown>) => companion(B.sse, b, { rules: [{ applyServerSideEncryptionByDefault: d, bucketKeyEnabled: true }] });
    return {
      pass: [
        run(rules.bucketSseKms, [b, sse({ sseAlgorithm: "aws:kms", kmsMasterKeyId: KEY_ARN })]),
        // linked by name, without a dependency (a literal bucket name)
        run(rules.bucketSseKms, [b, resource(B.sse, "by-name", { bucket: b.inputs.bucket, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: KEY_ARN } }] })]),
      ],
      fail: [
        [run(rules.bucketSseKms, [b, sse({ sseAlgorithm: "AES256" })]), /default encryption is "AES256", not SSE-KMS/],
        [run(rules.bucketSseKms, [b, sse({ sseAlgorithm: "aws:kms" })]), /AWS-managed aws\/s3 key/],
        [run(rules.bucketSseKms, [b]), /has no server-side encryption configuration/],
      ],
      unknown: [run(rules.bucketSseKms, [b, sse({ sseAlgorithm: "aws:kms", kmsMasterKeyId: UNKNOWN })])],
      notApplicable: [run(rules.bucketSseKms, [resource(T.volume, "v", { encrypted: true })])],
    };
  })(),
  "secrets-kms-encrypted": {
    pass: [run(rules.secretsKmsEncrypted, [resource("aws:secretsmanager/secret:Secret", "s", { kmsKeyId: KEY_ARN })])],
    fail: [
      [run(rules.secretsKmsEncrypted, [resource("aws:secretsmanager/secret:Secret", "s", { name: "x" })]), /has no kmsKeyId/],
      [run(rules.secretsKmsEncrypted, [resource("aws:secretsmanager/secret:Secret", "s", { kmsKeyId: "alias/aws/secretsmanager" })]), /AWS-managed key/],
    ],
    unknown: [run(rules.secretsKmsEncrypted, [resource("aws:secretsmanager/secret:Secret", "s", { kmsKeyId: UNKNOWN })])],
  },
  "bucket-public-access-blocked": (() => {
    const b = bucket();
    const all = { blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true };
    return {
      pass: [run(rules.bucketPublicAccessBlocked, [b, companion(B.block, b, all)])],
      fail: [
        [run(rules.bucketPublicAccessBlocked, [b, companion(B.block, b, { ...all, restrictPublicBuckets: false })]), /restrictPublicBuckets is not true/],
        [run(rules.bucketPublicAccessBlocked, [b]), /has no public access block/],
      ],
      unknown: [run(rules.bucketPublicAccessBlocked, [b, companion(B.block, b, { ...all, blockPublicPolicy: UNKNOWN })])],
    };
  })(),
  "bucket-versioning": (() => {
    const b = bucket();
    return {
      pass: [run(rules.bucketVersioning, [b, companion(B.versioning, b, { versioningConfiguration: { status: "Enabled" } })])],
      fail: [
        [run(rules.bucketVersioning, [b, companion(B.versioning, b, { versioningConfiguration: { status: "Suspended" } })]), /versioning status is "Suspended"/],
        [run(rules.bucketVersioning, [b]), /no versioning configuration/],
      ],
      unknown: [run(rules.bucketVersioning, [b, companion(B.versioning, b, { versioningConfiguration: UNKNOWN })])],
    };
  })(),
  "bucket-tls-only": (() => {
    const b = bucket();
    const arn = "arn:aws:s3:::pgha-prod-orders-eu-west-1";
    const allow = JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { AWS: "arn:aws:iam::1:root" }, Action: "s3:GetObject", Resource: `${arn}/*` }] });
    return {
      pass: [run(rules.bucketTlsOnly, [b, companion(B.policy, b, { policy: tlsOnlyPolicy(arn) })])],
      fail: [
        [run(rules.bucketTlsOnly, [b, companion(B.policy, b, { policy: allow })]), /no statement denies requests without aws:SecureTransport/],
        [run(rules.bucketTlsOnly, [b]), /no bucket policy/],
        [run(rules.bucketTlsOnly, [b, companion(B.policy, b, { policy: "{not json" })]), /not valid JSON/],
      ],
      unknown: [run(rules.bucketTlsOnly, [b, companion(B.policy, b, { policy: UNKNOWN })])],
    };
  })(),
  "bucket-lifecycle-hygiene": (() => {
    const b = bucket();
    const lc = (rs: unknown) => companion(B.lifecycle, b, { rules: rs });
    return {
      pass: [run(rules.bucketLifecycleHygiene, [b, lc(programLifecycleRules)])],
      fail: [
        [run(rules.bucketLifecycleHygiene, [b, lc(programLifecycleRules.filter((r) => r.id !== "incomplete-uploads"))]), /aborts incomplete multipart uploads/],
        [run(rules.bucketLifecycleHygiene, [b, lc([programLifecycleRules[2], { ...programLifecycleRules[1], filter: { prefix: "logical/" } }])]), /expires noncurrent versions/],
        [run(rules.bucketLifecycleHygiene, [b]), /no lifecycle configuration/],
        [run(rules.bucketLifecycleHygiene, [b, lc(programLifecycleRules), { ...lc(programLifecycleRules), name: "second", urn: "urn:second" }]), /2 lifecycle configurations/],
      ],
      unknown: [run(rules.bucketLifecycleHygiene, [b, lc(UNKNOWN)])],
    };
  })(),
  "backup-repository-lifecycle-safe": (() => {
    const b = bucket(prod.spec.backup.bucketName);
    const lc = (rs: unknown) => companion(B.lifecycle, b, { rules: rs });
    const all = (extra: RecordedResource[]) => run(rules.repositoryNotExpiredEarly, [...prod.resources, b, ...extra], { stackContext: prod.stackContext });
    return {
      pass: [
        all([lc(programLifecycleRules)]),
        // an age rule no shorter than the retention (7 days) is what the rule allows
        all([lc([...programLifecycleRules, { id: "repo-age", status: "Enabled", filter: { prefix: "pgbackrest/" }, expiration: { days: 35 } }])]),
        // disabled rules do not count
        all([lc([{ id: "old", status: "Disabled", filter: {}, expiration: { days: 1 } }])]),
      ],
      fail: [
        [all([lc([...programLifecycleRules, { id: "repo-age", status: "Enabled", filter: { prefix: "pgbackrest/" }, expiration: { days: 3 } }])]), /rule repo-age .* after 3 days, shorter than the backup retention of 7 days/],
        [all([lc([{ id: "everything", status: "Enabled", filter: {}, expiration: { days: 1 } }])]), /rule everything .*expires current objects under pgbackrest\/orders\/ after 1 days/],
        [all([lc([{ id: "cold", status: "Enabled", filter: { prefix: "pgbackrest/orders/" }, transitions: [{ days: 30, storageClass: "GLACIER" }] }])]), /moves repository objects to GLACIER/],
      ],
      unknown: [all([lc(UNKNOWN)])],
      notApplicable: [run(rules.repositoryNotExpiredEarly, [b, lc(programLifecycleRules)])],
    };
  })(),
  "ec2-imdsv2-required": {
    pass: [run(rules.imdsv2Required, [instance("i", {})]), run(rules.imdsv2Required, [instance("i", { metadataOptions: { httpEndpoint: "disabled" } })])],
    fail: [
      [run(rules.imdsv2Required, [instance("i", { metadataOptions: { httpTokens: "optional" } })]), /httpTokens is "optional"/],
      [run(rules.imdsv2Required, [instance("i", { metadataOptions: undefined })]), /httpTokens is null/],
    ],
    unknown: [run(rules.imdsv2Required, [instance("i", { metadataOptions: { httpTokens: UNKNOWN } })])],
  },
  "ec2-no-public-ip": {
    pass: [run(rules.noPublicIpOnDataNodes, [instance("db", {})]), run(rules.noPublicIpOnDataNodes, [instance("etcd", {}, "etcd")])],
    fail: [
      [run(rules.noPublicIpOnDataNodes, [instance("etcd", { associatePublicIpAddress: true }, "etcd")]), /etcd node etcd: associatePublicIpAddress is true/],
      [run(rules.noPublicIpOnDataNodes, [instance("db", { associatePublicIpAddress: undefined })]), /postgres node db: associatePublicIpAddress is null/],
      // no role tag, and the bootstrap user-data does not tell: held to the rule all the same
      [run(rules.noPublicIpOnDataNodes, [withInputs(prod.instance("db1"), { tags: {}, associatePublicIpAddress: true })]), /unidentified node orders-prod-db1: associatePublicIpAddress is true/],
      // no role tag, files in user-data (a program that still ships them there): the files tell
      [run(rules.noPublicIpOnDataNodes, [withUserData(instance("db9", { associatePublicIpAddress: true, tags: {} }), "#cloud-config\nwrite_files:\n  - path: /etc/patroni/config.d/config.yml\n    content: 'scope: x'\n")]), /postgres node db9/],
    ],
    unknown: [run(rules.noPublicIpOnDataNodes, [instance("db", { associatePublicIpAddress: UNKNOWN })])],
    notApplicable: [run(rules.noPublicIpOnDataNodes, [instance("lb", { associatePublicIpAddress: true }, "haproxy")])],
  },
  "ec2-instance-profile": {
    pass: [run(rules.instanceProfile, [instance("i", {})])],
    fail: [[run(rules.instanceProfile, [instance("i", { iamInstanceProfile: undefined })]), /has no iamInstanceProfile/]],
    unknown: [run(rules.instanceProfile, [instance("i", { iamInstanceProfile: UNKNOWN })])],
  },
  "ec2-detailed-monitoring-prod": {
    pass: [run(rules.detailedMonitoringProd, [instance("i", {})])],
    fail: [
      [run(rules.detailedMonitoringProd, [instance("i", { monitoring: false })]), /prod instance i: monitoring is false/],
      // no tier tag: the stack config's tier applies
      [run(rules.detailedMonitoringProd, [instance("i", { monitoring: false, tags: {} })], { stackContext: prod.stackContext }), /monitoring is false/],
    ],
    unknown: [run(rules.detailedMonitoringProd, [instance("i", { monitoring: UNKNOWN })])],
    notApplicable: [run(rules.detailedMonitoringProd, [instance("i", { monitoring: false }, "postgres", devTags)])],
  },
  "security-group-no-world-ingress": (() => {
    const rule = (inputs: Record<string, unknown>) => resource(SG_RULE, "r", { securityGroupId: "sg-1", ipProtocol: "tcp", ...inputs });
    const sg = (ingress: unknown[]) => resource("aws:ec2/securityGroup:SecurityGroup", "g", { vpcId: "vpc-1", ingress });
    const p = rules.noWorldIngressToServicePorts;
    return {
      pass: [
        run(p, [rule({ fromPort: 5432, toPort: 5432, cidrIpv4: "10.20.0.0/16" })]),
        run(p, [rule({ fromPort: 443, toPort: 443, cidrIpv4: "0.0.0.0/0" })]),
        run(p, [sg([{ protocol: "tcp", fromPort: 8443, toPort: 8443, cidrBlocks: ["0.0.0.0/0"] }])]),
        run(p, [resource("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "out", { ipProtocol: "-1", cidrIpv4: "0.0.0.0/0" })]),
      ],
      fail: [
        [run(p, [rule({ fromPort: 5432, toPort: 5432, cidrIpv4: "0.0.0.0/0" })]), /0\.0\.0\.0\/0 may reach port 5432/],
        [run(p, [rule({ fromPort: 22, toPort: 22, cidrIpv6: "::/0" })]), /::\/0 may reach port 22/],
        [run(p, [rule({ fromPort: 5000, toPort: 6000, cidrIpv4: "0.0.0.0/0" })]), /ports 5000, 5001, 5432/],
        [run(p, [rule({ ipProtocol: "-1", cidrIpv4: "0.0.0.0/0" })]), /ports 22, 2379, 2380, 5000, 5001, 5432, 6432, 7000, 8008/],
        [run(p, [sg([{ protocol: "tcp", fromPort: 8008, toPort: 8008, cidrBlocks: ["10.0.0.0/8", "0.0.0.0/0"] }])]), /security group g ingress\[0\]: 0\.0\.0\.0\/0 may reach port 8008/],
        [run(p, [resource("aws:ec2/securityGroupRule:SecurityGroupRule", "legacy", { type: "ingress", protocol: "tcp", fromPort: 2379, toPort: 2380, cidrBlocks: ["0.0.0.0/0"] })]), /ports 2379, 2380/],
        [run(p, [rule({ fromPort: 7000, toPort: 7000, cidrIpv4: "0.0.0.0/0" })], { config: { ports: [7000] } }), /port 7000/],
      ],
      unknown: [run(p, [rule({ fromPort: 5432, toPort: 5432, cidrIpv4: UNKNOWN })]), run(p, [sg(UNKNOWN as unknown as unknown[])])],
    };
  })(),
  "etcd-quorum": {
    pass: [cluster(rules.etcdQuorum, staging), cluster(rules.etcdQuorum, prod), cluster(rules.etcdQuorum, dev)],
    fail: [
      [cluster(rules.etcdQuorum, staging, without(staging.resources, nodeIs("etcd3"))), /2 etcd members .*even count/],
      [cluster(rules.etcdQuorum, staging, without(staging.resources, nodeIs("etcd2", "etcd3"))), /1 etcd member in tier staging/],
      [cluster(rules.etcdQuorum, prod, moveTo(prod.resources, ["etcd2"], "etcd1")), /etcd members span 2 AZs/],
      [cluster(rules.etcdQuorum, prod, without(prod.resources, nodeIs("etcd1", "etcd2", "etcd3"))), /no etcd member/],
    ],
    unknown: [cluster(rules.etcdQuorum, prod, prod.resources.map((r) => (r.type === T.subnet && r.name.endsWith("-2") ? { ...r, state: { ...r.state, availabilityZone: UNKNOWN } } : r)))],
    notApplicable: [run(rules.etcdQuorum, [bucket()])],
  },
  "postgres-az-spread": {
    pass: [cluster(rules.postgresSpread, prod), cluster(rules.postgresSpread, staging)],
    fail: [
      [cluster(rules.postgresSpread, prod, moveTo(prod.resources, ["db3"], "db1")), /PostgreSQL members span 2 AZs .* tier prod needs 3/],
      [cluster(rules.postgresSpread, staging, moveTo(staging.resources, ["db2", "db3"], "db1")), /span 1 AZ .* tier staging needs 2/],
      [cluster(rules.postgresSpread, prod, without(prod.resources, nodeIs("db3"))), /2 PostgreSQL members/],
    ],
    unknown: [cluster(rules.postgresSpread, prod, withUnknownBundle(prod.resources, "db2"))],
    notApplicable: [cluster(rules.postgresSpread, dev)],
  },
  "haproxy-redundancy-prod": {
    pass: [cluster(rules.haproxyRedundancyProd, prod)],
    fail: [
      [cluster(rules.haproxyRedundancyProd, prod, without(prod.resources, nodeIs("lb2"))), /1 HAProxy node in prod/],
      [cluster(rules.haproxyRedundancyProd, prod, moveTo(prod.resources, ["lb2"], "lb1")), /all sit in eu-west-1a/],
    ],
    unknown: [cluster(rules.haproxyRedundancyProd, prod, withUnknownBundle(prod.resources, "lb1"))],
    notApplicable: [cluster(rules.haproxyRedundancyProd, staging)],
  },
  "backup-retention-minimum": (() => {
    const oneDay = syntheticCluster("prod", { backup: { fullRetentionDays: 1 } });
    return {
      pass: [cluster(rules.backupRetentionMinimum, prod), cluster(rules.backupRetentionMinimum, dev)],
      fail: [
        [cluster(rules.backupRetentionMinimum, oneDay), /db1: full backups are kept 1 day; tier prod requires at least 7/],
        [cluster(rules.backupRetentionMinimum, staging, staging.resources, { minimumDays: 14 }), /kept 7 days; tier staging requires at least 14/],
      ],
      unknown: [cluster(rules.backupRetentionMinimum, prod, withUnknownBundle(prod.resources, "db1"))],
    };
  })(),
  "synchronous-replication": (() => {
    const asyncProd = syntheticCluster("prod", { postgres: { syncMode: "off" }, objectives: { failoverRpoSeconds: 60 } });
    return {
      pass: [cluster(rules.synchronousReplicationProd, prod), cluster(rules.synchronousReplicationProd, syntheticCluster("staging", { postgres: { syncMode: "on" } }), undefined, { failoverRpoSeconds: 0 })],
      fail: [
        [cluster(rules.synchronousReplicationProd, asyncProd), /synchronous_mode is false; prod needs synchronous commit/],
        // a staging stack that promises RPO 0 on failover (policy config) but replicates asynchronously
        [cluster(rules.synchronousReplicationProd, staging, staging.resources, { failoverRpoSeconds: 0 }), /the promised failover RPO of 0 s \(policy config\)/],
      ],
      unknown: [cluster(rules.synchronousReplicationProd, prod, withUnknownBundle(prod.resources, "db2"))],
      notApplicable: [cluster(rules.synchronousReplicationProd, staging)],
    };
  })(),
  "pitr-rpo-archive-timeout": (() => {
    const stated = syntheticCluster("staging", { objectives: { pitrRpoSeconds: 200 }, backup: { archiveTimeoutSeconds: 150 } });
    return {
      pass: [
        cluster(rules.pitrRpoArchiveTimeout, prod),
        cluster(rules.pitrRpoArchiveTimeout, stated), // 150 s ≤ the stack's stated 200 s
      ],
      fail: [
        [cluster(rules.pitrRpoArchiveTimeout, prod, prod.resources, { pitrRpoSeconds: 30 }), /archive_timeout 60 s exceeds the promised PITR RPO of 30 s \(policy config\)/],
        // without the stack's own statement, staging's tier default (120 s) applies
        [run(rules.pitrRpoArchiveTimeout, stated.resources, {}), /archive_timeout 150 s exceeds the promised PITR RPO of 120 s \(the staging tier's default/],
      ],
      unknown: [cluster(rules.pitrRpoArchiveTimeout, prod, withUnknownBundle(prod.resources, "db3"))],
    };
  })(),
  "failover-within-rto": (() => {
    const slowChecks = syntheticCluster("prod", { haproxy: { checkIntervalMs: 10000 } });
    return {
      pass: [cluster(rules.failoverWithinRto, prod), cluster(rules.failoverWithinRto, staging), cluster(rules.failoverWithinRto, dev)],
      fail: [
        [cluster(rules.failoverWithinRto, slowChecks), /ttl 20 s \+ loop_wait 4 s \+ HAProxy detection 30 s .* = 54 s exceeds the promised RTO of 45 s/],
        [cluster(rules.failoverWithinRto, prod, prod.resources, { rtoSeconds: 20 }), /= 27 s exceeds the promised RTO of 20 s \(policy config\)/],
      ],
      unknown: [cluster(rules.failoverWithinRto, prod, withUnknownBundle(prod.resources, "lb2"))],
    };
  })(),
  "monthly-budget": (() => {
    const p = rules.monthlyBudget;
    const ctx = { stack: "prod", config: { "postgres-ha:tier": "prod", "aws:region": "eu-west-1" } };
    const db = instance("db1", { instanceType: "r7g.large" });
    return {
      pass: [run(p, [db], { config: { monthlyBudgetUsd: 1000 }, stackContext: ctx })],
      fail: [
        [run(p, [db], { config: { monthlyBudgetUsd: 10 }, stackContext: ctx }), /estimated \$90\.26 per month \(on-demand list prices, eu-west-1\) exceeds the budget of \$10\.00 \(policy config\); largest: EC2 r7g\.large \$87\.45/],
        [run(p, [db, instance("db2", { instanceType: "z9q.huge" })], { config: { monthlyBudgetUsd: 1000 }, stackContext: ctx }), /cannot be estimated.*no EC2 price for instance type z9q\.huge/],
      ],
      unknown: [run(p, [instance("db1", { instanceType: UNKNOWN })], { config: { monthlyBudgetUsd: 1000 }, stackContext: ctx })],
      notApplicable: [run(p, [db], { stackContext: ctx })],
    };
  })(),
  "prod-data-protected": (() => {
    const p = rules.statefulResourcesProtectedProd;
    const volume = (inputs: Record<string, unknown>, options: Record<string, boolean>) => resource(T.volume, "db1-data", { encrypted: true, finalSnapshot: true, tags: prodTags, ...inputs }, { options });
    return {
      pass: [run(p, [bucket(), volume({}, { protect: true, retainOnDelete: true }), resource("aws:kms/key:Key", "key", { tags: prodTags }, { options: { protect: true } })])],
      fail: [
        [run(p, [bucket(undefined, { options: { protect: false, retainOnDelete: true } })]), /backup bucket orders-prod-backups is not protected/],
        [run(p, [resource(T.bucket, "b", { bucket: "x", forceDestroy: true, tags: prodTags }, { options: { protect: true, retainOnDelete: true } })]), /forceDestroy/],
        [run(p, [volume({ finalSnapshot: false }, { protect: true, retainOnDelete: true })]), /no final snapshot/],
        [run(p, [volume({}, { protect: true, retainOnDelete: false })]), /not retained on delete/],
        [run(p, [resource("aws:kms/key:Key", "key", { tags: prodTags })]), /cluster KMS key key is not protected/],
      ],
      unknown: [run(p, [resource(T.bucket, "b", { bucket: "x", forceDestroy: UNKNOWN, tags: prodTags }, { options: { protect: true, retainOnDelete: true } })])],
      notApplicable: [run(p, [resource(T.bucket, "b", { bucket: "x", forceDestroy: true, tags: devTags })])],
    };
  })(),
  "user-data-no-passwords": (() => {
    const p = rules.userDataNoPasswords;
    const cloudConfig = (content: string) => `#cloud-config\nwrite_files:\n  - path: /etc/app.env\n    permissions: "0600"\n    content: |\n${content.split("\n").map((l) => `      ${l}`).join("\n")}\n`;
    const node = (text: string) => withUserData(instance("app", {}), text);
    return {
      pass: [
        run(p, prod.resources.filter((r) => r.type === T.instance)),
        run(p, dev.resources.filter((r) => r.type === T.instance)),
        run(p, [node(cloudConfig('PGHA_CLUSTER_SECRET=postgres-ha/prod/orders/cluster\nPATRONI_SUPERUSER_PASSWORD="$(jq -r .superuserPassword)"\npassword_encryption = scram-sha-256'))]),
      ],
      fail: [
        [run(p, [node(cloudConfig("PGPASSWORD=Sup3rSecret9"))]), /\/etc\/app\.env line 1 holds a literal value for PGPASSWORD/],
        [run(p, [node(cloudConfig("superuser:\n  password: 'c0rrect-Horse'"))]), /literal value for password/],
        [run(p, [node(cloudConfig("DATABASE_URL=postgres://app:hunter2Pass@db:5432/app"))]), /a password inside a URL/],
        // Fixtures, not secrets: a PEM frame assembled at run time (no key material) and AWS's own
        // documentation example key id, so repository secret scanners have nothing to flag.
        [run(p, [node(cloudConfig(["-----BEGIN EC", "PRIVATE KEY-----\nMHcCAQEE\n-----END EC", "PRIVATE KEY-----"].join(" ")))]), /a PEM private key/],
        [run(p, [node(cloudConfig("repo1-cipher-pass=9f8e7d6c5b4a39281706"))]), /literal value for repo1-cipher-pass/],
        [run(p, [resource(T.instance, "plain", { userData: "#!/bin/sh\nexport AWS_ACCESS_KEY_ID=" + ["AKIA", "IOSFODNN7EXAMPLE"].join("") + "\n" })]), /an AWS access key id/],
      ],
      unknown: [run(p, [instance("i", { userDataBase64: UNKNOWN })])],
    };
  })(),
  "user-data-no-generated-secrets": (() => {
    const p = rules.userDataNoGeneratedSecrets;
    const password = (result: string) => resource("random:index/randomPassword:RandomPassword", "orders-prod-superuser", { length: 32 }, { state: { result } });
    const leaked = "Zq8Lr2Vx9Pn4Tm6Kd1Hs3Bw7Yc5Gf0Ja";
    const leaky = withUserData(instance("orders-prod-db1", {}), `#cloud-config\nwrite_files:\n  - path: /etc/x\n    content: "${leaked}"\n`);
    return {
      pass: [run(p, [...prod.resources, password(leaked)])],
      fail: [
        [run(p, [leaky, password(leaked)]), /user-data contains the password orders-prod-superuser/],
        [run(p, [...withEditedBundle(prod.resources, "db2", appendTo("/etc/pgha/node.env", `PGHA_NOTE=${leaked}`)), password(leaked)]), /bundles\/orders\/nodes\/db2\/[0-9a-f]{64}\.tar \/etc\/pgha\/node\.env contains the password orders-prod-superuser/],
        [run(p, [...change(prod.resources, (r) => r.type === T.command, (r) => withInputs(r, { environment: { ...r.inputs.environment, PGHA_DEBUG: leaked } })), password(leaked)]), /the command orders-prod-rollout contains the password/],
      ],
      unknown: [run(p, [...prod.resources, password(UNKNOWN)])],
      notApplicable: [run(p, prod.resources)],
    };
  })(),
  "required-tags": {
    pass: [run(rules.requiredTags, [resource(T.volume, "v", { tags: prodTags })]), run(rules.requiredTags, [resource("aws:ec2/route:Route", "no-tags", {})])],
    fail: [
      [run(rules.requiredTags, [resource(T.volume, "v", { tags: { Name: "v" } })]), /v lacks tags pgha:cluster, pgha:stack, pgha:tier/],
      [run(rules.requiredTags, [resource(T.volume, "v", { tags: prodTags })], { config: { tags: ["owner"] } }), /lacks tag owner/],
    ],
    unknown: [run(rules.requiredTags, [resource(T.volume, "v", { tags: UNKNOWN })])],
  },
  "bundle-objects-sse-kms": (() => {
    const p = rules.bundleObjectsSseKms;
    const db1Bundle = bundleOf("db1");
    const key = resource("aws:kms/key:Key", "orders-prod-key", { tags: prodTags }, { state: { arn: KEY_ARN, keyId: "1234" } });
    // as the program links them: the key is an output of the stack's KMS key (known at preview as a dependency)
    const linked = prod.resources.map((r) => (r.type === T.object ? { ...r, propertyDependencies: { kmsKeyId: [key.urn] } } : r));
    return {
      pass: [cluster(p, prod), cluster(p, dev), run(p, [key, ...linked.map((r) => (r.type === T.object ? withInputs(r, { kmsKeyId: UNKNOWN }) : r))])],
      fail: [
        [cluster(p, prod, change(prod.resources, db1Bundle, (r) => withInputs(r, { serverSideEncryption: "AES256", kmsKeyId: undefined }))), /bundles\/orders\/nodes\/db1\/[0-9a-f]{64}\.tar \(orders-prod-db1-bundle\) is stored with "AES256", not SSE-KMS/],
        [cluster(p, prod, change(prod.resources, db1Bundle, (r) => withInputs(r, { serverSideEncryption: undefined, kmsKeyId: undefined }))), /sets no serverSideEncryption/],
        [cluster(p, prod, change(prod.resources, isPointerOf("lb2"), (r) => withInputs(r, { kmsKeyId: "alias/aws/s3" }))), /desired\.json \(orders-prod-lb2-desired\) uses the AWS-managed key alias\/aws\/s3/],
        [cluster(p, prod, change(prod.resources, db1Bundle, (r) => withInputs(r, { kmsKeyId: undefined }))), /SSE-KMS without kmsKeyId/],
        // the stack has a cluster key, and this object is encrypted with another one
        [run(p, [key, ...change(linked, db1Bundle, (r) => ({ ...withInputs(r, { kmsKeyId: "arn:aws:kms:eu-west-1:123456789012:key/other" }), propertyDependencies: {} }))]), /encrypted with arn:aws:kms:eu-west-1:123456789012:key\/other, not the cluster key \(orders-prod-key\)/],
      ],
      unknown: [cluster(p, prod, change(prod.resources, db1Bundle, (r) => withInputs(r, { kmsKeyId: UNKNOWN })))],
      notApplicable: [run(p, [bucket()]), run(p, [resource(T.object, "other", { key: "notes/readme.txt", content: "x" })])],
    };
  })(),
  "node-role-own-bundle-only": (() => {
    const p = rules.nodeRoleOwnBundleOnly;
    const arn = `arn:aws:s3:::${prod.spec.backup.bucketName}`;
    const editPolicy = (node: string, edit: (doc: { Statement: any[] }) => void) =>
      change(prod.resources, (r) => r === prod.rolePolicy(node), (r) => {
        const doc = JSON.parse(r.inputs.policy);
        edit(doc);
        return withInputs(r, { policy: JSON.stringify(doc) });
      });
    const ownBundles = (doc: { Statement: any[] }) => doc.Statement.find((st) => st.Sid === "ReadOwnBundles");
    const role = prod.resources.find((r) => r.type === T.role && r.inputs.tags["pgha:node"] === "db1")!;
    const attach = (policyArn: string) => resource("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "orders-prod-db1-extra", { role: "orders-prod-db1-role", policyArn }, { propertyDependencies: { role: [role.urn] } });
    return {
      pass: [
        cluster(p, prod),
        cluster(p, staging),
        // a wildcard over nodes/ with every other node denied explicitly
        cluster(p, prod, editPolicy("db1", (doc) => {
          ownBundles(doc).Resource = [`${arn}/bundles/orders/nodes/*`];
          doc.Statement.push({ Sid: "NotOthers", Effect: "Deny", Action: "s3:GetObject", NotResource: [`${arn}/bundles/orders/nodes/db1/*`, `${arn}/bundles/orders/software/*`] });
        })),
        // an AWS-managed policy that grants no S3 reads
        cluster(p, prod, [...prod.resources, attach("arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore")]),
      ],
      fail: [
        [cluster(p, prod, editPolicy("db1", (doc) => (ownBundles(doc).Resource = [`${arn}/bundles/orders/nodes/*`, `${arn}/bundles/orders/software/*`]))), /^db1's role orders-prod-db1 \(aws:iam\/role:Role\) can read the bundles of db2, db3, etcd1, etcd2, etcd3, lb1, lb2, mon1 \(inline policy orders-prod-db1-node statement ReadOwnBundles: s3:GetObject on arn:aws:s3:::[^ ]+\/bundles\/orders\/nodes\/\*\)/],
        [cluster(p, prod, editPolicy("lb2", (doc) => doc.Statement.push({ Effect: "Allow", Action: "s3:Get*", Resource: "*" }))), /lb2's role .* can read the bundles of db1, .* s3:GetObject on \*/],
        // a single other node, with a `?` wildcard
        [cluster(p, prod, editPolicy("etcd1", (doc) => ownBundles(doc).Resource.push(`${arn}/bundles/orders/nodes/etcd?/desired.json`))), /etcd1's role .* can read the bundles of etcd2, etcd3 /],
        [cluster(p, prod, [...prod.resources, attach("arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")]), /db1's role orders-prod-db1: orders-prod-db1-extra attaches arn:aws:iam::aws:policy\/AmazonS3ReadOnlyAccess, which reads every node's bundle/],
      ],
      unknown: [cluster(p, prod, change(prod.resources, (r) => r === prod.rolePolicy("db2"), (r) => withInputs(r, { policy: UNKNOWN })))],
      notApplicable: [run(p, [bucket()])],
    };
  })(),
  "bundle-pointers-resolve": (() => {
    const p = rules.bundlePointersResolve;
    const zero = "0".repeat(64);
    const pointerTo = (node: string, f: (pointer: { bundle: string; software: string }) => object) =>
      change(prod.resources, isPointerOf(node), (r) => withInputs(r, { content: JSON.stringify(f(JSON.parse(r.inputs.content))) }));
    const db1 = prod.bundleObject("db1");
    return {
      pass: [cluster(p, prod), cluster(p, staging), cluster(p, dev)],
      fail: [
        [cluster(p, prod, pointerTo("db2", (x) => ({ ...x, software: zero }))), /^db2: the desired pointer names node software 000000000000…, but the stack uploads no bundles\/orders\/software\/0{64}\.tar\.\ndb2: the bundle's manifest names node software [0-9a-f]{12}…, the pointer 000000000000…\.$/],
        [cluster(p, prod, without(prod.resources, bundleOf("db1"))), /db1: the desired pointer names bundle [0-9a-f]{12}…, but the stack uploads no bundles\/orders\/nodes\/db1\/[0-9a-f]{64}\.tar: the node cannot fetch it/],
        [cluster(p, prod, without(prod.resources, isPointerOf("etcd2"))), /etcd2: no desired pointer bundles\/orders\/nodes\/etcd2\/desired\.json/],
        [cluster(p, prod, pointerTo("lb1", () => ({ bundle: "not a hash" }))), /lb1: the desired pointer bundles\/orders\/nodes\/lb1\/desired\.json is not \{"bundle"/],
        // tampered content under the same name: the node refuses it
        [cluster(p, prod, change(prod.resources, bundleOf("db3"), (r) => withInputs(r, { contentBase64: db1.inputs.contentBase64 }))), /db3: the bundle object bundles\/orders\/nodes\/db3\/[0-9a-f]{64}\.tar has sha256 [0-9a-f]{12}…, not the [0-9a-f]{12}… it is named by: the node refuses it/],
        // another node's bundle, correctly named: the manifest says whose it is
        [
          cluster(p, prod, (() => {
            const hash = db1.inputs.key.match(/([0-9a-f]{64})\.tar$/)[1];
            const rs = change(prod.resources, bundleOf("db3"), (r) => withInputs(r, { key: r.inputs.key.replace(/[0-9a-f]{64}\.tar$/, `${hash}.tar`), contentBase64: db1.inputs.contentBase64 }));
            return change(rs, isPointerOf("db3"), (r) => withInputs(r, { content: JSON.stringify({ ...JSON.parse(r.inputs.content), bundle: hash }) }));
          })()),
          /db3: the bundle bundles\/orders\/nodes\/db3\/[0-9a-f]{64}\.tar is node db1's \(its manifest says so\)/,
        ],
        // node software that is not what its name says: reported once, for the object
        [
          cluster(p, prod, change(prod.resources, (r) => r.type === T.object && r.inputs.key.includes("/software/"), (r) => withInputs(r, { contentBase64: writeTar([{ path: "usr/local/sbin/pgha-node", mode: 0o755, content: Buffer.from("#!/bin/sh\n") }]).toString("base64") }))),
          /^the node software object bundles\/orders\/software\/[0-9a-f]{64}\.tar is not what its name says \(sha256 [0-9a-f]{12}…\): every node refuses it\.$/,
        ],
        [cluster(p, prod, change(prod.resources, nodeIs("lb2"), (r) => ({ ...r, options: { ...r.options, dependencies: [] } }))), /^lb2: the instance does not wait for its desired pointer bundles\/orders\/nodes\/lb2\/desired\.json \(dependsOn\)/],
        [cluster(p, prod, change(prod.resources, isPointerOf("db1"), (r) => ({ ...r, options: { ...r.options, dependencies: [] } }))), /is not written after the software object .*\n.*is not written after its bundle/],
      ],
      unknown: [cluster(p, prod, change(prod.resources, isPointerOf("db1"), (r) => withInputs(r, { content: UNKNOWN }))), cluster(p, prod, withUnknownBundle(prod.resources, "etcd3"))],
      notApplicable: [cluster(p, prod, prod.resources.filter((r) => r.type !== T.object))],
    };
  })(),
  "bundle-no-passwords": (() => {
    const p = rules.bundleNoPasswords;
    const objects = (c: ReturnType<typeof syntheticCluster>) => c.resources.filter((r) => r.type === T.object);
    const statsAuth = (files: { path: string; content: string }[]) =>
      files.map((f) => (f.path === "/etc/haproxy/pgha.cfg" ? { ...f, content: f.content.replace(/stats auth .*/, "stats auth admin:Adm1nPassw0rd") } : f)) as never;
    return {
      pass: [run(p, objects(prod)), run(p, objects(dev))],
      fail: [
        [run(p, withEditedBundle(prod.resources, "lb1", statsAuth).filter(bundleOf("lb1"))), /^orders-prod-lb1-bundle \(bundles\/orders\/nodes\/lb1\/[0-9a-f]{64}\.tar\): \/etc\/haproxy\/pgha\.cfg line \d+ holds a literal HAProxy stats password\.$/],
        [run(p, withEditedBundle(prod.resources, "db1", appendTo("/etc/pgha/node.env", "PGPASSWORD=Sup3rSecret9")).filter(bundleOf("db1"))), /\/etc\/pgha\/node\.env line \d+ holds a literal value for PGPASSWORD/],
        [run(p, [withInputs(prod.pointer("db2"), { content: '{"bundle": "x", "token": "Zq8Lr2Vx9Pn4Tm6Kd1Hs"}' })]), /desired\.json line 1 holds a literal value for token/],
      ],
      unknown: [run(p, withUnknownBundle(prod.resources, "db1").filter(bundleOf("db1")))],
      notApplicable: [run(p, [resource(T.object, "notes", { key: "notes/readme.txt", content: "PGPASSWORD=Sup3rSecret9" }), instance("i", {})])],
    };
  })(),
  "pg-hba-hostssl-only": (() => {
    const noTls = syntheticCluster("prod", { tls: { enabled: false } });
    return {
      pass: [cluster(rules.pgHbaHostsslOnly, prod), cluster(rules.pgHbaHostsslOnly, dev)],
      fail: [
        [cluster(rules.pgHbaHostsslOnly, noTls), /plain `host` line "host replication replicator 10\.20\.0\.10\/32 scram-sha-256" admits connections without TLS/],
        // every place a member gets pg_hba from, named once per member
        [cluster(rules.pgHbaHostsslOnly, noTls), /db1: plain `host` line .* \(in \/etc\/patroni\/dynamic\.json; \/etc\/patroni\/config\.d\/config\.yml bootstrap\.dcs; \/etc\/patroni\/pg_hba\.conf\)/],
        // one `host` line in one member's bundle (the DCS configuration pgha-node applies)
        [
          cluster(rules.pgHbaHostsslOnly, prod, withEditedBundle(prod.resources, "db2", (files) =>
            files.map((f) => (f.path === "/etc/patroni/dynamic.json" ? { ...f, content: f.content.replace('"hostssl all all 10.20.0.40/32 scram-sha-256"', '"host all all 10.20.0.40/32 scram-sha-256"') } : f)),
          )),
          /^db2: plain `host` line "host all all 10\.20\.0\.40\/32 scram-sha-256" admits connections without TLS \(use hostssl\) \(in \/etc\/patroni\/dynamic\.json\)$/,
        ],
      ],
      unknown: [cluster(rules.pgHbaHostsslOnly, prod, withUnknownBundle(prod.resources, "db1"))],
      notApplicable: [run(rules.pgHbaHostsslOnly, [bucket()])],
    };
  })(),
  "tls-everywhere": (() => {
    const noTls = syntheticCluster("prod", { tls: { enabled: false } });
    return {
      pass: [cluster(rules.tlsEverywhere, prod), cluster(rules.tlsEverywhere, staging), cluster(rules.tlsEverywhere, dev)],
      fail: [
        [cluster(rules.tlsEverywhere, noTls), /db1: \/etc\/patroni\/postgresql\.base\.conf: ssl = off/],
        [cluster(rules.tlsEverywhere, noTls), /etcd1: \/etc\/etcd\/pgha-etcd\.yml: listen-peer-urls uses http:\/\//],
        [cluster(rules.tlsEverywhere, noTls), /replication\.sslmode is unset \(prefer\), not verify-full/],
        [cluster(rules.tlsEverywhere, noTls), /lb1: \/etc\/haproxy\/pgha\.cfg: "server db1 .*" checks Patroni's REST API without verified TLS/],
      ],
      unknown: [cluster(rules.tlsEverywhere, prod, withUnknownBundle(prod.resources, "etcd2"))],
    };
  })(),
};

test("every rule of the pack has passing, failing and unknown cases here", () => {
  expect(Object.keys(CASES).sort()).toEqual(policies.map((p) => p.name).sort());
  for (const [name, c] of Object.entries(CASES)) {
    expect([name, c.pass.length > 0, c.fail.length > 0, c.unknown.length > 0]).toEqual([name, true, true, true]);
  }
});

describe.each(Object.keys(CASES))("%s", (name) => {
  const c = CASES[name];
  test.each(c.pass.map((f, i) => [i, f] as const))("passes (case %i)", async (_i, f) => expectPass(await f()));
  test.each(c.fail.map(([f, re], i) => [i, re, f] as const))("fails (case %i: %s)", async (_i, re, f) => expectViolation(await f(), re));
  test.each(c.unknown.map((f, i) => [i, f] as const))("an unknown value is reported as not evaluated, never passed (case %i)", async (_i, f) => expectCouldNotRun(await f()));
  if (c.notApplicable) {
    test.each(c.notApplicable.map((f, i) => [i, f] as const))("not applicable (case %i)", async (_i, f) => {
      const o = await f();
      expect(o.messages).toEqual([]);
      expect(o.notApplicable).toBeTruthy();
    });
  }
});

describe("reading what the program delivers", () => {
  test("pg_hba lines: hostssl + scram only, hostnossl only to reject", () => {
    expect(rules.hbaLineProblem("local all postgres peer")).toBeUndefined();
    expect(rules.hbaLineProblem("hostnossl all all 0.0.0.0/0 reject")).toBeUndefined();
    expect(rules.hbaLineProblem("hostssl all all 10.0.0.0/8 scram-sha-256")).toBeUndefined();
    expect(rules.hbaLineProblem("hostssl all all 10.0.0.0/8 md5")).toMatch(/uses md5/);
    expect(rules.hbaLineProblem("hostssl all all 10.0.0.0/8 trust")).toMatch(/uses trust/);
    expect(rules.hbaLineProblem("hostnossl all all 10.0.0.0/8 scram-sha-256")).toMatch(/without TLS/);
    expect(rules.hbaLineProblem("host all all 10.0.0.0/8 scram-sha-256")).toMatch(/plain `host` line/);
  });

  test("HAProxy detection time: default-server settings, overridden per server", () => {
    expect(rules.haproxyTiming("defaults\n  default-server inter 1000ms fall 3\n  server a 1:1 check\n")).toEqual({ interMs: 1000, fall: 3, detectionMs: 3000 });
    expect(rules.haproxyTiming("server a 1:1 check\n")).toEqual({ interMs: 2000, fall: 3, detectionMs: 6000 }); // HAProxy's defaults
    expect(rules.haproxyTiming("default-server inter 2s fall 2\nserver a 1:1 check inter 5s\n").detectionMs).toBe(10000);
  });

  test("each node's files are read from the bundle its desired pointer names (decoded, checked like the node checks it)", () => {
    const asPolicyResources = (rs: RecordedResource[]) => {
      const out = rs.map((r) => ({ ...r, props: r.state, propertyDependencies: {}, dependencies: [] as unknown[] }));
      const byUrn = new Map(out.map((r) => [r.urn, r]));
      rs.forEach((r, i) => (out[i].dependencies = r.options.dependencies.map((u) => byUrn.get(u))));
      return out as never;
    };
    const facts = rules.clusterFacts(asPolicyResources(prod.resources));
    expect([facts.readProblems, facts.deliveryProblems]).toEqual([[], []]);
    expect(facts.nodes.map((n) => n.name).sort()).toEqual(prod.spec.nodes.map((n) => n.name).sort());
    for (const n of facts.nodes) {
      const pointer = JSON.parse(prod.pointer(n.name).inputs.content);
      expect(n.bundle).toMatchObject({ hash: pointer.bundle, software: pointer.software });
      expect(n.bundle!.manifest!.node).toBe(n.name);
      // every file of the manifest, from the bundle; the bootstrap from the user-data
      for (const f of n.bundle!.manifest!.files) expect(n.files.get(f.path)).toMatchObject({ source: `bundle ${pointer.bundle.slice(0, 12)}…`, onChange: f.onChange });
      expect(n.files.get("/etc/pgha/bootstrap.env")!.source).toBe("user-data");
    }
    const db1 = facts.nodes.find((n) => n.name === "db1")!;
    expect(JSON.parse(db1.files.get("/etc/patroni/dynamic.json")!.content).synchronous_mode).toBe("quorum");
    expect(facts.dynamicConfigs.filter((d) => d.owner === "db1").map((d) => d.place)).toEqual(["/etc/patroni/dynamic.json", "/etc/patroni/config.d/config.yml bootstrap.dcs"]);
  });

  test("a bundle that is not what its name says is not read; every rule that needs its files says why", async () => {
    const tampered = change(prod.resources, bundleOf("db1"), (r) => withInputs(r, { contentBase64: prod.bundleObject("db2").inputs.contentBase64 }));
    const o = await evaluate(rules.synchronousReplicationProd, tampered, { stackContext: prod.stackContext });
    expect(o.messages.join("\n")).toMatch(/db1: the bundle object bundles\/orders\/nodes\/db1\/[0-9a-f]{64}\.tar has sha256 .* the node refuses it/);
    // db1's dynamic configuration is not counted from a bundle it would refuse
    expect(o.messages.join("\n")).not.toMatch(/db1: synchronous_mode/);
  });

  test("the promises' defaults are the tiers' published objectives", () => {
    for (const tier of ["dev", "staging", "prod"] as const) {
      expect(rules.objective(tier, "rtoSeconds", undefined)).toEqual({ value: TIER_DEFAULTS[tier].objectives.rtoSeconds, source: `the ${tier} tier's default objectives.rtoSeconds` });
      expect(rules.MINIMUM_RETENTION_DAYS[tier]).toBeLessThanOrEqual(TIER_DEFAULTS[tier].backup.fullRetentionDays);
    }
  });
});

describe("enforcement per environment", () => {
  const saved = { config: process.env.PULUMI_CONFIG, stack: process.env.PULUMI_STACK };
  afterEach(() => {
    for (const [k, v] of [["PULUMI_CONFIG", saved.config], ["PULUMI_STACK", saved.stack]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  test("the pack's default level follows the stack the engine runs it for (PULUMI_CONFIG, PULUMI_STACK)", () => {
    process.env.PULUMI_CONFIG = JSON.stringify({ "postgres-ha:tier": "staging", "aws:region": "eu-west-1" });
    expect(rules.packArgs().enforcementLevel).toBe("advisory");
    process.env.PULUMI_CONFIG = JSON.stringify({ "postgres-ha:tier": "prod", "aws:region": "eu-west-1" });
    expect(rules.packArgs().enforcementLevel).toBe("mandatory");
    delete process.env.PULUMI_CONFIG;
    process.env.PULUMI_STACK = "dev";
    expect(rules.packArgs().enforcementLevel).toBe("advisory");
    process.env.PULUMI_STACK = "orders-eu";
    expect(rules.packArgs().enforcementLevel).toBe("mandatory"); // unknown tier: fail closed
    expect(rules.packArgs().policies).toBe(policies);
  });

  test("no rule hard-codes its own level (the environment decides)", () => {
    for (const p of policies) expect([p.name, p.enforcementLevel]).toEqual([p.name, undefined]);
  });
});
