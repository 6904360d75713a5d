// The latency between the sandbox's two regions: the router namespace (src/sandbox/network.ts,
// ensureRouter) queues every packet it forwards between the regions' hosts to an NFQUEUE that
// sandbox/wan-delay.py holds for the configured time before accepting it (the kernel here has no
// netem; ../shared/notes/sandbox-hosts.md). Traffic to the sandbox's AWS stand-ins (.248–.250:
// S3 of both regions, the AWS APIs) is not delayed: on AWS a region's nodes reach its own S3 and
// Secrets Manager in-region. Each direction is delayed, so a round trip gains twice the delay.
import * as fs from "fs";
import * as path from "path";
import { spawn } from "child_process";
import { ROUTER_NAMESPACE, routerExists } from "./network";
import { runCommand, runOrThrow } from "./shell";
import { SANDBOX_NETWORK } from "../layout";
import { repoPath } from "../repo-root";
import { STATE_DIR } from "./cluster/state";

/**
 * The default one-way delay between the regions of `sandbox up --standby` (ms): a 25 ms round
 * trip with the router's own forwarding (measured: 24.7–25.9 ms between two namespaces through
 * it). Set your regions' own figure with `--wan-delay-ms`.
 */
export const DEFAULT_WAN_DELAY_MS = 12;
const QUEUE = 7;
const CHAIN = "PGHA_WAN_DELAY";
const pidFile = () => path.join(STATE_DIR, "wan-delay.pid");
const logFile = () => path.join(STATE_DIR, "wan-delay.log");

const iptables = (...args: string[]) => ["ip", "netns", "exec", ROUTER_NAMESPACE, "iptables", "-t", "mangle", ...args];

function runningPid(): number | undefined {
  const pid = Number(fs.existsSync(pidFile()) ? fs.readFileSync(pidFile(), "utf8").trim() : NaN);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("wan-delay.py") ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The one-way delay in force between the regions (ms), 0 when none. */
export function wanDelayMs(): number {
  if (!runningPid()) return 0;
  const m = /--delay-ms\0([\d.]+)/.exec(fs.readFileSync(`/proc/${runningPid()}/cmdline`, "utf8"));
  return m ? Number(m[1]) : 0;
}

/**
 * Sets the one-way delay between the regions' hosts (0 removes it). The router must exist. The
 * rule bypasses the queue while no consumer is bound, so a stopped consumer never cuts the
 * regions apart; it only takes the delay away.
 */
export async function setWanDelay(ms: number): Promise<void> {
  if (!Number.isFinite(ms) || ms < 0 || ms > 1000) throw new Error(`wan delay ${ms} ms: allowed 0–1000`);
  if (!routerExists()) throw new Error(`the router between the regions (${ROUTER_NAMESPACE}) does not exist`);
  const old = runningPid();
  if (old) process.kill(old, "SIGTERM");
  fs.rmSync(pidFile(), { force: true });
  await runCommand(iptables("-D", "FORWARD", "-j", CHAIN));
  await runCommand(iptables("-F", CHAIN));
  await runCommand(iptables("-X", CHAIN));
  if (ms === 0) return;
  const services = `${SANDBOX_NETWORK.prefix}.248/29`; // S3 of both regions, the AWS APIs, the router, the machine
  await runOrThrow(iptables("-N", CHAIN));
  await runOrThrow(iptables("-A", CHAIN, "-d", services, "-j", "RETURN"));
  await runOrThrow(iptables("-A", CHAIN, "-s", services, "-j", "RETURN"));
  await runOrThrow(iptables("-A", CHAIN, "-j", "NFQUEUE", "--queue-num", String(QUEUE), "--queue-bypass"));
  await runOrThrow(iptables("-A", "FORWARD", "-j", CHAIN));
  fs.mkdirSync(STATE_DIR, { recursive: true });
  const out = fs.openSync(logFile(), "a");
  const child = spawn("ip", ["netns", "exec", ROUTER_NAMESPACE, "python3", repoPath("sandbox", "wan-delay.py"), "--queue", String(QUEUE), "--delay-ms", String(ms)], {
    detached: true,
    stdio: ["ignore", out, out],
  });
  child.unref();
  fs.closeSync(out);
  fs.writeFileSync(pidFile(), String(child.pid));
  // Bound once it says so (it exits naming why otherwise).
  const deadline = Date.now() + 10_000;
  for (;;) {
    const log = fs.readFileSync(logFile(), "utf8");
    if (runningPid() && log.trimEnd().split("\n").pop()?.startsWith(`wan-delay: queue ${QUEUE}`)) return;
    if (!runningPid() || Date.now() > deadline) throw new Error(`the inter-region delay did not start: ${log.trim().split("\n").slice(-3).join(" | ")}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
