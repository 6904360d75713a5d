// The chaos soak's checker: many clients writing their own keys through HAProxy with every
// acknowledgement recorded (which server, which timeline, when), readers on rw and ro, and a probe
// of every member's role every 250 ms. What it records is judged by the pure functions below:
// lost acknowledged writes, two servers acknowledging writes as primaries at once, reads on rw
// that go back in time, reads that return a value nobody wrote.
import type { Client, ClientConfig } from "pg";
import { Client as PgClient } from "pg";
import type { Sandbox } from "../../src/sandbox/cluster";
import { nodesOf } from "../../src/spec";
import { sleep } from "../../src/sandbox/shell";

/** One acknowledged write: client-side time of the acknowledgement, server-side time of the insert. */
export interface Ack {
  client: number;
  seq: number;
  /** The member that ran the insert (inet_server_addr() behind HAProxy, as a host name). */
  server: string;
  /** The timeline the primary was writing on. */
  tl: number;
  /** clock_timestamp() at the insert, ms since the epoch (the hosts share the machine's clock). */
  serverAt: number;
  /** When the client saw the COMMIT acknowledged, ms since the epoch. */
  at: number;
}

/** A read through rw that returned less than a write acknowledged before the read was sent. */
export interface StaleRead {
  client: number;
  expectedAtLeast: number;
  got: number;
  at: number;
}

/** Which members answered as writable primaries (pg_is_in_recovery() false) at one moment. */
export interface ProbeSample {
  t: number;
  writable: string[];
}

export interface CheckerOptions {
  /** Concurrent writers (each its own keys), default CHAOS_WRITERS. */
  writers?: number;
  /** Pause after each write of a writer, ms. */
  pauseMs?: number;
  table?: string;
}

export const CHAOS_WRITERS = 8;
export const CHAOS_WRITE_PAUSE_MS = 50;
export const PROBE_INTERVAL_MS = 250;

/**
 * Writes, reads and probes until stopped. Clients connect to the HAProxy nodes in turn and move to
 * the next one when a connection fails, as they would behind a load balancer.
 */
export class ChaosChecker {
  readonly writers: number;
  readonly pauseMs: number;
  readonly table: string;
  private stopped = false;
  private tasks: Promise<void>[] = [];
  /** Acks not yet taken by `takeAcks` (the soak judges them fault by fault). */
  private pending: Ack[] = [];
  private lastAckTime = 0;
  /** Every acknowledged seq per client, for the final check. */
  readonly ackedSeqs: number[][];
  /** The highest seq each client has acknowledged / has sent. */
  readonly lastAcked: number[];
  readonly lastSent: number[];
  /** Writes that failed after being sent: they may or may not have committed. */
  indeterminate = 0;
  readonly staleReads: StaleRead[] = [];
  /** Reads (rw or ro) that returned a seq higher than any the client had sent. */
  phantomReads = 0;
  reads = { rw: 0, ro: 0, rwFailed: 0, roFailed: 0 };
  readonly probes: ProbeSample[] = [];
  private readonly byAddress: Map<string, string>;
  private readonly balancers: string[];

  constructor(private readonly sb: Sandbox, o: CheckerOptions = {}) {
    this.writers = o.writers ?? CHAOS_WRITERS;
    this.pauseMs = o.pauseMs ?? CHAOS_WRITE_PAUSE_MS;
    this.table = o.table ?? "chaos_writes";
    this.ackedSeqs = Array.from({ length: this.writers }, () => []);
    this.lastAcked = Array(this.writers).fill(0);
    this.lastSent = Array(this.writers).fill(0);
    this.byAddress = new Map(Object.entries(sb.layout.addresses).map(([name, addr]) => [addr, name]));
    this.balancers = nodesOf(sb.spec, "haproxy").map((n) => sb.layout.addresses[n.name]);
  }

  async prepare(): Promise<void> {
    await this.sb.client.query("rw", `drop table if exists ${this.table}`);
    await this.sb.client.query("rw", `create table ${this.table} (client int, seq bigint, at timestamptz default clock_timestamp(), primary key (client, seq))`);
  }

  /** A client config for rw/ro through the i-th HAProxy node (wrapping), or for a member. */
  private config(target: string, balancer: number, timeoutMs: number): ClientConfig {
    const c = this.sb.client.pgConfig(target, { connectTimeoutMs: timeoutMs });
    if ((target === "rw" || target === "ro") && this.balancers.length) c.host = this.balancers[balancer % this.balancers.length];
    return { ...c, query_timeout: target === "rw" || target === "ro" ? undefined : timeoutMs };
  }

  private async open(target: string, balancer: number, timeoutMs = 2000): Promise<Client> {
    const c = new PgClient(this.config(target, balancer, timeoutMs));
    c.on("error", () => undefined);
    try {
      await c.connect();
    } catch (e) {
      await c.end().catch(() => undefined);
      throw e;
    }
    return c;
  }

