// PgBouncer on real hosts (pooler.enabled, issue 14): the pooled endpoints as an application
// meets them — a declared role through rw:6432 with verify-full, reads through ro:6433 on a
// replica, superusers refused — 1 000 concurrent clients against max_connections ≤ 100, and a
// leader power cut under write load through one client pool that is never restarted.
import { Pool, type Client } from "pg";
import { powerCut, startHost, waitForBoot, hostState } from "../../src/sandbox/hosts";
import type { Sandbox } from "../../src/sandbox/cluster";
import { nodesOf } from "../../src/spec";
import { localSql, postgresMembers, sandbox, sleep, waitFor, waitHealthy, waitStreaming } from "./support";

let sb: Sandbox;
const T = (minutes: number) => minutes * 60_000;
const APP = "orders_app";
const DB = "orders";

beforeAll(async () => {
  sb = await sandbox();
  await waitHealthy(sb);
}, T(4));

// A fault test that failed midway must not leave a member off for the next test or suite.
afterEach(async () => {
  for (const n of nodesOf(sb.spec, "postgres")) {
    if ((await hostState(n.name)) === "stopped") {
      await startHost(n.name);
      await waitForBoot(n.name);
    }
  }
}, T(4));

const login = (password = sb.material.roles[APP].password) => ({ user: APP, password, database: DB, connectTimeoutMs: 10_000 });

async function sqlstate(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (e) {
    return (e as { code?: string }).code ?? (e as Error).message;
  }
}

async function leader(): Promise<string> {
  return waitFor("a leader", () => sb.client.leader(), 120_000);
}

