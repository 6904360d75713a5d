// postgres-ha:restoreFrom through the config gate, offline: the shipped prod-pitr stack is
// accepted, and each mistake is refused before anything is created, in a message that names the
// key (postgres-ha:restoreFrom…), the value given and what is allowed — restoreFrom with standby,
// restoreFrom.stack naming this stack, restoreFrom.bucket naming this stack's own bucket, and a
// target value that does not fit its type (src/config/cross-field.ts, src/config/restore-target.ts).
import * as path from "path";
import { refused as refusedBy, block } from "../helpers/config-errors";
import { loadAndValidate } from "../../src/config/load";
import { rawStackConfig } from "../../src/plan/config";

const ROOT = path.resolve(__dirname, "../..");
const STACK = "prod-pitr";

/** prod-pitr's raw config as shipped, with `overrides` (objects merge; undefined removes a key). */
const pitr = (overrides: Record<string, unknown> = {}) => rawStackConfig(ROOT, STACK, overrides).config;

const refused = (r: Record<string, unknown>, stack = STACK) => refusedBy(r, stack);

const TIME_ALLOWED = "a timestamp with a zone, e.g. '2026-12-05 10:00:00+00'";

describe("restoreFrom accepted", () => {
  it("the shipped prod-pitr stack: prod's repository at a time with a zone", () => {
    const { spec } = loadAndValidate(pitr(), { stack: STACK });
    expect(spec.restoreFrom).toEqual({
      stack: "prod",
      cluster: "orders",
      stanza: "orders",
      repoPath: "/pgbackrest/orders",
      catalogPrefix: "restore-points/orders/",
      repository: { index: 2, region: "eu-west-1", bucketName: "pgha-prod-orders-eu-west-1", fullRetentionDays: spec.backup.fullRetentionDays },
      repoEncryption: true,
      secretName: "postgres-ha/prod/orders/cluster",
      target: { type: "time", value: "2026-12-05 10:00:00+00" },
    });
  });

  it.each([
    ["time", "2026-12-05T10:00:00Z"],
    ["time", "2026-12-05 10:00:00.123+01:00"],
    ["name", "before-migration_2026.12:05"],
    ["xid", "742"],
    ["lsn", "0/3000060"],
  ])("target %s %s", (type, value) => {
    const { spec } = loadAndValidate(pitr({ restoreFrom: { target: { type, value } } }), { stack: STACK });
    expect(spec.restoreFrom!.target).toEqual({ type, value });
  });

  it("target immediate without a value; a numeric xid is taken as its digits", () => {
    expect(loadAndValidate(pitr({ restoreFrom: { target: { type: "immediate", value: undefined } } }), { stack: STACK }).spec.restoreFrom!.target).toEqual({ type: "immediate" });
    expect(loadAndValidate(pitr({ restoreFrom: { target: { type: "xid", value: 742 } } }), { stack: STACK }).spec.restoreFrom!.target).toEqual({ type: "xid", value: "742" });
  });

  it("another source cluster, region and bucket (e.g. the source's second-region copy)", () => {
    const { spec } = loadAndValidate(pitr({ restoreFrom: { cluster: "billing", region: "eu-central-1", bucket: "pgha-prod-billing-eu-central-1" } }), { stack: STACK });
    expect(spec.restoreFrom).toMatchObject({
      cluster: "billing", stanza: "billing", repoPath: "/pgbackrest/billing", catalogPrefix: "restore-points/billing/",
      repository: { region: "eu-central-1", bucketName: "pgha-prod-billing-eu-central-1" }, secretName: "postgres-ha/prod/billing/cluster",
    });
  });
});

