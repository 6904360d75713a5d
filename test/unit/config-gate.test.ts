// The config gate as a person meets it: every mistake of a stack file in one round (schema and
// the rules between keys together), derived values checked as well as typed ones, unknown keys
// with "remove it" and "did you mean", list paths in Pulumi's syntax.
import { refused as refusedBy, block } from "../helpers/config-errors";
import { loadAndValidate, validateSpec } from "../../src/config/load";
import { closestName, editDistance, keyOf } from "../../src/config/problems";
import { replicationBounds } from "../../src/config/parameters";

type Raw = Record<string, unknown>;

function raw(tier: string | undefined, extra: Record<string, unknown> = {}): Raw {
  const r: Raw = { "aws:region": "eu-west-1" };
  if (tier !== undefined) r["postgres-ha:tier"] = tier;
  for (const [k, v] of Object.entries(extra)) r[k.includes(":") ? k : `postgres-ha:${k}`] = typeof v === "object" && v !== null ? JSON.stringify(v) : v;
  return r;
}

const refused = (r: Record<string, unknown>, stack = "prod") => refusedBy(r, stack);

describe("every mistake in one round", () => {
  // Eight mistakes: four the schema sees (unknown keys, a refused value, a bad list element),
  // four only the rules between keys or the derived cluster see.
  const stackFile = raw("prod", {
    postgress: { nodes: 3 }, // unknown key (schema)
    patroni: { tll: 30, retryTimeout: 2 }, // unknown key + below Patroni's minimum (schema)
    network: {
      vpcId: "vpc-0123456789abcdef0",
      subnets: [
        { id: "sub-1", cidr: "10.1.0.0/24", availabilityZone: "eu-west-1a" }, // bad id (schema)
        { id: "subnet-0123456789abcdef1", cidr: "10.1.1.0/27", availabilityZone: "eu-west-1b" }, // /27 (rule)
      ],
    },
    etcd: { nodes: 2 }, // even (rule)
    postgres: { parameters: { archive_timeout: "3600s", max_wal_senders: 1 } }, // managed (rule) + derived bound
    backup: { archiveTimeoutSeconds: 300 }, // above 60 in prod (rule)
  });

  it("reports schema, cross-field and derived problems together", () => {
    const { problems, message } = refused(stackFile);
    expect(new Set(problems.map((p) => p.key))).toEqual(
      new Set([
        "postgress",
        "patroni.tll",
        "patroni.retryTimeout",
        "network.subnets[0].id",
        "network.subnets[1].cidr",
        "etcd.nodes",
        "postgres.parameters.archive_timeout",
        "postgres.parameters.max_wal_senders",
        "backup.archiveTimeoutSeconds",
      ]),
    );
    // backup.archiveTimeoutSeconds = 300 breaks two rules (prod's 60 s, the stated PITR RPO of 60 s).
    expect(problems).toHaveLength(10);
    expect(message).toContain("10 problems, nothing was created");
  });

  it("a key the schema refused is not blamed again by a rule that needs it", () => {
    // postgres.nodes is refused, so "there is no member db3" cannot be judged (nor the sync count).
    const { problems } = refused(raw("staging", { postgres: { nodes: "three", members: { db3: { nofailover: true } }, syncNodeCount: 2 } }));
    expect(problems.map((p) => p.key)).toEqual(["postgres.nodes"]);
  });

  it("runs the rules between keys even without a tier (on what was given)", () => {
    const { problems } = refused(raw(undefined, { patroni: { ttl: 25, loopWait: 10, retryTimeout: 10 }, etcd: { nodes: 4 } }));
    expect(problems.map((p) => p.key).sort()).toEqual(["etcd.nodes", "patroni.ttl", "tier"]);
  });

  it("never crashes on garbage in lists or objects", () => {
    const { problems } = refused(raw("prod", { network: { subnets: [3, null, { cidr: 7 }], allowedClientCidrs: "10.0.0.0/8" }, postgres: { members: { db2: "yes" } } }));
    expect(problems.length).toBeGreaterThanOrEqual(4);
    expect(problems.map((p) => p.key)).toEqual(expect.arrayContaining(["network.subnets[0]", "network.subnets[1]", "network.allowedClientCidrs", "postgres.members.db2"]));
  });
});

