// The chaos soak's schedule: which fault comes when, drawn from a seeded generator so that a
// run is reproducible (`--seed`). Targets (which replica, which etcd member) are drawn at run time
// from the same generator, because who leads then depends on what the earlier faults did.

/** Every fault the soak knows, in the order the README's table lists them. */
export const FAULT_KINDS = [
  "leader-power-cut",
  "replica-power-cut",
  "leader-isolated",
  "leader-cut-from-etcd",
  "leader-cut-from-replicas",
  "postmaster-kill",
  "patroni-kill",
  "etcd-member-kill",
  "etcd-leader-kill",
  "etcd-quorum-loss",
  "haproxy-kill",
  "s3-outage",
  "replica-disk-full",
  "switchover",
  "manual-failover",
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export const CHAOS_MODES = ["quorum", "async"] as const;
export type ChaosMode = (typeof CHAOS_MODES)[number];

/** What each fault does, in a line (the table's legend and `--help`). */
export const FAULT_DESCRIPTIONS: Record<FaultKind, string> = {
  "leader-power-cut": "the leader's host loses power; started again after a new leader writes",
  "replica-power-cut": "a replica's host loses power for 10 s",
  "leader-isolated": "the leader's host is cut from every other host and from the clients until a new leader writes",
  "leader-cut-from-etcd": "the leader cannot reach etcd (it still reaches the replicas and HAProxy) until a new leader writes",
  "leader-cut-from-replicas": "the leader cannot reach the replicas (it keeps etcd and HAProxy) for 15 s",
  "postmaster-kill": "SIGKILL to the leader's postmaster: Patroni restarts it or a replica takes over",
  "patroni-kill": "SIGKILL to the leader's Patroni, PostgreSQL left running; systemd starts Patroni again",
  "etcd-member-kill": "an etcd member that is not the etcd leader loses power for 10 s",
  "etcd-leader-kill": "the etcd leader loses power for 10 s",
  "etcd-quorum-loss": "two of three etcd members lose power for ttl + 5 s (failsafe_mode keeps the primary writable)",
  "haproxy-kill": "an HAProxy host loses power for 10 s; clients go to the other HAProxy",
  "s3-outage": "the S3 endpoint stops for 20 s under load; WAL waits in the spool",
  "replica-disk-full": "a replica's data volume is filled to 100 % for 15 s, then the filler is removed",
  switchover: "a planned switchover to a random replica (Patroni REST, as `pgha-node switchover` does)",
  "manual-failover": "a manual failover to a random replica (`npx pgha sandbox failover --to`)",
};

/** Faults that need three etcd members (the dev stack has one). */
export const NEEDS_ETCD_QUORUM: FaultKind[] = ["etcd-member-kill", "etcd-leader-kill", "etcd-quorum-loss"];

/** mulberry32: a small, fast 32-bit generator; the same seed gives the same sequence everywhere. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One of `xs`, drawn with `rand` (xs sorted first, so the draw does not depend on input order). */
export function pick<T extends string>(rand: () => number, xs: readonly T[]): T {
  if (!xs.length) throw new Error("nothing to pick from");
  const sorted = [...xs].sort();
  return sorted[Math.floor(rand() * sorted.length)];
}

export interface PlannedFault {
  index: number;
  kind: FaultKind;
  mode: ChaosMode;
}

export interface ScheduleOptions {
  faults: number;
  seed: number;
  /** "both": the first half in quorum mode, the second in async (one mode change in the run). */
  mode: ChaosMode | "both";
  /** Faults to draw from (default all). */
  kinds?: readonly FaultKind[];
}

/** Problems with the options, each naming the option, the value and what is allowed. */
export function scheduleProblems(o: ScheduleOptions): string[] {
  const problems: string[] = [];
  if (!(Number.isInteger(o.faults) && o.faults >= 1)) problems.push(`--faults takes a whole number ≥ 1, not ${o.faults}`);
  if (!(Number.isInteger(o.seed) && o.seed >= 0 && o.seed <= 0xffffffff)) problems.push(`--seed takes a whole number from 0 to 4294967295, not ${o.seed}`);
  if (!["quorum", "async", "both"].includes(o.mode)) problems.push(`--mode takes quorum, async or both, not ${o.mode}`);
  const unknown = (o.kinds ?? []).filter((k) => !(FAULT_KINDS as readonly string[]).includes(k));
  if (unknown.length) problems.push(`--fault takes ${FAULT_KINDS.join(", ")}; not ${unknown.join(", ")}`);
  if (o.kinds && o.kinds.length === 0) problems.push("--fault needs at least one fault");
  return problems;
}

/**
 * The faults in order. Each draw avoids repeating the previous fault when there is a choice, so
 * a short schedule covers more of the catalogue.
 */
export function chaosSchedule(o: ScheduleOptions): PlannedFault[] {
  const problems = scheduleProblems(o);
  if (problems.length) throw new Error(problems.join("\n"));
  const rand = seededRandom(o.seed);
  const kinds = [...(o.kinds ?? FAULT_KINDS)];
  const out: PlannedFault[] = [];
  let previous: FaultKind | undefined;
  for (let i = 0; i < o.faults; i++) {
    const choices = kinds.length > 1 ? kinds.filter((k) => k !== previous) : kinds;
    const kind = pick(rand, choices);
    const mode: ChaosMode = o.mode === "both" ? (i < Math.ceil(o.faults / 2) ? "quorum" : "async") : o.mode;
    out.push({ index: i + 1, kind, mode });
    previous = kind;
  }
  return out;
}
