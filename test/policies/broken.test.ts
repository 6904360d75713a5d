// Deliberately broken stacks: each is refused in prod by the rule that guards what it breaks —
// and by no other rule. Where the config validation refuses the break itself (a /0 client CIDR,
// an even etcd count), the break is made at the resource level: a mock override changes what the
// provider would be asked for, or the recorded resources are changed before evaluation.
import { checkRun, type CheckReport } from "../../src/plan/check";
import { ROOT, runProgram, type ProgramRun, type RecordedResource } from "../helpers/mocks";
import { cloneRun, withEditedBundle, withInputs } from "./helpers";

jest.setTimeout(60_000);

const blockingRules = (r: CheckReport) => [...new Set(r.result!.blocking.map((d) => d.policyName))].sort();
const violationsOf = (r: CheckReport, policy: string) => r.result!.diagnostics.filter((d) => d.policyName === policy && d.kind === "violation");

async function prodCheck(run: ProgramRun): Promise<CheckReport> {
  if (run.error) throw run.error;
  return checkRun(run, { root: ROOT });
}

describe.each([
  ["1-day retention", { backup: { fullRetentionDays: 1 } }, ["backup-retention-minimum"], /full backups are kept 1 day; tier prod requires at least 7/],
  ["asynchronous replication (failover RPO restated as 60 s)", { postgres: { syncMode: "off" }, objectives: { failoverRpoSeconds: 60 } }, ["synchronous-replication"], /synchronous_mode is false; prod needs synchronous commit/],
  ["TLS disabled", { tls: { enabled: false } }, ["pg-hba-hostssl-only", "tls-everywhere"], /plain `host` line/],
  ["HAProxy checks too slow for the RTO", { haproxy: { checkIntervalMs: 8000 } }, ["failover-within-rto"], /exceeds the promised RTO of 45 s/],
] as const)("prod with %s", (_what, overrides, expected, message) => {
  let report: CheckReport;
  beforeAll(async () => {
    report = await prodCheck(await runProgram({ stack: "prod", overrides: overrides as Record<string, unknown> }));
  });
  test(`is refused by ${expected.join(" and ")} only`, () => {
    expect(blockingRules(report)).toEqual([...expected]);
    expect(report.result!.diagnostics.map((d) => d.message).join("\n")).toMatch(message);
  });
});

