// Shared by the integration tests: the sandbox they run against, a write load that records
// every acknowledged commit, and waits with deadlines that say what they were waiting for.
import type { Client } from "pg";
import { checkHealth, openSandbox, type Sandbox } from "../../src/sandbox/cluster";
import { hostExec } from "../../src/sandbox/hosts";
import { nodesOf } from "../../src/spec";
export { WriteLoad, type WriteLoadResult } from "../../src/sandbox/workload";

import { WriteLoad as Load } from "../../src/sandbox/workload";

export const TEST_STACK = process.env.PGHA_TEST_STACK ?? "prod";

// No write load outlives the test that started it, also when the test failed midway (jest
// otherwise reports work still running after the suite ended).
afterEach(async () => {
  const stopped = await Load.stopAll();
  if (stopped) process.stderr.write(`[integration] stopped ${stopped} write load(s) left running by the test\n`);
});

let cached: Sandbox | undefined;
export async function sandbox(): Promise<Sandbox> {
  cached ??= await openSandbox();
  return cached;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `probe` until it returns a truthy value; fails with `what` after timeoutMs. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false | null>, timeoutMs = 120_000, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v as T;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ""}`);
    await sleep(everyMs);
  }
}

export async function waitHealthy(sb: Sandbox, timeoutMs = 180_000): Promise<string> {
  let reasons: string[] = [];
  try {
    const h = await waitFor("a healthy cluster (one leader, replicas streaming, rw writable)", async () => {
      const r = await checkHealth(sb);
      reasons = r.reasons;
      return r.healthy ? r : undefined;
    }, timeoutMs, 500);
    return h.leader!;
  } catch (e) {
    // Say why: a bare time-out sends the reader to the journals with nothing to look for. The
    // journals' tails go to stderr, where CI keeps them.
    process.stderr.write(await diagnostics(sb));
    throw new Error(`${(e as Error).message}; last seen: ${reasons.join("; ") || "no answer"}`);
  }
}

/** What a failed wait leaves for the reader: each member's view and the journals' last lines. */
export async function diagnostics(sb: Sandbox, lines = 40): Promise<string> {
  const out: string[] = ["[integration] diagnostics after a failed wait"];
  for (const n of sb.spec.nodes.filter((x) => x.role === "postgres" || x.role === "etcd")) {
    const unit = n.role === "postgres" ? "patroni" : "etcd";
    const view = n.role === "postgres" ? await sb.client.rest(n.name, "GET", "/patroni", undefined, { timeoutMs: 2000 }).then((x) => JSON.stringify(x.body), (e) => `GET /patroni: ${(e as Error).message}`) : "";
    const r = await hostExec(n.name, ["journalctl", "-u", unit, "-n", String(lines), "--no-pager", "-o", "short-precise"], { timeoutMs: 20_000 }).catch((e) => ({ code: -1, stdout: "", stderr: String(e) }));
    out.push(`--- ${n.name} (${unit}) ${view}`, (r.stdout + r.stderr).trimEnd());
  }
  return out.join("\n") + "\n";
}

export function postgresMembers(sb: Sandbox): string[] {
  return nodesOf(sb.spec, "postgres").map((n) => n.name);
}

export async function sh(host: string, script: string, timeoutMs = 120_000): Promise<string> {
  const r = await hostExec(host, ["bash", "-c", script], { timeoutMs });
  if (r.code !== 0) throw new Error(`${host}: \`${script}\` exited ${r.code}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

/** psql as postgres over the node's unix socket (peer auth), tuples only. */
export async function localSql(host: string, sql: string, db = "postgres"): Promise<string> {
  const r = await hostExec(host, ["psql", "-h", "/var/run/postgresql", "-d", db, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql], { user: "postgres", timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`${host}: psql -c "${sql}" exited ${r.code}: ${r.stderr}`);
  return r.stdout.trim();
}

/** Waits until ms after t0 the condition has held continuously for `stableMs`. */
export async function waitStreaming(sb: Sandbox, member: string, timeoutMs = 180_000): Promise<void> {
  await waitFor(`${member} streaming from the leader again`, async () => {
    const c = await sb.client.cluster();
    const m = c?.members.find((x) => x.name === member);
    return m && m.role !== "leader" && m.state === "streaming";
  }, timeoutMs, 500);
}

/**
 * One session that keeps writing: inserts ids 1, 2, … into `table` (a column `id`) every 20 ms
 * until stopped, counting what was acknowledged and what failed — for "a session opened before
 * the change keeps working" checks (the session is the caller's: end it after `stop`).
 */
export function sessionWrites(session: Client, table: string): { stop(): Promise<{ acked: number[]; errors: number }> } {
  let stopped = false;
  let errors = 0;
  const acked: number[] = [];
  const done = (async () => {
    for (let id = 1; !stopped; id++) {
      try {
        await session.query(`insert into ${table} (id) values ($1)`, [id]);
        acked.push(id);
      } catch {
        errors++;
      }
      await sleep(20);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await done;
      return { acked, errors };
    },
  };
}
