// The chaos soak's faults: how each one is injected on the sandbox, what it waits for while it
// lasts, and how it is undone. Every fault returns once its effect has played out (a new primary
// writing, or its hold time passed); `recover` undoes it and is safe to call twice.
import { failover, mainPid, switchover, waitFailsafeInactive, type Sandbox } from "../../src/sandbox/cluster";
import { hostExec, hostState, powerCut, startHost, waitForBoot } from "../../src/sandbox/hosts";
import { heal, isolate, partition } from "../../src/sandbox/network";
import { etcdctlTlsArgs } from "../../src/sandbox/health";
import { startS3, stopS3 } from "../../src/sandbox/s3";
import { sleep } from "../../src/sandbox/shell";
import { NODE_PATHS } from "../../src/node-paths";
import { PORTS, nodesOf } from "../../src/spec";
import { primaryAmong, waitUntil } from "../wait";
import type { ChaosChecker } from "./checker";
import { pick, type FaultKind } from "./schedule";

export interface FaultContext {
  sb: Sandbox;
  rand: () => number;
  checker: ChaosChecker;
  /** The leader when the fault starts. */
  leader: string;
  log: (line: string) => void;
}

export interface Injected {
  target: string;
  recover(): Promise<void>;
}

/** How long a fault that is not waited out by a new primary lasts, ms. */
export const HOLD_MS = { host: 10_000, partition: 15_000, s3: 20_000, disk: 15_000 };
/** The file that fills a replica's data volume (on the volume, outside PostgreSQL's directory). */
export const DISK_FILLER = `${NODE_PATHS.dataMount}/pgha-chaos-filler`;

const members = (sb: Sandbox) => nodesOf(sb.spec, "postgres").map((n) => n.name);
const addr = (sb: Sandbox, n: string) => sb.layout.addresses[n];

/** Waits for another member to lead and for writes to be acknowledged after that (≤ 3 min). */
async function newPrimaryWriting(ctx: FaultContext): Promise<string> {
  const others = members(ctx.sb).filter((m) => m !== ctx.leader);
  const p = await waitUntil("a new primary", () => primaryAmong(ctx.sb, others), 180_000);
  const at = Date.now();
  await waitUntil(`writes acknowledged by ${p}`, async () => ctx.checker.lastAckAt() > at, 90_000);
  return p;
}

async function restart(host: string): Promise<void> {
  if ((await hostState(host).catch(() => "stopped")) === "running") return;
  await startHost(host);
  await waitForBoot(host);
}

async function hostOutage(host: string, holdMs: number): Promise<Injected> {
  await powerCut(host);
  await sleep(holdMs);
  return { target: host, recover: () => restart(host) };
}

/** The etcd member that leads now (asked on each etcd host for its own endpoint). */
export async function etcdLeader(sb: Sandbox): Promise<string | undefined> {
  for (const n of nodesOf(sb.spec, "etcd")) {
    const url = `${sb.spec.tls.enabled ? "https" : "http"}://${addr(sb, n.name)}:${PORTS.etcdClient}`;
    const r = await hostExec(n.name, ["etcdctl", `--endpoints=${url}`, ...etcdctlTlsArgs(sb), "--command-timeout=2s", "endpoint", "status", "-w", "simple"], { timeoutMs: 5000 }).catch(() => undefined);
    if (r?.code === 0 && r.stdout.split(", ")[4] === "true") return n.name;
  }
  return undefined;
}

