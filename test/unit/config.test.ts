import { ConfigError, loadAndValidate, loadStackConfig } from "../../src/config/load";
import { FAILSAFE_CHECK_SECONDS, TIER_DEFAULTS } from "../../src/config/defaults";
import { KEY_DOCS } from "../../src/config/keys";

type Raw = Record<string, unknown>;

function raw(tier: string, extra: Record<string, unknown> = {}): Raw {
  const r: Raw = { "aws:region": "eu-west-1", "postgres-ha:tier": tier };
  for (const [k, v] of Object.entries(extra)) r[k.includes(":") ? k : `postgres-ha:${k}`] = typeof v === "object" && v !== null ? JSON.stringify(v) : v;
  return r;
}

function problemsOf(r: Raw, stack = "test") {
  try {
    loadStackConfig(r, { stack });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).problems;
  }
  throw new Error("expected a ConfigError, the config was accepted");
}

describe("tier defaults", () => {
  it.each(["dev", "staging", "prod"])("%s as shipped is valid", (tier) => {
    const c = loadStackConfig(raw(tier), { stack: tier });
    expect(c.tier).toBe(tier);
    expect(c.region).toBe("eu-west-1");
  });

  it("dev is the single-node tier with archiving and backups still on", () => {
    const c = loadStackConfig(raw("dev"), { stack: "dev" });
    expect([c.postgres.nodes, c.etcd.nodes, c.haproxy.nodes]).toEqual([1, 1, 1]);
    expect(c.postgres.syncMode).toBe("off");
    expect(c.backup.fullSchedule).toBe("0 2 * * *");
    expect(c.backup.archiveTimeoutSeconds).toBe(300);
  });

  it("staging: 3 async nodes, etcd trio, one HAProxy", () => {
    const c = loadStackConfig(raw("staging"), { stack: "staging" });
    expect([c.postgres.nodes, c.etcd.nodes, c.haproxy.nodes, c.postgres.syncMode]).toEqual([3, 3, 1, "off"]);
  });

  it("prod: quorum ANY 1 over 3 nodes, 2 HAProxy behind an NLB, 3 AZs, archive_timeout ≤ 60 s", () => {
    const c = loadStackConfig(raw("prod"), { stack: "prod" });
    expect(c.postgres.syncMode).toBe("quorum");
    expect(c.postgres.syncNodeCount).toBe(1);
    expect([c.postgres.nodes, c.etcd.nodes, c.haproxy.nodes]).toEqual([3, 3, 2]);
    expect(c.haproxy.networkLoadBalancer).toBe(true);
    expect(c.network.availabilityZones).toBe(3);
    expect(c.backup.archiveTimeoutSeconds).toBeLessThanOrEqual(60);
    expect(c.objectives.failoverRpoSeconds).toBe(0);
  });

  it("overrides merge key by key over the tier defaults", () => {
    const c = loadStackConfig(raw("prod", { patroni: { ttl: 40 }, postgres: { parameters: { max_connections: 300 } } }), { stack: "prod" });
    expect(c.patroni.ttl).toBe(40);
    expect(c.patroni.loopWait).toBe(TIER_DEFAULTS.prod.patroni.loopWait);
    expect(c.postgres.nodes).toBe(3);
    expect(c.postgres.parameters.max_connections).toBe(300);
  });

  it("numbers given as strings are accepted (Pulumi passes top-level values as text)", () => {
    const c = loadStackConfig(raw("staging", { patroni: { ttl: "35" } }), { stack: "staging" });
    expect(c.patroni.ttl).toBe(35);
  });

  it("the seed's Patroni timing is the dev/staging default, retry_timeout shortened so failsafe mode's check fits in the lease", () => {
    for (const t of ["dev", "staging"] as const) {
      expect(TIER_DEFAULTS[t].patroni).toMatchObject({ ttl: 30, loopWait: 10, retryTimeout: 8, maximumLagOnFailover: 1048576, failsafeMode: true });
    }
  });

  it("every tier's default timing lets an isolated leader demote before its lease expires (loop_wait + 2·retry_timeout + failsafe check ≤ ttl)", () => {
    for (const t of ["dev", "staging", "prod"] as const) {
      const p = TIER_DEFAULTS[t].patroni;
      expect([t, p.loopWait + 2 * p.retryTimeout + (p.failsafeMode ? FAILSAFE_CHECK_SECONDS : 0) <= p.ttl]).toEqual([t, true]);
    }
  });

  it("the failsafe check counts only with failsafe mode on: 20 / 4 / 8 is Patroni's rule met, refused with failsafe, accepted without", () => {
    const ttl = problemsOf(raw("prod", { patroni: { ttl: 20, loopWait: 4, retryTimeout: 8 } })).find((p) => p.key === "patroni.ttl");
    expect(ttl?.reason).toContain("loopWait + 2·retryTimeout + 4 s of failsafe check = 4 + 2·8 + 4 = 24");
    const c = loadStackConfig(raw("prod", { patroni: { ttl: 20, loopWait: 4, retryTimeout: 8, failsafeMode: false } }), { stack: "prod" });
    expect(c.patroni).toMatchObject({ ttl: 20, loopWait: 4, retryTimeout: 8, failsafeMode: false });
  });
});