describe("derived values are validated, not only typed ones", () => {
  it.each([
    ["a time", "3600s"],
    ["null (which would switch archive_timeout off)", null],
    ["a tighter value", 30],
  ])("archive_timeout in postgres.parameters (%s) is refused and backup.archiveTimeoutSeconds named instead", (_t, value) => {
    const { problems, message } = refused(raw("prod", { postgres: { parameters: { archive_timeout: value } } }));
    expect(problems.map((p) => p.key)).toEqual(["postgres.parameters.archive_timeout"]);
    const text = block(message, "postgres-ha:postgres.parameters.archive_timeout");
    expect(text).toContain(`postgres-ha:postgres.parameters.archive_timeout = ${JSON.stringify(value)}: is managed`);
    expect(text).toContain("pulumi config rm --path 'postgres.parameters.archive_timeout' --stack prod");
    expect(text).toContain("and set postgres-ha:backup.archiveTimeoutSeconds instead, e.g. pulumi config set --path 'backup.archiveTimeoutSeconds' <value> --stack prod");
  });

  it("max_wal_senders below (members − 1) + 2 is refused with the formula", () => {
    const { problems, message } = refused(raw("prod", { postgres: { parameters: { max_wal_senders: 1 } } }));
    expect(problems.map((p) => p.key)).toEqual(["postgres.parameters.max_wal_senders"]);
    const text = block(message, "postgres-ha:postgres.parameters.max_wal_senders");
    expect(text).toContain("postgres-ha:postgres.parameters.max_wal_senders = 1: is too low for 3 PostgreSQL members");
    expect(text).toContain("(postgres.nodes − 1) + 2 = 4");
    expect(text).toContain("allowed: an integer ≥ 4");
    expect(text).toContain("pulumi config set --path 'postgres.parameters.max_wal_senders' <value> --stack prod");
  });

  it("max_replication_slots below the member count is refused with the formula", () => {
    const { problems, message } = refused(raw("staging", { postgres: { nodes: 5, parameters: { max_replication_slots: 4 } } }), "staging");
    expect(problems.map((p) => p.key)).toEqual(["postgres.parameters.max_replication_slots"]);
    expect(message).toContain("postgres-ha:postgres.parameters.max_replication_slots = 4: is too low for 5 PostgreSQL members");
    expect(message).toContain("(postgres.nodes − 1) + 1 = 5");
  });

  it.each([
    [1, { max_wal_senders: 3, max_replication_slots: 4 }],
    [3, { max_wal_senders: 4, max_replication_slots: 4 }],
    [5, { max_wal_senders: 6, max_replication_slots: 5 }],
    [9, { max_wal_senders: 10, max_replication_slots: 9 }],
  ])("with %i member(s) the bounds are accepted exactly", (nodes, params) => {
    expect(replicationBounds(nodes)).toEqual({ walSenders: params.max_wal_senders, replicationSlots: params.max_replication_slots });
    const tier = nodes === 1 ? "dev" : "staging";
    expect(() => loadAndValidate(raw(tier, { postgres: { nodes, parameters: params } }), { stack: tier })).not.toThrow();
    const below = { ...params, max_wal_senders: params.max_wal_senders - 1 };
    expect(refused(raw(tier, { postgres: { nodes, parameters: below } }), tier).problems.map((p) => p.key)).toEqual(["postgres.parameters.max_wal_senders"]);
  });

  it("the tier's derived defaults keep the bounds at the largest cluster (9 members)", () => {
    expect(() => loadAndValidate(raw("staging", { postgres: { nodes: 9 } }), { stack: "staging" })).not.toThrow();
  });

  it("removing max_wal_senders (null) falls back to 10, which is enough", () => {
    expect(() => loadAndValidate(raw("prod", { postgres: { parameters: { max_wal_senders: null, max_replication_slots: null } } }), { stack: "prod" })).not.toThrow();
  });

  it.each([
    ["max_connections", 10, "is below 25"],
    ["max_connections", "many", "is not an integer"],
    ["max_locks_per_transaction", 16, "is below 32"],
    ["wal_keep_size", "8MB", "is below 16MB"],
    ["password_encryption", "md5", "scram-sha-256"],
    ["wal_level", "minimal", "at least replica"],
  ])("%s = %p is refused", (name, value, reason) => {
    const { problems, message } = refused(raw("staging", { postgres: { parameters: { [name]: value } } }), "staging");
    expect(problems.map((p) => p.key)).toEqual([`postgres.parameters.${name}`]);
    expect(block(message, `postgres-ha:postgres.parameters.${name}`)).toContain(reason);
  });

  it("validateSpec checks a spec however it was built, naming the key that fixes it", () => {
    const { spec } = loadAndValidate(raw("prod"), { stack: "prod" });
    expect(validateSpec(spec)).toEqual([]);
    const broken = structuredClone(spec);
    broken.postgres.parameters.max_wal_senders = "2";
    delete broken.postgres.parameters.archive_timeout;
    const problems = validateSpec(broken);
    expect(problems.map((p) => [p.key, p.value])).toEqual([
      ["postgres.parameters.max_wal_senders", 2],
      ["backup.archiveTimeoutSeconds", 60],
    ]);
    expect(problems[1].reason).toContain("archive_timeout = \"0 (left out)\"");
  });
});

