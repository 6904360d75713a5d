// A write load through the rw endpoint that records every acknowledged commit: how the tests
// and the failover benchmark see an outage the way a client does, and prove nothing was lost.
import type { Client } from "pg";
import type { Sandbox } from "./cluster";
import { sleep } from "./shell";

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
  /** Loads started and not stopped yet (a test that failed midway leaves one running). */
  private static readonly running = new Set<WriteLoad>();

  /** Stops every load still running (tests call it after each test, so none outlives its test). */
  static async stopAll(): Promise<number> {
    const loads = [...WriteLoad.running];
    await Promise.all(loads.map((l) => l.stop()));
    return loads.length;
  }

  private stopped = false;
  private readonly acked: number[] = [];
  private errors = 0;
  private readonly ackTimes: number[] = [];
  private done?: Promise<void>;

  /** The pause between two inserts unless a load says otherwise (ms). */
  static readonly DEFAULT_INTERVAL_MS = 20;

  constructor(private readonly sb: Sandbox, readonly table: string, private readonly intervalMs = WriteLoad.DEFAULT_INTERVAL_MS) {}

  async prepare(): Promise<void> {
    await this.sb.client.query("rw", `drop table if exists ${this.table}`);
    await this.sb.client.query("rw", `create table ${this.table} (id bigint primary key, at timestamptz default clock_timestamp())`);
  }

  start(): void {
    WriteLoad.running.add(this);
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
    const stoppedAt = Date.now();
    this.stopped = true;
    await this.done;
    WriteLoad.running.delete(this);
    let longest = 0;
    let before: number | undefined;
    let after: number | undefined;
    // A load whose writes never came back counts the time up to the stop as outage too.
    const last = this.ackTimes[this.ackTimes.length - 1];
    if (last !== undefined && stoppedAt - last > longest) {
      longest = stoppedAt - last;
      before = last;
    }
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