// Each bad config: the key that must be named, and the value that must be shown.
const BAD: [string, Raw, string, string | null][] = [
  ["missing tier", { "aws:region": "eu-west-1" }, "tier", null],
  ["unknown tier", raw("qa"), "tier", '"qa"'],
  ["missing region", { "postgres-ha:tier": "dev" }, "aws:region", null],
  ["bad region", { ...raw("dev"), "aws:region": "Europe" }, "aws:region", '"Europe"'],
  ["unknown top-level key", raw("dev", { postgress: { nodes: 3 } }), "postgress", '{"nodes":3}'],
  ["unknown nested key", raw("dev", { patroni: { tll: 30 } }), "patroni.tll", "30"],
  ["wrong type: nodes as text", raw("staging", { postgres: { nodes: "three" } }), "postgres.nodes", '"three"'],
  ["wrong type: boolean as number", raw("prod", { patroni: { failsafeMode: 3 } }), "patroni.failsafeMode", "3"],
  ["nodes above 9", raw("staging", { postgres: { nodes: 12 } }), "postgres.nodes", "12"],
  ["nodes 0", raw("staging", { postgres: { nodes: 0 } }), "postgres.nodes", "0"],
  ["even etcd count", raw("staging", { etcd: { nodes: 2 } }), "etcd.nodes", "2"],
  ["four etcd members", raw("prod", { etcd: { nodes: 4 } }), "etcd.nodes", "4"],
  ["single etcd outside dev", raw("prod", { etcd: { nodes: 1 } }), "etcd.nodes", "1"],
  ["unknown sync mode", raw("prod", { postgres: { syncMode: "quorm" } }), "postgres.syncMode", '"quorm"'],
  ["sync mode with one node", raw("dev", { postgres: { syncMode: "on" } }), "postgres.syncMode", '"on"'],
  ["quorum with two nodes", raw("staging", { postgres: { nodes: 2, syncMode: "quorum" } }), "postgres.syncMode", '"quorum"'],
  ["sync count above standbys", raw("prod", { postgres: { syncNodeCount: 3 } }), "postgres.syncNodeCount", "3"],
  ["ttl below 20", raw("prod", { patroni: { ttl: 10 } }), "patroni.ttl", "10"],
  ["ttl below loop_wait + 2·retry_timeout", raw("staging", { patroni: { ttl: 25, loopWait: 10, retryTimeout: 10 } }), "patroni.ttl", "25"],
  ["ttl below loop_wait + 2·retry_timeout + the failsafe check", raw("staging", { patroni: { ttl: 30, loopWait: 10, retryTimeout: 10 } }), "patroni.ttl", "30"],
  ["retry_timeout below 3", raw("staging", { patroni: { retryTimeout: 2 } }), "patroni.retryTimeout", "2"],
  ["retention < 1", raw("prod", { backup: { fullRetentionDays: 0 } }), "backup.fullRetentionDays", "0"],
  ["negative logical retention", raw("prod", { backup: { logicalRetentionWeeks: -1 } }), "backup.logicalRetentionWeeks", "-1"],
  ["bad cron", raw("prod", { backup: { fullSchedule: "at two" } }), "backup.fullSchedule", '"at two"'],
  ["cron with 6 fields", raw("prod", { backup: { diffSchedule: "0 0 2 * * *" } }), "backup.diffSchedule", '"0 0 2 * * *"'],
  ["archive_timeout above 60 in prod", raw("prod", { backup: { archiveTimeoutSeconds: 300 } }), "backup.archiveTimeoutSeconds", "300"],
  ["archive_timeout above the stated PITR RPO", raw("staging", { backup: { archiveTimeoutSeconds: 200 } }), "backup.archiveTimeoutSeconds", "200"],
  ["archive_timeout 0", raw("dev", { backup: { archiveTimeoutSeconds: 0 } }), "backup.archiveTimeoutSeconds", "0"],
  ["RPO 0 without synchronous replication", raw("staging", { objectives: { failoverRpoSeconds: 0 } }), "objectives.failoverRpoSeconds", "0"],
  ["bad CIDR", raw("prod", { network: { allowedClientCidrs: ["10.0.0.0/33"] } }), "network.allowedClientCidrs[0]", '"10.0.0.0/33"'],
  ["CIDR with host bits", raw("prod", { network: { allowedClientCidrs: ["10.1.2.3/16"] } }), "network.allowedClientCidrs[0]", '"10.1.2.3/16"'],
  ["the whole internet as clients", raw("prod", { network: { allowedClientCidrs: ["0.0.0.0/0"] } }), "network.allowedClientCidrs[0]", '"0.0.0.0/0"'],
  ["VPC CIDR too small", raw("prod", { network: { vpcCidr: "10.0.0.0/26" } }), "network.vpcCidr", '"10.0.0.0/26"'],
  ["VPC id without subnets", raw("prod", { network: { vpcId: "vpc-0123456789abcdef0" } }), "network.subnets", null],
  ["subnets without VPC id", raw("prod", { network: { subnets: [{ id: "subnet-0123456789abcdef0", cidr: "10.1.0.0/24", availabilityZone: "eu-west-1a" }] } }), "network.vpcId", null],
  ["malformed subnet id", raw("prod", { network: { vpcId: "vpc-0123456789abcdef0", subnets: [{ id: "sub-1", cidr: "10.1.0.0/24", availabilityZone: "eu-west-1a" }] } }), "network.subnets[0].id", '"sub-1"'],
  ["unknown instance type without memory", raw("prod", { postgres: { instanceType: "x9z.large" } }), "postgres.memoryMiB", null],
  ["malformed instance type", raw("prod", { postgres: { instanceType: "large" } }), "postgres.instanceType", '"large"'],
  ["iops above 500 per GiB", raw("dev", { postgres: { dataVolume: { sizeGiB: 10, iops: 6000 } } }), "postgres.dataVolume.iops", "6000"],
  ["throughput above iops/4", raw("prod", { postgres: { dataVolume: { throughputMiBps: 2000 } } }), "postgres.dataVolume.throughputMiBps", "2000"],
  ["managed parameter", raw("prod", { postgres: { parameters: { archive_command: "cp %p /tmp/%f" } } }), "postgres.parameters.archive_command", '"cp %p /tmp/%f"'],
  ["bad parameter name", raw("prod", { postgres: { parameters: { "Max-Connections": 10 } } }), "postgres.parameters.Max-Connections", null],
  ["wal_level minimal", raw("prod", { postgres: { parameters: { wal_level: "minimal" } } }), "postgres.parameters.wal_level", '"minimal"'],
  ["tags for a member that does not exist", raw("staging", { postgres: { members: { db7: { nofailover: true } } } }), "postgres.members.db7", '{"nofailover":true}'],
  ["replicatefrom an unknown member", raw("staging", { postgres: { members: { db3: { replicatefrom: "db9" } } } }), "postgres.members.db3.replicatefrom", '"db9"'],
  ["replicatefrom itself", raw("staging", { postgres: { members: { db2: { replicatefrom: "db2" } } } }), "postgres.members.db2.replicatefrom", '"db2"'],
  ["replicatefrom cycle", raw("staging", { postgres: { members: { db2: { replicatefrom: "db3" }, db3: { replicatefrom: "db2" } } } }), "postgres.members.db2.replicatefrom", '"db3"'],
  ["no failover candidate", raw("dev", { postgres: { members: { db1: { nofailover: true } } } }), "postgres.members", null],
  ["unknown member tag", raw("staging", { postgres: { members: { db2: { nofailovr: true } } } }), "postgres.members.db2.nofailovr", "true"],
  ["renewal longer than validity", raw("prod", { tls: { certValidityDays: 30, renewBeforeDays: 60 } }), "tls.renewBeforeDays", "60"],
  ["bad bucket name", raw("prod", { backup: { bucketName: "My_Bucket" } }), "backup.bucketName", '"My_Bucket"'],
  ["bad cluster name", raw("prod", { clusterName: "Main DB" }), "clusterName", '"Main DB"'],
  ["haproxy nodes 0", raw("prod", { haproxy: { nodes: 0 } }), "haproxy.nodes", "0"],
  ["STANDARD_IA transition after the logical dumps expire", raw("dev", { backup: { logicalRetentionWeeks: 4, logicalInfrequentAccessAfterDays: 30 } }), "backup.logicalInfrequentAccessAfterDays", "30"],
  ["check interval too small", raw("prod", { haproxy: { checkIntervalMs: 10 } }), "haproxy.checkIntervalMs", "10"],
  ["second repository in the stack's own region", raw("prod", { backup: { secondRepository: { region: "eu-west-1" } } }), "backup.secondRepository.region", '"eu-west-1"'],
  ["second repository region not a region", raw("prod", { backup: { secondRepository: { region: "frankfurt" } } }), "backup.secondRepository.region", '"frankfurt"'],
  ["second repository without a region", raw("prod", { backup: { secondRepository: { bucketName: "dr-bucket" } } }), "backup.secondRepository.region", null],
  ["second repository in the first bucket", raw("prod", { backup: { bucketName: "orders-backups", secondRepository: { region: "eu-central-1", bucketName: "orders-backups" } } }), "backup.secondRepository.bucketName", '"orders-backups"'],
  ["second repository with a retention of its own", raw("prod", { backup: { secondRepository: { region: "eu-central-1", fullRetentionDays: 30 } } }), "backup.secondRepository.fullRetentionDays", null],
];

