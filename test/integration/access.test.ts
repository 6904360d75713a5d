// Client access on real hosts (issue 14): the stack's declared databases and roles, applied on the
// leader by the node's own pgha-access from the passwords in the sandbox's Secrets Manager, as an
// application meets them through the rw endpoint with verify-full; and a password rotation
// under write load.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import YAML from "yaml";
import type { Client } from "pg";
import { apply, openSandbox, type Sandbox } from "../../src/sandbox/cluster";
import { AVAILABLE_EXTENSIONS, GRANTABLE_PREDEFINED_ROLES } from "../../src/access/names";
import { loginRoles } from "../../src/access/declaration";
import { hostExec } from "../../src/sandbox/hosts";
import { localSql, postgresMembers, sandbox, sessionWrites, sleep, waitFor, waitHealthy } from "./support";

let sb: Sandbox;
const T = (minutes: number) => minutes * 60_000;

beforeAll(async () => {
  sb = await sandbox();
  await waitHealthy(sb);
}, T(4));

async function leader(): Promise<string> {
  return waitFor("a leader", () => sb.client.leader(), 120_000);
}

/** A role's session through the rw endpoint (verify-full against the cluster CA). */
function connectAs(role: string, database: string, password = sb.material.roles[role].password): Promise<Client> {
  return sb.client.connect("rw", { user: role, password, database, connectTimeoutMs: 5000 });
}

/** The SQLSTATE a promise fails with (or "ok"). */
async function sqlstate(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
}

/** How many lines of a host's journal contain `text` (fixed string). */
async function journalCount(host: string, text: string): Promise<number> {
  const r = await hostExec(host, ["bash", "-c", 'journalctl -q --no-pager | grep -cF -- "$1" || true', "grep", text]);
  return Number(r.stdout.trim());
}

async function pgaccess(host: string, args: string[]): Promise<{ code: number; report: any; stderr: string }> {
  const r = await hostExec(host, ["pgha-access", ...args, "--json"], { timeoutMs: 300_000 });
  const line = r.stdout.trim().split("\n").filter((l) => l.startsWith("{")).pop();
  return { code: r.code, report: line ? JSON.parse(line) : undefined, stderr: r.stderr };
}

