// Shared by the integration tests: the sandbox they run against, a write load that records
// every acknowledged commit, and waits with deadlines that say what they were waiting for.
import type { Client } from "pg";
import { checkHealth, openSandbox, type Sandbox } from "../../src/sandbox/cluster";
import { hostExec } from "../../src/sandbox/hosts";
import { nodesOf } from "../../src/spec";

export const TEST_STACK = process.env.PGHA_TEST_STACK ?? "prod";

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
  const h = await waitFor("a healthy cluster (one leader, replicas streaming, rw writable)", async () => {
    const r = await checkHealth(sb);
    return r.healthy ? r : undefined;
  }, timeoutMs, 500);
  return h.leader!;
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

export interface WriteLoadResult {
  acked: number[];
  errors: number;
  /** Longest time between two acknowledged writes (the client-observed outage), ms. */
  longestGapMs: number;
  lastAckBeforeGap?: number;
  firstAckAfterGap?: number;
}

/**
 * Inserts rows through the rw endpoint one at a time until stopped; remembers each id whose
 * COMMIT was acknowledged, and the longest gap between acknowledgements.
 */
export class WriteLoad {
  private stopped = false;
  private readonly acked: number[] = [];
  private errors = 0;
  private readonly ackTimes: number[] = [];
  private done?: Promise<void>;

  constructor(private readonly sb: Sandbox, readonly table: string, private readonly intervalMs = 20) {}

  async prepare(): Promise<void> {
    await this.sb.client.query("rw", `drop table if exists ${this.table}`);
    await this.sb.client.query("rw", `create table ${this.table} (id bigint primary key, at timestamptz default clock_timestamp())`);
  }

  start(): void {
    this.done = this.run();
  }

  private async run(): Promise<void> {
    let client: Client | undefined;
    let id = 0;
    while (!this.stopped) {
      try {
        client ??= await this.sb.client.connect("rw", { connectTimeoutMs: 2000 });
        id += 1;
        await client.query(`insert into ${this.table} (id) values ($1)`, [id]);
        this.acked.push(id);
        this.ackTimes.push(Date.now());
      } catch {
        this.errors += 1;
        await client?.end().catch(() => undefined);
        client = undefined;
        await sleep(100);
      }
      await sleep(this.intervalMs);
    }
    await client?.end().catch(() => undefined);
  }

  get ackedCount(): number {
    return this.acked.length;
  }

  lastAckAt(): number | undefined {
    return this.ackTimes[this.ackTimes.length - 1];
  }

  async stop(): Promise<WriteLoadResult> {
    this.stopped = true;
    await this.done;
    let longest = 0;
    let before: number | undefined;
    let after: number | undefined;
    for (let i = 1; i < this.ackTimes.length; i++) {
      const gap = this.ackTimes[i] - this.ackTimes[i - 1];
      if (gap > longest) {
        longest = gap;
        before = this.ackTimes[i - 1];
        after = this.ackTimes[i];
      }
    }
    return { acked: [...this.acked], errors: this.errors, longestGapMs: longest, lastAckBeforeGap: before, firstAckAfterGap: after };
  }

  /** Acknowledged ids that are not in the table now (must be empty in synchronous mode). */
  async lost(acked: number[]): Promise<number[]> {
    const rows = await this.sb.client.query<{ id: string }>("rw", `select id from ${this.table}`);
    const present = new Set(rows.map((r) => Number(r.id)));
    return acked.filter((id) => !present.has(id));
  }
}

/** Waits until ms after t0 the condition has held continuously for `stableMs`. */
export async function waitStreaming(sb: Sandbox, member: string, timeoutMs = 180_000): Promise<void> {
  await waitFor(`${member} streaming from the leader again`, async () => {
    const c = await sb.client.cluster();
    const m = c?.members.find((x) => x.name === member);
    return m && m.role !== "leader" && m.state === "streaming";
  }, timeoutMs, 500);
}