describe("restoreFrom refused, naming the key, the value and what is allowed", () => {
  it("together with standby", () => {
    const standby = { primaryStack: "prod", host: "rw.orders.pgha.internal", cidrs: ["10.20.0.0/16"], repositoryBucket: "pgha-prod-orders-eu-central-1" };
    const { problems, message } = refused(pitr({ standby }));
    expect(problems.map((p) => [p.key, p.allowed])).toEqual([["restoreFrom", "not set while standby is set (remove one of the two)"]]);
    const b = block(message, "postgres-ha:restoreFrom");
    expect(b).toContain("cannot be combined with standby");
    expect(b).toContain("allowed: not set while standby is set (remove one of the two)");
  });

  it("restoreFrom.stack is this stack", () => {
    const { problems, message } = refused(pitr({ restoreFrom: { stack: STACK } }));
    expect(problems.map((p) => [p.key, p.value, p.allowed])).toEqual([["restoreFrom.stack", STACK, "another stack of this project"]]);
    const b = block(message, "postgres-ha:restoreFrom.stack");
    expect(b).toContain(`= "${STACK}": is this stack`);
    expect(b).toContain("allowed: another stack of this project");
  });

  it("restoreFrom.bucket is backup.bucketName", () => {
    const { problems, message } = refused(pitr({ backup: { bucketName: "orders-scratch" }, restoreFrom: { bucket: "orders-scratch" } }));
    expect(problems.map((p) => [p.key, p.value, p.allowed])).toEqual([["restoreFrom.bucket", "orders-scratch", "the source's bucket, other than backup.bucketName"]]);
    const b = block(message, "postgres-ha:restoreFrom.bucket");
    expect(b).toContain(`= "orders-scratch": is this stack's own bucket (backup.bucketName)`);
    expect(b).toContain("allowed: the source's bucket, other than backup.bucketName");
  });

  it("restoreFrom.bucket is this stack's default bucket (no backup.bucketName set)", () => {
    const own = "pgha-prod-pitr-orders-eu-west-1";
    const { problems } = refused(pitr({ restoreFrom: { bucket: own } }));
    expect(problems.map((p) => [p.key, p.value])).toEqual([["restoreFrom.bucket", own]]);
  });

  it.each([
    ["no value for type time", { type: "time", value: undefined }, null, "is required with type time", TIME_ALLOWED],
    ["a value for type immediate", { type: "immediate", value: "2026-12-05 10:00:00+00" }, "2026-12-05 10:00:00+00", "is given with type immediate, which takes no value", "no value with type immediate"],
    ["a time without a zone", { type: "time", value: "2026-12-05 10:00:00" }, "2026-12-05 10:00:00", "does not fit target type time", TIME_ALLOWED],
    ["a time that is no date", { type: "time", value: "2026-13-45 10:00:00+00" }, "2026-13-45 10:00:00+00", "does not fit target type time", TIME_ALLOWED],
    ["a malformed lsn", { type: "lsn", value: "0/XYZ" }, "0/XYZ", "does not fit target type lsn", "a WAL position, e.g. 0/3000060"],
    ["an xid that is not digits", { type: "xid", value: "12ab" }, "12ab", "does not fit target type xid", "a transaction id: digits"],
    ["a restore point name with a space", { type: "name", value: "before migration" }, "before migration", "does not fit target type name", "a restore point name: 1–63 letters, digits, _ . : -"],
  ])("restoreFrom.target.value: %s", (_title, target, value, why, allowed) => {
    const { problems, message } = refused(pitr({ restoreFrom: { target } }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ key: "restoreFrom.target.value", value, allowed });
    expect(problems[0].reason).toContain(why);
    const b = block(message, "postgres-ha:restoreFrom.target.value");
    expect(b).toContain(`= ${JSON.stringify(value)}: ${why}`);
    expect(b).toContain(`allowed: ${allowed}`);
  });

  it("a target type that is not one of PostgreSQL's: the schema names the types", () => {
    const { problems, message } = refused(pitr({ restoreFrom: { target: { type: "latest", value: undefined } } }));
    expect(problems.map((p) => [p.key, p.value, p.allowed])).toEqual([["restoreFrom.target.type", "latest", "one of time, name, xid, lsn, immediate"]]);
    expect(block(message, "postgres-ha:restoreFrom.target.type")).toContain("allowed: one of time, name, xid, lsn, immediate");
  });

  it("every mistake in one round, in the reference's order", () => {
    const { problems, message } = refused(pitr({ backup: { bucketName: "orders-scratch" }, restoreFrom: { stack: STACK, bucket: "orders-scratch", target: { type: "lsn", value: "nope" } } }));
    expect(problems.map((p) => p.key)).toEqual(["restoreFrom.stack", "restoreFrom.bucket", "restoreFrom.target.value"]);
    expect(message).toContain("3 problems, nothing was created");
  });
});