  start(): void {
    for (let w = 0; w < this.writers; w++) this.tasks.push(this.writer(w));
    this.tasks.push(this.reader("rw"), this.reader("ro"));
    for (const m of nodesOf(this.sb.spec, "postgres").map((n) => n.name)) this.tasks.push(this.prober(m));
    this.tasks.push(this.sampler());
  }

  private async writer(w: number): Promise<void> {
    let client: Client | undefined;
    let balancer = w;
    const sql =
      `insert into ${this.table} (client, seq) values ($1, $2) returning host(inet_server_addr()) as server, ` +
      `substr(pg_walfile_name(pg_current_wal_insert_lsn()), 1, 8) as tl, extract(epoch from clock_timestamp()) * 1000 as server_at`;
    while (!this.stopped) {
      try {
        client ??= await this.open("rw", balancer);
      } catch {
        balancer++;
        await sleep(200);
        continue;
      }
      const seq = ++this.lastSent[w];
      try {
        const r = await client.query(sql, [w, seq]);
        const row = r.rows[0] as { server: string; tl: string; server_at: string };
        const ack: Ack = { client: w, seq, server: this.byAddress.get(row.server) ?? row.server, tl: parseInt(row.tl, 16), serverAt: Number(row.server_at), at: Date.now() };
        this.pending.push(ack);
        this.lastAckTime = ack.at;
        this.ackedSeqs[w].push(seq);
        this.lastAcked[w] = seq;
      } catch {
        this.indeterminate++;
        await client.end().catch(() => undefined);
        client = undefined;
        balancer++;
        await sleep(100);
      }
      await sleep(this.pauseMs);
    }
    await client?.end().catch(() => undefined);
  }

  private async reader(target: "rw" | "ro"): Promise<void> {
    let client: Client | undefined;
    let balancer = 0;
    let c = 0;
    while (!this.stopped) {
      c = (c + 1) % this.writers;
      const expected = this.lastAcked[c];
      try {
        client ??= await this.open(target, balancer);
        const r = await client.query(`select coalesce(max(seq), 0) as m from ${this.table} where client = $1`, [c]);
        const got = Number(r.rows[0].m);
        this.reads[target]++;
        if (got > this.lastSent[c]) this.phantomReads++;
        if (target === "rw" && got < expected) this.staleReads.push({ client: c, expectedAtLeast: expected, got, at: Date.now() });
      } catch {
        if (target === "rw") this.reads.rwFailed++;
        else this.reads.roFailed++;
        await client?.end().catch(() => undefined);
        client = undefined;
        balancer++;
        await sleep(200);
      }
      await sleep(this.pauseMs);
    }
    await client?.end().catch(() => undefined);
  }

  /** The latest answer of each member's probe: writable primary or not (unreachable: not). */
  private readonly writable = new Map<string, boolean>();

  private async prober(member: string): Promise<void> {
    let client: Client | undefined;
    while (!this.stopped) {
      const started = Date.now();
      try {
        client ??= await this.open(member, 0, 1000);
        const r = await client.query("select not pg_is_in_recovery() as w");
        this.writable.set(member, r.rows[0].w === true);
      } catch {
        this.writable.set(member, false);
        await client?.end().catch(() => undefined);
        client = undefined;
      }
      await sleep(Math.max(0, PROBE_INTERVAL_MS - (Date.now() - started)));
    }
    await client?.end().catch(() => undefined);
  }

  private async sampler(): Promise<void> {
    while (!this.stopped) {
      this.probes.push({ t: Date.now(), writable: [...this.writable].filter(([, w]) => w).map(([m]) => m).sort() });
      await sleep(PROBE_INTERVAL_MS);
    }
  }

  /** The acknowledgements since the last call (and forgets them: a long soak keeps only seqs). */
  takeAcks(): Ack[] {
    const out = this.pending;
    this.pending = [];
    return out;
  }

  /** When the newest acknowledgement came (0: none yet), ms since the epoch. */
  lastAckAt(): number {
    return this.lastAckTime;
  }

  get ackedCount(): number {
    return this.ackedSeqs.reduce((a, s) => a + s.length, 0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.tasks);
    this.tasks = [];
  }

  /** Acknowledged writes in `acks` that the rw endpoint does not return now. */
  async missing(acks: { client: number; seq: number }[]): Promise<{ client: number; seq: number }[]> {
    const out: { client: number; seq: number }[] = [];
    const byClient = new Map<number, number[]>();
    for (const a of acks) {
      const seqs = byClient.get(a.client);
      if (seqs) seqs.push(a.seq);
      else byClient.set(a.client, [a.seq]);
    }
    for (const [client, seqs] of byClient) {
      // A loop, not Math.min(...seqs): a long soak's final check has more seqs than arguments allowed.
      let lo = Infinity;
      let hi = -Infinity;
      for (const x of seqs) {
        if (x < lo) lo = x;
        if (x > hi) hi = x;
      }
      const rows = await this.sb.client.query<{ seq: string }>("rw", `select seq from ${this.table} where client = $1 and seq between $2 and $3`, [client, lo, hi]);
      const present = new Set(rows.map((r) => Number(r.seq)));
      for (const s of seqs) if (!present.has(s)) out.push({ client, seq: s });
    }
    return out;
  }