describe("backup.secondRepository", () => {
  it("derives repo2 with its region's bucket name and repo1's retention by default", () => {
    const c = loadAndValidate(raw("prod", { backup: { fullRetentionDays: 9, secondRepository: { region: "eu-central-1" } } }), { stack: "prod" });
    expect(c.spec.backup.repositories).toEqual([
      { index: 1, region: "eu-west-1", bucketName: "pgha-prod-main-eu-west-1", fullRetentionDays: 9 },
      { index: 2, region: "eu-central-1", bucketName: "pgha-prod-main-eu-central-1", fullRetentionDays: 9 },
    ]);
  });
  it("takes its own bucket (the retention is repo1's: a replica); null (the default) means one repository", () => {
    const c = loadAndValidate(raw("prod", { backup: { fullRetentionDays: 30, secondRepository: { region: "us-east-2", bucketName: "dr-orders" } } }), { stack: "prod" });
    expect(c.spec.backup.repositories[1]).toEqual({ index: 2, region: "us-east-2", bucketName: "dr-orders", fullRetentionDays: 30 });
    expect(loadAndValidate(raw("staging"), { stack: "staging" }).spec.backup.repositories.map((r) => r.index)).toEqual([1]);
    expect(loadAndValidate(raw("prod", { backup: { secondRepository: null } }), { stack: "prod" }).spec.backup.repositories).toHaveLength(1);
  });
});