describe("breaks the config cannot express, made at the resource level", () => {
  test("an ingress rule open to 0.0.0.0/0 (mock override: the config refuses a /0 client CIDR)", async () => {
    const run = await runProgram({
      stack: "prod",
      override: (r) => {
        if (r.type === "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule" && r.name.includes("-nlb-in-5000-")) r.inputs.cidrIpv4 = "0.0.0.0/0";
      },
    });
    const report = await prodCheck(run);
    expect(blockingRules(report)).toEqual(["security-group-no-world-ingress"]);
    expect(violationsOf(report, "security-group-no-world-ingress").map((d) => d.resourceName)).toEqual(["orders-prod-nlb-in-5000-10-20-0-0-16"]);
  });

  test("a bundle object stored without SSE-KMS (mock override)", async () => {
    const run = await runProgram({
      stack: "prod",
      override: (r) => {
        if (r.type === "aws:s3/bucketObjectv2:BucketObjectv2" && r.name.endsWith("-db2-bundle")) {
          delete r.inputs.serverSideEncryption;
          delete r.inputs.kmsKeyId;
        }
      },
    });
    const report = await prodCheck(run);
    expect(blockingRules(report)).toEqual(["bundle-objects-sse-kms"]);
    expect(violationsOf(report, "bundle-objects-sse-kms").map((d) => d.message)).toEqual([
      expect.stringMatching(/^bundles\/orders\/nodes\/db2\/[0-9a-f]{64}\.tar \(orders-prod-db2-bundle\) sets no serverSideEncryption/),
    ]);
  });

  test("a node role that can read every node's bundle (mock override: a wildcard over nodes/)", async () => {
    const run = await runProgram({
      stack: "prod",
      override: (r) => {
        if (r.type !== "aws:iam/rolePolicy:RolePolicy" || r.name !== "orders-prod-lb1-node") return;
        const doc = JSON.parse(r.inputs.policy);
        const statement = doc.Statement.find((s: { Sid: string }) => s.Sid === "ReadOwnBundles");
        statement.Resource = statement.Resource.map((arn: string) => arn.replace("/nodes/lb1/*", "/nodes/*"));
        r.inputs.policy = JSON.stringify(doc);
      },
    });
    const report = await prodCheck(run);
    expect(blockingRules(report)).toEqual(["node-role-own-bundle-only"]);
    expect(violationsOf(report, "node-role-own-bundle-only").map((d) => d.message)).toEqual([
      expect.stringMatching(/^lb1's role orders-prod-lb1 \(aws:iam\/role:Role\) can read the bundles of db1, db2, db3, etcd1, etcd2, etcd3, lb2, mon1 \(inline policy orders-prod-lb1-node statement ReadOwnBundles/),
    ]);
  });

  test("an unencrypted data volume (mock override)", async () => {
    const run = await runProgram({
      stack: "prod",
      override: (r) => {
        if (r.type === "aws:ebs/volume:Volume" && r.name.endsWith("db2-data")) r.inputs.encrypted = false;
      },
    });
    const report = await prodCheck(run);
    expect(blockingRules(report)).toEqual(["ebs-encrypted"]);
    expect(violationsOf(report, "ebs-encrypted").map((d) => d.message)).toEqual(["EBS volume orders-prod-db2-data is not encrypted (encrypted = false)."]);
  });

  describe("on recorded resources (one prod run, changed copies)", () => {
    let base: ProgramRun;
    beforeAll(async () => {
      base = await runProgram({ stack: "prod" });
      if (base.error) throw base.error;
    });
    const check = (change: (rs: RecordedResource[]) => RecordedResource[]) => {
      const run = cloneRun(base);
      run.resources = change(run.resources);
      return checkRun(run, { root: ROOT });
    };
    const isNode = (r: RecordedResource, node: string) => r.type === "aws:ec2/instance:Instance" && r.inputs.tags?.["pgha:node"] === node;

    test("an even etcd count: one member gone (the config refuses even counts)", async () => {
      const report = await check((rs) => rs.filter((r) => !isNode(r, "etcd3")));
      expect(blockingRules(report)).toEqual(["etcd-quorum"]);
      expect(violationsOf(report, "etcd-quorum").map((d) => d.message).join("\n")).toMatch(/2 etcd members \(etcd1, etcd2\)/);
    });

    test("the buckets (both regions') and the data volumes unprotected", async () => {
      const report = await check((rs) =>
        rs.map((r) => (r.type === "aws:s3/bucket:Bucket" || r.type === "aws:ebs/volume:Volume" ? { ...r, options: { ...r.options, protect: false, retainOnDelete: false } } : r)),
      );
      expect(blockingRules(report)).toEqual(["prod-data-protected"]);
      // 5 resources (the bucket, its second region's copy, 3 data volumes) × (protect, retainOnDelete)
      expect(violationsOf(report, "prod-data-protected")).toHaveLength(10);
      expect(violationsOf(report, "prod-data-protected").map((d) => d.resourceName)).toContain("orders-prod-eu-central-1-backups");
    });

    test("a password in a node's user-data (the bootstrap)", async () => {
      const { decodeUserData } = await import("../helpers/mocks");
      const { gzipSync } = await import("zlib");
      const report = await check((rs) =>
        rs.map((r) => {
          if (!isNode(r, "lb1")) return r;
          const text = decodeUserData(r.inputs.userDataBase64);
          expect(text).toContain("PGHA_NODE=lb1");
          const userDataBase64 = gzipSync(Buffer.from(text.replace("PGHA_NODE=lb1", "PGHA_NODE=lb1 PGHA_ADMIN_PASSWORD=Adm1nPassw0rd"))).toString("base64");
          return withInputs(r, { userDataBase64 });
        }),
      );
      expect(blockingRules(report)).toEqual(["user-data-no-passwords"]);
    });

    test("a password in a node's bundle (HAProxy's stats auth as a literal)", async () => {
      const report = await check((rs) =>
        withEditedBundle(rs, "lb1", (files) =>
          files.map((f) => (f.path === "/etc/haproxy/pgha.cfg" ? { ...f, content: f.content.replace(/stats auth .*/, "stats auth admin:Adm1nPassw0rd") } : f)),
        ),
      );
      expect(blockingRules(report)).toEqual(["bundle-no-passwords"]);
      expect(violationsOf(report, "bundle-no-passwords").map((d) => d.resourceName)).toEqual(["orders-prod-lb1-bundle"]);
    });

    test("a pg_hba line `host` instead of `hostssl` inside one member's bundle", async () => {
      const report = await check((rs) =>
        withEditedBundle(rs, "db3", (files) =>
          files.map((f) => (f.path === "/etc/patroni/dynamic.json" ? { ...f, content: f.content.replace('"hostssl all all 10.20.0.40/32 scram-sha-256"', '"host all all 10.20.0.40/32 scram-sha-256"') } : f)),
        ),
      );
      expect(blockingRules(report)).toEqual(["pg-hba-hostssl-only"]);
      expect(violationsOf(report, "pg-hba-hostssl-only").map((d) => `${d.resourceName}: ${d.message}`)).toEqual([
        'orders-prod-db3: db3: plain `host` line "host all all 10.20.0.40/32 scram-sha-256" admits connections without TLS (use hostssl) (in /etc/patroni/dynamic.json)',
      ]);
    });

    test("a desired pointer naming node software that was never uploaded", async () => {
      const report = await check((rs) =>
        rs.map((r) => (r.type === "aws:s3/bucketObjectv2:BucketObjectv2" && r.name === "orders-prod-etcd2-desired" ? withInputs(r, { content: JSON.stringify({ ...JSON.parse(r.inputs.content), software: "f".repeat(64) }) }) : r)),
      );
      expect(blockingRules(report)).toEqual(["bundle-pointers-resolve"]);
      expect(violationsOf(report, "bundle-pointers-resolve").map((d) => d.message).join("\n")).toMatch(/etcd2: the desired pointer names node software ffffffffffff…, but the stack uploads no bundles\/orders\/software\/f{64}\.tar/);
    });
  });
});