  /** Every acknowledged write of the whole run that is not there now. */
  async missingOfAll(): Promise<{ client: number; seq: number }[]> {
    return this.missing(this.ackedSeqs.flatMap((seqs, client) => seqs.map((seq) => ({ client, seq }))));
  }
}

/**
 * Two primaries acknowledging writes at once: a write on an older timeline inserted after a write
 * on a newer one (server-side clocks, shared by every host), or two servers on one timeline.
 * Returns the overlap in ms (0: none).
 */
export function splitBrainMs(acks: Ack[]): number {
  const byTl = new Map<number, { first: number; last: number; servers: Set<string> }>();
  for (const a of acks) {
    const x = byTl.get(a.tl) ?? { first: Infinity, last: -Infinity, servers: new Set<string>() };
    x.first = Math.min(x.first, a.serverAt);
    x.last = Math.max(x.last, a.serverAt);
    x.servers.add(a.server);
    byTl.set(a.tl, x);
  }
  let worst = 0;
  const tls = [...byTl.keys()].sort((a, b) => a - b);
  for (const tl of tls) {
    const x = byTl.get(tl)!;
    if (x.servers.size > 1) worst = Math.max(worst, x.last - x.first || 1);
    for (const newer of tls.filter((t) => t > tl)) {
      const y = byTl.get(newer)!;
      if (x.last > y.first) worst = Math.max(worst, x.last - y.first);
    }
  }
  return worst;
}

/**
 * Splits reads on rw that returned less than an acknowledged write into the two things they can
 * mean. A read that misses only writes counted as lost (async mode: acknowledged by a primary that
 * was then replaced before they streamed) shows that loss again and is not counted twice; a read
 * that misses a write which is there now is a stale read, a bug in any mode.
 * `ackedSeqs[c]` holds client c's acknowledged seqs, ascending.
 */
export function judgeStaleReads(
  reads: readonly StaleRead[],
  ackedSeqs: readonly (readonly number[])[],
  lost: readonly { client: number; seq: number }[],
): { stale: StaleRead[]; ofLostWrites: StaleRead[] } {
  const lostKeys = new Set(lost.map((l) => `${l.client}:${l.seq}`));
  const stale: StaleRead[] = [];
  const ofLostWrites: StaleRead[] = [];
  for (const r of reads) {
    const missed = (ackedSeqs[r.client] ?? []).filter((s) => s > r.got && s <= r.expectedAtLeast);
    const onlyLost = missed.length > 0 && missed.every((s) => lostKeys.has(`${r.client}:${s}`));
    (onlyLost ? ofLostWrites : stale).push(r);
  }
  return { stale, ofLostWrites };
}

/** The longest time without an acknowledgement from `from` to `to` (client-side times), ms. */
export function longestGapMs(acks: Ack[], from: number, to: number): number {
  const times = acks.map((a) => a.at).filter((t) => t >= from && t <= to).sort((a, b) => a - b);
  let prev = from;
  let worst = 0;
  for (const t of times) {
    worst = Math.max(worst, t - prev);
    prev = t;
  }
  return Math.max(worst, to - prev);
}

/** The longest gap one client saw between two of its acknowledgements from `from` to `to`, ms (a client on a dead HAProxy waits although others write). */
export function longestClientGapMs(acks: Ack[], from: number, to: number, clients: number): number {
  let worst = 0;
  for (let c = 0; c < clients; c++) worst = Math.max(worst, longestGapMs(acks.filter((a) => a.client === c), from, to));
  return worst;
}

/** From the probes: the first member other than `oldLeader` seen writable after `from` (and when). */
export function firstNewPrimary(probes: ProbeSample[], oldLeader: string, from: number): { member: string; at: number } | undefined {
  for (const p of probes) {
    if (p.t < from) continue;
    const other = p.writable.find((m) => m !== oldLeader);
    if (other) return { member: other, at: p.t };
  }
  return undefined;
}

/** From the probes: how long two or more members answered as writable primaries between from and to, ms. */
export function twoPrimariesSeenMs(probes: ProbeSample[], from: number, to: number): number {
  let ms = 0;
  for (let i = 1; i < probes.length; i++) {
    const p = probes[i - 1];
    if (p.t < from || p.t > to) continue;
    if (p.writable.length > 1) ms += probes[i].t - p.t;
  }
  return ms;
}