describe("bad config is refused before anything is created", () => {
  it(`covers at least 30 cases (has ${BAD.length})`, () => {
    expect(BAD.length).toBeGreaterThanOrEqual(30);
  });

  it.each(BAD)("%s", (_title, r, key, shownValue) => {
    const problems = problemsOf(r, "prod");
    const p = problems.find((x) => x.key === key);
    if (!p) throw new Error(`no problem names ${key}; got: ${problems.map((x) => x.key).join(", ")}`);
    expect(p.allowed.length).toBeGreaterThan(3);
    // The message a person reads names the key, the value, what is allowed and where to set it.
    const message = new ConfigError(problems, "prod").message;
    const fullKey = key.startsWith("aws:") ? key : `postgres-ha:${key}`;
    expect(message).toContain(fullKey);
    if (shownValue !== null) expect(message).toContain(`${fullKey} = ${shownValue}`);
    expect(message).toContain(`allowed: ${p.allowed}`);
    expect(message).toContain("Pulumi.prod.yaml");
    // …and the command that fixes it: set a value, or remove a key that must go.
    expect(message).toMatch(p.fix === "remove" ? /pulumi config rm |rename it to / : /pulumi config set /);
  });

  it("reports every problem at once, not just the first", () => {
    const problems = problemsOf(raw("prod", { patroni: { ttl: 10 }, etcd: { nodes: 2 }, backup: { archiveTimeoutSeconds: 600 } }));
    const keys = new Set(problems.map((p) => p.key));
    expect(keys).toEqual(new Set(["patroni.ttl", "etcd.nodes", "backup.archiveTimeoutSeconds"]));
  });
});

describe("key documentation", () => {
  it("every key has a description and an allowed-values text", () => {
    for (const [key, doc] of Object.entries(KEY_DOCS)) {
      expect(`${key}: ${doc.description.length > 5}`).toBe(`${key}: true`);
      expect(`${key}: ${doc.allowed.length > 3}`).toBe(`${key}: true`);
    }
  });

  it("every leaf of every tier's defaults is documented", () => {
    const missing: string[] = [];
    const walk = (obj: unknown, prefix: string) => {
      if (obj && typeof obj === "object" && !Array.isArray(obj) && !["postgres.parameters", "postgres.members", "tags"].includes(prefix)) {
        for (const [k, v] of Object.entries(obj)) walk(v, prefix ? `${prefix}.${k}` : k);
      } else if (!KEY_DOCS[prefix] && !Object.keys(KEY_DOCS).some((k) => k.startsWith(`${prefix}.`))) missing.push(prefix); // (an object off by default, null, is documented through its fields)
    };
    for (const t of ["dev", "staging", "prod"] as const) walk(TIER_DEFAULTS[t], "");
    expect([...new Set(missing)]).toEqual([]);
  });
});