describe("declared databases and roles (postgres.databases, postgres.roles)", () => {
  it("the stack under test declares some (the README's prod example)", () => {
    expect(sb.spec.access.databases.map((d) => d.name)).toEqual(["audit", "orders"]);
    expect(loginRoles(sb.spec.access).map((r) => r.name)).toEqual(["orders_app", "orders_reader"]);
  });

  it("were applied on the leader at up; applying again changes nothing; a replica refuses, or with --if-leader does nothing", async () => {
    const l = await leader();
    const again = await pgaccess(l, ["apply"]);
    expect([again.code, again.report.ok, again.report.changes]).toEqual([0, true, []]);
    expect(again.report.unchanged).toBeGreaterThan(10);
    const replica = postgresMembers(sb).find((m) => m !== l)!;
    const refused = await pgaccess(replica, ["apply"]);
    expect([refused.code, refused.report.ok, refused.report.message]).toEqual([4, false, expect.stringContaining(`${replica} is not the leader`)]);
    // --if-leader on a replica: success, and nothing applied (the report has no changes at all).
    const idle = await pgaccess(replica, ["apply", "--if-leader"]);
    expect([idle.code, idle.report.ok, idle.report.message, idle.report.changes]).toEqual([0, true, expect.stringContaining(`${replica} is not the leader`), undefined]);
    // Each member carries the same declaration, and the timer that re-applies it on the leader.
    for (const m of postgresMembers(sb)) {
      const r = await hostExec(m, ["systemctl", "is-enabled", "pgha-access.timer"]);
      expect([m, r.stdout.trim()]).toEqual([m, "enabled"]);
    }
  }, T(3));

  it("databases have their owner, locale and extensions; PUBLIC cannot connect; roles have no power beyond what is declared", async () => {
    const l = await leader();
    expect(await localSql(l, "select datname, pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datcollate, has_database_privilege('public', datname, 'CONNECT') from pg_database where datname in ('orders', 'audit') order by 1")).toBe(
      "audit|orders_owner|UTF8|C.UTF-8|f\norders|orders_owner|UTF8|C.UTF-8|f",
    );
    expect(await localSql(l, "select string_agg(extname, ',' order by extname) from pg_extension", "orders")).toBe("pg_trgm,pgcrypto,plpgsql");
    expect(await localSql(l, "select rolname, rolcanlogin, rolconnlimit, rolsuper or rolcreaterole or rolcreatedb or rolreplication or rolbypassrls, shobj_description(oid, 'pg_authid') from pg_roles where rolname like 'orders%' order by 1")).toBe(
      "orders_app|t|80|f|managed by postgres-ha\norders_owner|f|-1|f|managed by postgres-ha\norders_reader|t|-1|f|managed by postgres-ha",
    );
  }, T(2));

  it("an app role works in its own database through rw with verify-full, and nowhere else; a read-only role cannot write", async () => {
    const l = await leader();
    // The database owner creates the application's table; the grants follow by default privileges.
    await localSql(l, "drop table if exists items; set role orders_owner; create table items (id bigserial primary key, name text not null)", "orders");
    const app = await connectAs("orders_app", "orders");
    try {
      const tls = await app.query("select ssl, version from pg_stat_ssl where pid = pg_backend_pid()");
      expect(tls.rows[0]).toEqual({ ssl: true, version: expect.stringMatching(/^TLSv1\.[23]$/) });
      await app.query("insert into items (name) values ('a'), ('b')");
      expect((await app.query("update items set name = upper(name)")).rowCount).toBe(2);
      expect(await sqlstate(app.query("create role intruder"))).toBe("42501"); // insufficient_privilege
      expect(await sqlstate(app.query("create database elsewhere"))).toBe("42501");
      expect(await sqlstate(app.query("create table mine (x int)"))).toBe("42501"); // DML, not DDL
    } finally {
      await app.end();
    }
    expect(await sqlstate(connectAs("orders_app", "audit"))).toBe("42501"); // no CONNECT on audit
    const reader = await connectAs("orders_reader", "orders");
    try {
      expect((await reader.query("select name from items order by id")).rows).toEqual([{ name: "A" }, { name: "B" }]);
      expect(await sqlstate(reader.query("insert into items (name) values ('c')"))).toBe("42501");
      expect(await sqlstate(reader.query("delete from items"))).toBe("42501");
    } finally {
      await reader.end();
    }
    // Wrong password: refused (SCRAM against the verifier pgha-access set).
    expect(await sqlstate(connectAs("orders_app", "orders", "not-the-password"))).toBe("28P01");
    // The status URIs are what an application would use: they connect.
    const uris = (await import("../../src/sandbox/cluster/access")).roleUris(sb);
    expect(Object.keys(uris)).toEqual(["orders_app", "orders_reader"]);
    expect(uris.orders_app).toMatch(/^postgresql:\/\/orders_app:[^@]+@.+:5000\/orders\?.*sslmode=verify-full/);
  }, T(2));

  it("the stored verifier is SCRAM-SHA-256 with PostgreSQL's own iteration count; no password is in any member's journal", async () => {
    const l = await leader();
    expect(await localSql(l, "select rolname, split_part(rolpassword, '$', 1), split_part(split_part(rolpassword, '$', 2), ':', 1) from pg_authid where rolname like 'orders%' and rolcanlogin order by 1")).toBe(
      "orders_app|SCRAM-SHA-256|4096\norders_reader|SCRAM-SHA-256|4096",
    );
    for (const [role, { password }] of Object.entries(sb.material.roles)) {
      for (const m of postgresMembers(sb)) expect([m, role, await journalCount(m, password)]).toEqual([m, role, 0]);
    }
  }, T(2));

  it("the names this program offers exist in PostgreSQL 17 on the node: every extension is available, every predefined role exists", async () => {
    const l = await leader();
    const quoted = (xs: readonly string[]) => xs.map((x) => `('${x}')`).join(",");
    expect(await localSql(l, `select coalesce(string_agg(n, ','), '') from (values ${quoted(AVAILABLE_EXTENSIONS)}) v(n) where n not in (select name from pg_available_extensions)`)).toBe("");
    expect(await localSql(l, `select coalesce(string_agg(n, ','), '') from (values ${quoted(GRANTABLE_PREDEFINED_ROLES)}) v(n) where n not in (select rolname from pg_roles)`)).toBe("");
  }, T(1));
});

