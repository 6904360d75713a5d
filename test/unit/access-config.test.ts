// postgres.databases and postgres.roles at the config gate: a good declaration is accepted as
// written; every mistake names the key, the value and what is allowed, in one round.
import { ConfigError, loadAndValidate, type ConfigProblem } from "../../src/config/load";

function load(postgres: Record<string, unknown>) {
  return loadAndValidate({ "aws:region": "eu-west-1", "postgres-ha:tier": "prod", "postgres-ha:postgres": JSON.stringify(postgres) }, { stack: "prod" });
}

function refused(postgres: Record<string, unknown>): { problems: ConfigProblem[]; message: string } {
  try {
    load(postgres);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return { problems: (e as ConfigError).problems, message: (e as ConfigError).message };
  }
  throw new Error("expected a ConfigError, the config was accepted");
}

const good = {
  databases: { shop: { owner: "shop_owner", extensions: ["pg_trgm", "uuid-ossp"] }, audit: { owner: "auditor", encoding: "LATIN1", locale: "C" } },
  roles: {
    shop_owner: { login: false },
    shop_app: { grants: { shop: "readWrite" }, connectionLimit: 50, memberOf: ["pg_monitor"] },
    shop_ro: { grants: { shop: "readOnly", audit: "readOnly" } },
    shop_admin: { grants: { shop: "owner" }, passwordVersion: 3 },
    auditor: {},
    old_app: { absent: true },
  },
};

describe("haproxy.synchronousReadOnly", () => {
  const gate = (postgres: Record<string, unknown>) => {
    try {
      loadAndValidate({ "aws:region": "eu-west-1", "postgres-ha:tier": "prod", "postgres-ha:postgres": JSON.stringify(postgres), "postgres-ha:haproxy": JSON.stringify({ synchronousReadOnly: true }) }, { stack: "prod" });
      return "accepted";
    } catch (e) {
      return (e as ConfigError).problems.map((p) => `${p.key}: ${p.reason} | ${p.allowed}`).join("\n");
    }
  };
  it("promises read-your-writes, so every standby behind it must be one each commit waits for", () => {
    expect(gate({})).toBe("haproxy.synchronousReadOnly: with postgres.syncMode quorum (ANY 1 of 2 standbys) a read could reach a standby the commit did not wait for | false; or postgres.syncMode on or strict; or postgres.syncNodeCount = 2");
    expect(gate({ syncMode: "off" })).toMatch(/^haproxy.synchronousReadOnly: needs synchronous replication/);
    expect(gate({ syncMode: "on" })).toBe("accepted");
    expect(gate({ syncMode: "quorum", syncNodeCount: 2 })).toBe("accepted");
    expect(gate({ syncMode: "strict", parameters: { synchronous_commit: "on" } })).toMatch(/^postgres.parameters.synchronous_commit: is managed by this program: follows postgres.syncMode \(remote_apply with haproxy.synchronousReadOnly\)/);
  });
});

describe("pooler.*", () => {
  const gate = (pooler: Record<string, unknown>, postgres: Record<string, unknown> = {}) => {
    try {
      const { spec } = loadAndValidate({ "aws:region": "eu-west-1", "postgres-ha:tier": "prod", "postgres-ha:postgres": JSON.stringify(postgres), "postgres-ha:pooler": JSON.stringify(pooler) }, { stack: "prod" });
      return spec.pooler;
    } catch (e) {
      return (e as ConfigError).problems.map((p) => `${p.key} = ${JSON.stringify(p.value)}: ${p.reason} | ${p.allowed}`).join("\n");
    }
  };
  it("off by default; on, the defaults are transaction pooling, 20 server connections per pool, 2000 clients", () => {
    expect(gate({})).toEqual({ enabled: false, mode: "transaction", poolSize: 20, maxClientConnections: 2000 });
    expect(gate({ enabled: true, mode: "session", poolSize: 50 })).toEqual({ enabled: true, mode: "session", poolSize: 50, maxClientConnections: 2000 });
  });
  it("a pool must leave room in max_connections; a mode PgBouncer does not have is refused with the ones it has", () => {
    expect(gate({ enabled: true, poolSize: 95 }, { parameters: { max_connections: 100 } })).toBe(
      "pooler.poolSize = 95: one pool alone would take 95 of max_connections = 100, leaving less than 10 for Patroni, replication, backups and the superuser | an integer 1–90, or a higher postgres.parameters.max_connections",
    );
    expect(gate({ enabled: true, poolSize: 90 }, { parameters: { max_connections: 100 } })).toMatchObject({ poolSize: 90 });
    expect(gate({ enabled: true, mode: "pipelined" })).toMatch(/^pooler\.mode = "pipelined": .*\| one of session, transaction, statement$/);
    expect(gate({ enabled: true, maxClientConnections: 5 })).toMatch(/^pooler\.maxClientConnections = 5: /);
  });
});