describe("unknown keys, misspellings and list paths", () => {
  it("a misspelt key: did you mean, remove it, set the right key with the same value", () => {
    const { problems, message } = refused(raw("prod", { patroni: { tll: 30 } }));
    expect(problems).toEqual([expect.objectContaining({ key: "patroni.tll", fix: "remove", didYouMean: "patroni.ttl" })]);
    const text = block(message, "postgres-ha:patroni.tll");
    expect(text).toContain("did you mean `postgres-ha:patroni.ttl`?");
    expect(text).toContain("pulumi config rm --path 'patroni.tll' --stack prod");
    expect(text).toContain("pulumi config set --path 'patroni.ttl' 30 --stack prod");
    expect(text).not.toContain("set it in");
  });

  it("a misspelt section is renamed in the file, not set from the command line", () => {
    const text = block(refused(raw("prod", { postgress: { nodes: 3 } })).message, "postgres-ha:postgress");
    expect(text).toContain("did you mean `postgres-ha:postgres`?");
    expect(text).toContain("rename it to postgres-ha:postgres in Pulumi.prod.yaml");
    expect(text).not.toContain("pulumi config set");
  });

  it("an unknown key that resembles nothing: remove it, no guess", () => {
    const { problems, message } = refused(raw("prod", { backup: { compression: "zstd" } }));
    expect(problems).toEqual([expect.objectContaining({ key: "backup.compression", fix: "remove", didYouMean: undefined })]);
    const text = block(message, "postgres-ha:backup.compression");
    expect(text).not.toContain("did you mean");
    expect(text).toContain("remove it from Pulumi.prod.yaml, e.g. pulumi config rm --path 'backup.compression' --stack prod");
    expect(text).toContain("allowed: the keys of backup: bucketName, fullSchedule");
  });

  it("misspellings of member tags, enum values and parameter names get a guess too", () => {
    expect(refused(raw("staging", { postgres: { members: { db2: { nofailovr: true } } } }), "staging").problems[0].didYouMean).toBe("postgres.members.db2.nofailover");
    expect(refused(raw("prod", { postgres: { syncMode: "quorm" } })).problems[0].reason).toContain('did you mean "quorum"?');
    expect(refused(raw("prod", { postgres: { parameters: { "Max-Connections": 300 } } })).problems[0].didYouMean).toBe("postgres.parameters.max_connections");
  });

  it("list elements print as [0] in the key and in the pulumi config hint, never .0", () => {
    const { problems, message } = refused(raw("prod", { network: { allowedClientCidrs: ["10.0.0.0/8", "0.0.0.0/0"] } }));
    expect(problems.map((p) => p.key)).toEqual(["network.allowedClientCidrs[1]"]);
    expect(message).toContain("✗ postgres-ha:network.allowedClientCidrs[1] = \"0.0.0.0/0\"");
    expect(message).toContain("pulumi config set --path 'network.allowedClientCidrs[1]' <value> --stack prod");
    expect(message).not.toMatch(/allowedClientCidrs\.\d/);
  });

  it("keyOf writes Pulumi's path syntax", () => {
    expect(keyOf(["network", "subnets", 0, "cidr"])).toBe("network.subnets[0].cidr");
    expect(keyOf(["postgres", "parameters", "auto_explain.log_min_duration"])).toBe('postgres.parameters["auto_explain.log_min_duration"]');
    expect(keyOf(["tags", "cost center"])).toBe('tags["cost center"]');
    expect(keyOf(["aws:region"])).toBe("aws:region");
  });

  it("edit distance counts a swap of neighbours as one edit", () => {
    expect(editDistance("ttl", "tll")).toBe(1);
    expect(editDistance("teir", "tier")).toBe(1);
    expect(editDistance("postgress", "postgres")).toBe(1);
    expect(editDistance("", "abc")).toBe(3);
    expect(closestName("archiveTimeout", ["archiveTimeoutSeconds", "bucketName"])).toBe("archiveTimeoutSeconds");
    expect(closestName("clustername", ["clusterName", "tier"])).toBe("clusterName");
    expect(closestName("compression", ["bucketName", "fullSchedule"])).toBeUndefined();
  });
});