describe("the pooled endpoints (pooler.enabled)", () => {
  it("the stack under test runs the pooler, and PostgreSQL with at most 100 connections", async () => {
    expect(sb.spec.pooler.enabled).toBe(true);
    const [{ max_connections }] = await sb.client.query("rw", "show max_connections");
    expect(Number(max_connections)).toBeLessThanOrEqual(100);
    for (const m of postgresMembers(sb)) {
      const r = await sb.client.query(m, "select 1 as one").then(() => "up");
      expect([m, r]).toEqual([m, "up"]);
    }
  });

  it("a declared role reaches the leader through rw:6432 and a replica through ro:6433 with verify-full; a wrong password, the superuser and the replication role are refused", async () => {
    const rw = await sb.client.connect("pooled-rw", login());
    try {
      const [r] = (await rw.query("select current_user as u, current_database() as d, pg_is_in_recovery() as standby")).rows;
      expect(r).toEqual({ u: APP, d: DB, standby: false });
      // TLS to PgBouncer, verified against the cluster CA for the rw name (node-postgres refuses otherwise).
      expect((rw as unknown as { connection: { stream: { encrypted?: boolean } } }).connection.stream.encrypted).toBe(true);
    } finally {
      await rw.end();
    }
    const ro = await sb.client.connect("pooled-ro", login());
    try {
      expect((await ro.query("select pg_is_in_recovery() as standby")).rows[0].standby).toBe(true);
    } finally {
      await ro.end();
    }
    // PgBouncer refuses with its own SQLSTATE, 08P01, where PostgreSQL says 28P01 (docs/facts.md).
    const refusal = async (opts: Parameters<typeof sb.client.connect>[1]) => {
      try {
        await (await sb.client.connect("pooled-rw", opts)).end();
        return "accepted";
      } catch (e) {
        return `${(e as { code?: string }).code} ${(e as Error).message}`;
      }
    };
    expect(await refusal(login("not-the-password"))).toBe("08P01 SASL authentication failed");
    // The superuser and the replication role, with their real passwords: auth_query gives no
    // verifier for them, so the pooler knows no such login.
    expect(await refusal({ database: "postgres", connectTimeoutMs: 10_000 })).toBe("08P01 SASL authentication failed");
    expect(await refusal({ user: "replicator", password: sb.material.cluster.replicationPassword, database: "postgres", connectTimeoutMs: 10_000 })).toBe("08P01 no such user");
    // Both work on the direct endpoint: the refusal is the pooler's.
    expect(await sqlstate(sb.client.query("rw", "select 1"))).toBe("ok");
  }, T(2));

  it("1 000 concurrent clients succeed through the pooler while the server sees at most pooler.poolSize of them", async () => {
    const clients: Client[] = [];
    const N = 1000;
    let peakServer = 0;
    try {
      // Open in waves of 100 (1 000 TLS handshakes at once would only measure this machine's CPU),
      // and keep every one open: all 1 000 are connected at the same time.
      for (let i = 0; i < N; i += 100) {
        clients.push(...(await Promise.all(Array.from({ length: 100 }, () => sb.client.connect("pooled-rw", login())))));
      }
      expect(clients).toHaveLength(N);
      const watcher = setInterval(() => {
        sb.client.query("rw", "select count(*)::int as n from pg_stat_activity where usename = $1", [APP])
          .then(([r]) => { peakServer = Math.max(peakServer, r.n); })
          .catch(() => undefined);
      }, 100);
      const started = Date.now();
      const results = await Promise.all(clients.map((c, i) => c.query("select $1::int as i, pg_sleep(0.02)", [i]).then((r) => r.rows[0].i as number)));
      const seconds = (Date.now() - started) / 1000;
      clearInterval(watcher);
      expect(results).toEqual(Array.from({ length: N }, (_, i) => i));
      process.stderr.write(`[pooler] ${N} concurrent clients: every query answered in ${seconds.toFixed(1)} s; at most ${peakServer} server connections of ${APP}\n`);
      expect(peakServer).toBeGreaterThan(0);
      expect(peakServer).toBeLessThanOrEqual(sb.spec.pooler.poolSize);
    } finally {
      await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    }
  }, T(4));

  it("a leader power cut under write load through rw:6432: errors during the outage, then writes resume on the new leader through the same client pool; nothing acknowledged is lost", async () => {
    // Created by the databases' owner, as an application's migration would: the declared grants
    // reach it through default privileges (and pgha-access has nothing to add afterwards).
    await localSql(await leader(), "drop table if exists pooled_load; set role orders_owner; create table pooled_load (id bigint primary key, at timestamptz default clock_timestamp())", DB);
    const pool = new Pool({ ...sb.client.pgConfig("pooled-rw", login()), max: 4 });
    pool.on("error", () => undefined); // an idle client's connection dropped: the pool replaces it
    const acked: number[] = [];
    const errors: { at: number; code: string }[] = [];
    let lastAckAt = 0;
    let stop = false;
    let next = 0;
    const worker = async () => {
      while (!stop) {
        const id = ++next;
        try {
          await pool.query("insert into pooled_load (id) values ($1)", [id]);
          acked.push(id);
          lastAckAt = Date.now();
        } catch (e) {
          errors.push({ at: Date.now(), code: (e as { code?: string }).code ?? (e as Error).message });
          await sleep(100);
        }
        await sleep(10);
      }
    };
    const workers = [worker(), worker()];
    try {
      await waitFor("pooled writes flowing", async () => acked.length > 50, 30_000);
      const oldLeader = await leader();
      const cutAt = Date.now();
      await powerCut(oldLeader);
      const newLeader = await waitFor("a new leader", async () => {
        const l = await sb.client.leader().catch(() => undefined);
        return l && l !== oldLeader ? l : undefined;
      }, 120_000, 200);
      await waitFor("pooled writes resuming on the new leader", async () => lastAckAt > cutAt + 100 && acked.filter((id) => id > 0).length > 0, 120_000);
      const resumedAt = acked.length;
      await waitFor("more pooled writes", async () => acked.length > resumedAt + 50, 30_000);
      stop = true;
      await Promise.all(workers);
      const during = errors.filter((e) => e.at >= cutAt);
      const [{ n }] = await sb.client.query("rw", "select count(*)::int as n from pooled_load where id = any($1::bigint[])", [acked], { database: DB });
      const [{ standby }] = await sb.client.query("pooled-rw", "select pg_is_in_recovery() as standby", [], login());
      process.stderr.write(`[pooler] power cut of ${oldLeader}: ${newLeader} leads; ${acked.length} pooled writes acknowledged, ${during.length} failed during the outage (${[...new Set(during.map((e) => e.code))].join(", ")}), ${acked.length - n} lost\n`);
      expect(during.length).toBeGreaterThan(0);
      expect(standby).toBe(false);
      if (sb.spec.postgres.syncMode !== "off") expect(n).toBe(acked.length);
      await startHost(oldLeader);
      await waitForBoot(oldLeader);
      await waitStreaming(sb, oldLeader);
      await waitHealthy(sb);
    } finally {
      stop = true;
      await Promise.all(workers);
      await pool.end();
      await sb.client.query("rw", "drop table if exists pooled_load", [], { database: DB }).catch(() => undefined);
    }
  }, T(6));
});