describe("password rotation (postgres.roles.<name>.passwordVersion)", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-access-"));
  let original: string;

  afterAll(async () => {
    // Back to the stack as shipped (the rotated password stays: rotation only goes forward).
    if (original) await apply(await openSandbox(), { stack: original });
  }, T(10));

  it("under write load: the open session keeps writing, no write fails; a new session needs the new password", async () => {
    original = sb.state.stackFile;
    const before = sb.material.roles.orders_app;
    const l = await leader();
    await localSql(l, "drop table if exists rotation_load; set role orders_owner; create table rotation_load (id bigint primary key)", "orders");
    // The server logs every DDL statement of the superuser's sessions (pgha-access's among them)
    // during the rotation: the log must show the new verifier, never the password.
    await localSql(l, "alter role postgres set log_statement = 'ddl'");
    // A session opened before the rotation, writing every 20 ms through rw until told to stop.
    const session = await connectAs("orders_app", "orders");
    const writes = sessionWrites(session, "rotation_load");

    const doc = YAML.parse(fs.readFileSync(original, "utf8")) as { config: Record<string, any> };
    doc.config["postgres-ha:postgres"].roles.orders_app.passwordVersion = before.version + 1;
    const file = path.join(fs.mkdtempSync(path.join(tmp, "stack-")), path.basename(original));
    fs.writeFileSync(file, YAML.stringify(doc));
    const r = await apply(await openSandbox(), { stack: file, log: (line) => process.stderr.write(`[access] ${line}\n`) });
    expect(r.rollout.ok).toBe(true);
    // The declaration changed on every PostgreSQL node and on no other node (a member may also get
    // back a file an earlier suite changed by hand, e.g. the HA suite's dynamic.json); the leader
    // ran the access action.
    const changed = Object.fromEntries(r.rollout.nodes.filter((n) => n.changed.length).map((n) => [n.node, n.changed]));
    expect(Object.keys(changed).sort()).toEqual(postgresMembers(sb).sort());
    for (const m of postgresMembers(sb)) expect([m, changed[m]]).toEqual([m, expect.arrayContaining(["/etc/pgha/access.json"])]);
    expect(r.rollout.nodes.filter((n) => n.actions.includes("access")).map((n) => n.node).sort()).toEqual(postgresMembers(sb).sort());
    sb = await openSandbox();
    const after = sb.material.roles.orders_app;
    expect(after.version).toBe(before.version + 1);
    expect(after.password).not.toBe(before.password);

    await sleep(1000);
    const { acked, errors } = await writes.stop();
    // The session opened before kept working through the rotation: every write acknowledged.
    expect(errors).toBe(0);
    expect((await session.query("select 1 as one")).rows).toEqual([{ one: 1 }]);
    await session.end();
    expect(Number(await localSql(await leader(), "select count(*) from rotation_load", "orders"))).toBe(acked.length);
    expect(acked.length).toBeGreaterThan(20);

    expect(await sqlstate(connectAs("orders_app", "orders", before.password))).toBe("28P01");
    const fresh = await connectAs("orders_app", "orders", after.password);
    expect((await fresh.query("select current_user")).rows).toEqual([{ current_user: "orders_app" }]);
    await fresh.end();
    // The pooler checks logins against the server's verifier (auth_query): the new password works
    // through it at once, the old one no longer does (PgBouncer's SQLSTATE for it is 08P01).
    if (sb.spec.pooler.enabled) {
      const pooled = await sb.client.connect("pooled-rw", { user: "orders_app", password: after.password, database: "orders", connectTimeoutMs: 10_000 });
      expect((await pooled.query("select current_user")).rows).toEqual([{ current_user: "orders_app" }]);
      await pooled.end();
      expect(await sqlstate(sb.client.connect("pooled-rw", { user: "orders_app", password: before.password, database: "orders", connectTimeoutMs: 10_000 }))).toBe("08P01");
    }
    // The other role was not touched.
    const reader = await connectAs("orders_reader", "orders");
    await reader.end();
    // The statement the leader logged carries a SCRAM verifier; no member's journal the password.
    const now = await leader();
    await localSql(now, "alter role postgres reset log_statement");
    expect(await journalCount(now, `ALTER ROLE "orders_app" PASSWORD 'SCRAM-SHA-256$4096:`)).toBeGreaterThanOrEqual(1);
    for (const m of postgresMembers(sb)) expect([m, await journalCount(m, after.password)]).toEqual([m, 0]);
  }, T(10));
});

