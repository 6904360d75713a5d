// The sandbox's S3 endpoint: s3rver (HTTPS, certificate from the sandbox CA for
// s3.sandbox.internal) running in its own network namespace at 10.88.0.250:443, so pgBackRest
// and awscli on the hosts verify TLS exactly as they would against AWS.
import * as fs from "fs";
import * as path from "path";
import { spawn } from "child_process";
import * as net from "net";
import { SANDBOX_NETWORK } from "../layout";
import { attachHost, detachHost, namespaceName } from "./network";
import { materialDir } from "./material";
import { processExists, sleep } from "./shell";

export const S3_HOST = "s3";

function pidFile(stateDir: string): string {
  return path.join(stateDir, "s3", "s3rver.pid");
}

export function s3DataDir(stateDir: string): string {
  return path.join(stateDir, "s3", "data");
}

function s3rverScript(): string {
  return require.resolve("s3rver/bin/s3rver.js");
}

function isS3rver(pid: number): boolean {
  try {
    return processExists(pid) && fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("s3rver");
  } catch {
    return false;
  }
}

export function s3Pid(stateDir: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(pidFile(stateDir), "utf8").trim());
    return isS3rver(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Resolves when something accepts TCP connections on address:port (from the machine). */
export async function waitForPort(address: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: address, port, timeout: 1000 });
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
      s.once("timeout", () => {
        s.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${address}:${port} after ${timeoutMs} ms`);
    await sleep(200);
  }
}

/** Starts the S3 endpoint (idempotent) with the bucket configured. */
export async function startS3(stateDir: string, bucket: string): Promise<number> {
  const running = s3Pid(stateDir);
  if (running) return running;
  await attachHost(S3_HOST, SANDBOX_NETWORK.s3Address);
  const dir = path.join(stateDir, "s3");
  fs.mkdirSync(s3DataDir(stateDir), { recursive: true });
  const log = fs.openSync(path.join(dir, "s3rver.log"), "a");
  const m = materialDir(stateDir);
  const child = spawn(
    "ip",
    [
      "netns", "exec", namespaceName(S3_HOST),
      process.execPath, s3rverScript(),
      "-d", s3DataDir(stateDir),
      "-a", SANDBOX_NETWORK.s3Address,
      "-p", String(SANDBOX_NETWORK.s3Port),
      "--key", path.join(m, "s3.key"),
      "--cert", path.join(m, "s3.crt"),
      "--no-vhost-buckets",
      "--configure-bucket", bucket,
    ],
    { detached: true, stdio: ["ignore", log, log] },
  );
  child.unref();
  fs.closeSync(log);
  // `ip netns exec` execs node, so the child's pid is s3rver's.
  fs.writeFileSync(pidFile(stateDir), String(child.pid));
  await waitForPort(SANDBOX_NETWORK.s3Address, SANDBOX_NETWORK.s3Port, 20_000);
  return child.pid!;
}

export async function stopS3(stateDir: string): Promise<void> {
  const pid = s3Pid(stateDir);
  if (pid) {
    process.kill(pid, "SIGTERM");
    for (let i = 0; i < 50 && isS3rver(pid); i++) await sleep(100);
    if (isS3rver(pid)) process.kill(pid, "SIGKILL");
  }
  fs.rmSync(pidFile(stateDir), { force: true });
}

/** Removes the endpoint's namespace too (sandbox down). */
export async function removeS3(stateDir: string, keepData: boolean): Promise<void> {
  await stopS3(stateDir);
  await detachHost(S3_HOST).catch(() => undefined);
  if (!keepData) fs.rmSync(path.join(stateDir, "s3"), { recursive: true, force: true });
}