describe("postgres.databases and postgres.roles", () => {
  it("a good declaration is kept as written, and the default is none", () => {
    const { config } = load(good);
    expect(config.postgres.databases).toEqual(good.databases);
    expect(config.postgres.roles.shop_admin).toEqual({ grants: { shop: "owner" }, passwordVersion: 3 });
    expect(load({}).config.postgres.roles).toEqual({});
    expect(load({}).config.postgres.databases).toEqual({});
  });

  it("reserved names are refused with the reason", () => {
    const { problems } = refused({ databases: { template1: { owner: "a" } }, roles: { a: {}, replicator: {}, pg_app: {}, postgres: {} } });
    const byKey = Object.fromEntries(problems.map((p) => [p.key, p]));
    expect(Object.keys(byKey).sort()).toEqual(["postgres.databases.template1", "postgres.roles.pg_app", "postgres.roles.postgres", "postgres.roles.replicator"]);
    expect(byKey["postgres.roles.replicator"].reason).toBe("replicator is Patroni's replication user");
    expect(byKey["postgres.roles.postgres"].reason).toMatch(/^postgres is Patroni's superuser/);
    expect(byKey["postgres.roles.pg_app"].reason).toBe("pg_app begins with pg_, which PostgreSQL reserves for its own roles");
    expect(byKey["postgres.databases.template1"].reason).toBe("template1 is PostgreSQL's default template");
    expect(byKey["postgres.roles.replicator"].fix).toBe("remove");
  });

  it("owners, grants and memberships must name declared, present roles and databases", () => {
    const { problems, message } = refused({
      databases: { shop: { owner: "nobody" }, old: { owner: "gone" } },
      roles: { app: { grants: { shopp: "readOnly" }, memberOf: ["ghost", "gone", "pg_execute_server_program", "pg_nothing"] }, gone: { absent: true } },
    });
    const reasons = Object.fromEntries(problems.map((p) => [p.key, p.reason]));
    expect(reasons).toEqual({
      "postgres.databases.shop.owner": "is not declared in postgres.roles",
      "postgres.databases.old.owner": "is marked absent in postgres.roles: a database needs its owner",
      "postgres.roles.app.grants.shopp": "names database shopp, which postgres.databases does not declare",
      "postgres.roles.app.memberOf[0]": "is not declared in postgres.roles",
      "postgres.roles.app.memberOf[1]": "is marked absent in postgres.roles",
      "postgres.roles.app.memberOf[2]": "hands out the node itself (its files or programs): not granted by this program",
      "postgres.roles.app.memberOf[3]": "is no grantable predefined role of PostgreSQL 17",
    });
    expect(problems.find((p) => p.key === "postgres.roles.app.grants.shopp")!.allowed).toBe("a database of postgres.databases (shop, old)");
    expect(message).toContain("postgres.databases.shop.owner = \"nobody\"");
  });

  it("a membership cycle, a password on a group role, settings on an absent role, a wrong encoding, an unknown extension", () => {
    const { problems } = refused({
      databases: { shop: { owner: "a", encoding: "LATIN1", extensions: ["pg_trgm", "file_fdw"] } },
      roles: { a: { memberOf: ["b"] }, b: { memberOf: ["c"] }, c: { memberOf: ["a"] }, g: { login: false, passwordVersion: 2 }, x: { absent: true, grants: { shop: "readOnly" } }, o: { grants: { shop: "owner" } } },
    });
    const reasons = Object.fromEntries(problems.map((p) => [p.key, p.reason]));
    expect(reasons["postgres.roles.a.memberOf"]).toBe("forms a membership cycle: a → b → c → a");
    expect(reasons["postgres.roles.g.passwordVersion"]).toBe("is set on a role that does not log in (login: false): it has no password");
    expect(reasons["postgres.roles.x.grants"]).toBe("is set on a role marked absent (it is dropped)");
    expect(reasons["postgres.databases.shop.encoding"]).toBe("does not go with locale C.UTF-8, which needs UTF8");
    expect(reasons["postgres.databases.shop.extensions[1]"]).toBe("is not an extension this program can create");
    expect(Object.keys(reasons)).toHaveLength(5);
  });

  it("the schema refuses names that would need quoting, unknown grant levels and keys, with what is allowed", () => {
    const { problems } = refused({ databases: { "Shop-DB": { owner: "a" } }, roles: { a: { grants: { shop: "admin" }, logn: true } } });
    const byKey = Object.fromEntries(problems.map((p) => [p.key, p]));
    expect(byKey["postgres.databases.Shop-DB"].allowed).toMatch(/^a database name: 1–63 lower-case letters/);
    expect(byKey["postgres.roles.a.grants.shop"].allowed).toBe("one of readOnly, readWrite, owner");
    expect(byKey["postgres.roles.a.logn"].didYouMean).toBe("postgres.roles.a.login");
  });
});