describe("changing and removing a declared role", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-roles-"));
  let original: string;

  /** Applies the shipped stack with the given roles added; returns the rollout's access reports. */
  async function applyWithRoles(roles: Record<string, unknown>): Promise<void> {
    original ??= sb.state.stackFile;
    const doc = YAML.parse(fs.readFileSync(original, "utf8")) as { config: Record<string, any> };
    const pg = doc.config["postgres-ha:postgres"];
    doc.config["postgres-ha:postgres"] = { ...pg, roles: { ...pg.roles, ...roles } };
    const file = path.join(fs.mkdtempSync(path.join(tmp, "stack-")), path.basename(original));
    fs.writeFileSync(file, YAML.stringify(doc));
    const r = await apply(await openSandbox(), { stack: file, log: (line) => process.stderr.write(`[roles] ${line}\n`) });
    expect(r.rollout.ok).toBe(true);
    sb = await openSandbox();
  }

  afterAll(async () => {
    if (original) await apply(await openSandbox(), { stack: original });
  }, T(10));

  it("a grant lowered from readWrite to readOnly is taken back; absent: true drops the role and its secret", async () => {
    await applyWithRoles({ batch_job: { grants: { orders: "readWrite" } } });
    const l = await leader();
    await localSql(l, "drop table if exists jobs; set role orders_owner; create table jobs (id int)", "orders");
    const job = await connectAs("batch_job", "orders");
    await job.query("insert into jobs values (1)");
    await job.end();
    const secretName = sb.spec.names.roleSecret.batch_job;
    expect(secretName).toBe("postgres-ha/prod/orders/role/batch_job");

    await applyWithRoles({ batch_job: { grants: { orders: "readOnly" } } });
    const ro = await connectAs("batch_job", "orders");
    try {
      expect((await ro.query("select count(*)::int as c from jobs")).rows).toEqual([{ c: 1 }]);
      expect(await sqlstate(ro.query("insert into jobs values (2)"))).toBe("42501");
    } finally {
      await ro.end();
    }
    // Tables the owner creates later follow the lowered grant too (default privileges).
    await localSql(await leader(), "drop table if exists later; set role orders_owner; create table later (id int)", "orders");
    expect(await localSql(await leader(), "select has_table_privilege('batch_job', 'later', 'SELECT'), has_table_privilege('batch_job', 'later', 'INSERT')", "orders")).toBe("t|f");

    await applyWithRoles({ batch_job: { absent: true } });
    expect(await localSql(await leader(), "select count(*) from pg_roles where rolname = 'batch_job'")).toBe("0");
    expect(sb.material.roles.batch_job).toBeUndefined();
    const gone = await hostExec(postgresMembers(sb)[0], ["bash", "-c", 'set -a; . /etc/pgha/aws.env; set +a; aws secretsmanager describe-secret --secret-id "$1" 2>&1; echo "exit=$?"', "x", secretName]);
    expect(gone.stdout).toMatch(/ResourceNotFoundException[\s\S]*exit=254/);
  }, T(10));

  it("a role absent in the config but not created by postgres-ha is kept, with a warning", async () => {
    const l = await leader();
    await localSql(l, "drop role if exists handmade; create role handmade login");
    await applyWithRoles({ handmade: { absent: true } });
    expect(await localSql(await leader(), "select count(*) from pg_roles where rolname = 'handmade'")).toBe("1");
    const run = await pgaccess(await leader(), ["apply"]);
    expect(run.report.warnings).toEqual(["role handmade is marked absent but was not created by postgres-ha: it is kept (DROP ROLE it by hand)"]);
    await localSql(await leader(), "drop role handmade");
  }, T(10));
});