export async function injectFault(kind: FaultKind, ctx: FaultContext): Promise<Injected> {
  const { sb, rand, leader } = ctx;
  const replicas = members(sb).filter((m) => m !== leader);
  const etcd = nodesOf(sb.spec, "etcd").map((n) => n.name);
  switch (kind) {
    case "leader-power-cut": {
      await powerCut(leader);
      await newPrimaryWriting(ctx);
      return { target: leader, recover: () => restart(leader) };
    }
    case "replica-power-cut":
      return hostOutage(pick(rand, replicas), HOLD_MS.host);
    case "leader-isolated": {
      await isolate(leader);
      await newPrimaryWriting(ctx);
      return { target: leader, recover: heal };
    }
    case "leader-cut-from-etcd": {
      // Patroni's failsafe mode may keep the leader (it still reaches every member): whatever
      // happens within ttl + 10 s is what the figures record.
      await partition([addr(sb, leader)], etcd.map((e) => addr(sb, e)));
      await sleep((sb.spec.patroni.ttl + 10) * 1000);
      return { target: leader, recover: heal };
    }
    case "leader-cut-from-replicas": {
      await partition([addr(sb, leader)], replicas.map((r) => addr(sb, r)));
      await sleep(HOLD_MS.partition);
      return { target: leader, recover: heal };
    }
    case "postmaster-kill": {
      const pid = mainPid(leader, "postgres");
      if (!pid) throw new Error(`no postmaster found on ${leader}`);
      process.kill(pid, "SIGKILL");
      // Patroni starts it again in place, or a replica takes over: either way a primary writes.
      const at = Date.now();
      await waitUntil("a primary writing again", async () => ctx.checker.lastAckAt() > at + 500, 180_000);
      return { target: leader, recover: async () => undefined };
    }
    case "patroni-kill": {
      const pid = mainPid(leader, "patroni");
      if (!pid) throw new Error(`no Patroni process found on ${leader}`);
      process.kill(pid, "SIGKILL");
      await waitUntil(`Patroni on ${leader} answering again (systemd starts it)`, async () => {
        const now = mainPid(leader, "patroni");
        if (!now || now === pid) return false;
        const r = await sb.client.rest(leader, "GET", "/liveness", undefined, { timeoutMs: 800 });
        return r.status === 200;
      }, 120_000);
      await sleep(5000);
      return { target: leader, recover: async () => undefined };
    }
    case "etcd-member-kill": {
      const lead = await etcdLeader(sb);
      return hostOutage(pick(rand, etcd.filter((e) => e !== lead)), HOLD_MS.host);
    }
    case "etcd-leader-kill": {
      const lead = (await etcdLeader(sb)) ?? pick(rand, etcd);
      return hostOutage(lead, HOLD_MS.host);
    }
    case "etcd-quorum-loss": {
      // One member survives (drawn); the rest up to a majority lose power: no quorum left.
      const survivor = pick(rand, etcd);
      const lost = etcd.filter((e) => e !== survivor).slice(0, Math.ceil(etcd.length / 2));
      for (const e of lost) await powerCut(e);
      await sleep((sb.spec.patroni.ttl + 5) * 1000);
      return {
        target: lost.join("+"),
        recover: async () => {
          for (const e of lost) await restart(e);
          await waitFailsafeInactive(sb);
        },
      };
    }
    case "haproxy-kill":
      return hostOutage(pick(rand, nodesOf(sb.spec, "haproxy").map((n) => n.name)), HOLD_MS.host);
    case "s3-outage": {
      await stopS3(sb.stateDir);
      await sleep(HOLD_MS.s3);
      return { target: "s3", recover: async () => void (await startS3(sb.stateDir, sb.spec.backup.bucketName)) };
    }
    case "replica-disk-full": {
      const target = pick(rand, replicas);
      // As root: fallocate takes the reserved blocks too, so the volume is full for PostgreSQL.
      const fill = `set -e; avail=$(df --output=avail -B1 ${NODE_PATHS.dataMount} | tail -1); fallocate -l "$avail" ${DISK_FILLER} || true; dd if=/dev/zero of=${DISK_FILLER}.tail bs=1M status=none 2>/dev/null || true; df --output=pcent ${NODE_PATHS.dataMount} | tail -1`;
      const r = await hostExec(target, ["bash", "-c", fill], { user: "root", timeoutMs: 120_000 });
      ctx.log(`    ${target}: data volume ${r.stdout.trim()} full`);
      await sleep(HOLD_MS.disk);
      return {
        target,
        recover: async () => {
          await hostExec(target, ["rm", "-f", DISK_FILLER, `${DISK_FILLER}.tail`], { user: "root", timeoutMs: 60_000 });
        },
      };
    }
    case "switchover": {
      const to = pick(rand, replicas);
      await switchover(sb, to);
      return { target: `${leader}→${to}`, recover: async () => undefined };
    }
    case "manual-failover": {
      const to = pick(rand, replicas);
      await failover(sb, to);
      return { target: `${leader}→${to}`, recover: async () => undefined };
    }
  }
}