describe("the synchronous read endpoint (haproxy.synchronousReadOnly)", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-sync-"));
  let original: string;

  afterAll(async () => {
    if (original) await apply(await openSandbox(), { stack: original, log: (line) => process.stderr.write(`[sync] ${line}\n`) });
  }, T(10));

  it("on a live cluster switched to syncMode on: every read through :5002 right after a commit sees it, from a standby", async () => {
    original = sb.state.stackFile;
    const doc = YAML.parse(fs.readFileSync(original, "utf8")) as { config: Record<string, any> };
    doc.config["postgres-ha:postgres"] = { ...doc.config["postgres-ha:postgres"], syncMode: "on" };
    doc.config["postgres-ha:haproxy"] = { ...(doc.config["postgres-ha:haproxy"] ?? {}), synchronousReadOnly: true };
    const file = path.join(fs.mkdtempSync(path.join(tmp, "stack-")), path.basename(original));
    fs.writeFileSync(file, YAML.stringify(doc));
    const r = await apply(await openSandbox(), { stack: file, log: (line) => process.stderr.write(`[sync] ${line}\n`) });
    expect(r.rollout.ok).toBe(true);
    sb = await openSandbox();
    const l = await leader();
    // Patroni picked a synchronous standby and every member runs with remote_apply.
    // The promise holds while the synchronous standby stays the same: when Patroni moves it, HAProxy
    // keeps routing to the old one until fall × inter of failed checks (README). Start once the
    // choice made after the switch from quorum has been stable for 15 s.
    let since = Date.now();
    let chosen: string | undefined;
    await waitFor("the same synchronous standby for 15 s", async () => {
      const now = ((await sb.client.cluster())?.members ?? []).filter((m) => m.role === "sync_standby").map((m) => m.name).join(",");
      if (!now || now !== chosen) [chosen, since] = [now, Date.now()];
      return chosen && Date.now() - since >= 15_000 ? chosen : undefined;
    }, 180_000);
    await waitFor("remote_apply on the leader", async () => (await localSql(l, "show synchronous_commit")) === "remote_apply" || undefined, 60_000);
    await localSql(l, "drop table if exists sync_reads; create table sync_reads (id bigint primary key)");
    // A session through :5002 that lands on a standby (HAProxy marks it up after `rise` checks;
    // until then the endpoint falls back to the leader).
    const standbyReader = () =>
      waitFor("the synchronous endpoint answering from a standby", async () => {
        const c = await sb.client.connect("sync", { connectTimeoutMs: 3000 }).catch(() => undefined);
        if (!c) return undefined;
        const standby = (await c.query("select pg_is_in_recovery() as r").catch(() => ({ rows: [{ r: false }] }))).rows[0].r === true;
        if (standby) return c;
        await c.end().catch(() => undefined);
        return undefined;
      }, 60_000);
    let reader = await standbyReader();
    const writer = await sb.client.connect("rw");
    let stale = 0;
    let reads = 0;
    let reconnects = 0;
    const n = 300;
    try {
      for (let id = 1; id <= n; id++) {
        await writer.query("insert into sync_reads (id) values ($1)", [id]);
        // A session HAProxy closes (the synchronous standby changed) is no stale read: reconnect
        // and read again; what is asserted is that every read that answers sees the commit.
        for (;;) {
          try {
            const seen = await reader.query("select count(*)::int as c, pg_is_in_recovery() as r from sync_reads where id = $1", [id]);
            reads += 1;
            if (seen.rows[0].c !== 1 && seen.rows[0].r) stale += 1;
            break;
          } catch {
            reconnects += 1;
            if (reconnects > 5) throw new Error("the synchronous endpoint closed the session more than 5 times");
            await reader.end().catch(() => undefined);
            reader = await standbyReader();
          }
        }
      }
      expect((await reader.query("select pg_is_in_recovery() as r, count(*)::int as c from sync_reads")).rows[0]).toEqual({ r: true, c: n });
    } finally {
      await writer.end();
      await reader.end().catch(() => undefined);
    }
    process.stderr.write(`[sync] ${reads} reads after ${n} commits, ${reconnects} reconnect(s), ${stale} stale\n`);
    expect([reads, stale]).toEqual([n, 0]);
  }, T(10));
});
