/**
 * Small helpers to run machine commands (ip, nft, mount, nsenter …) from the sandbox layer.
 *
 * Every command runs in its own process group so a timeout can end the whole tree (nsenter
 * forks into the guest's PID namespace; killing only nsenter would leave its child behind).
 */
import { spawn } from "node:child_process";
import { constants } from "node:os";

export interface CommandResult {
  /** Exit status; 124 when the command was stopped by its timeout (as `timeout(1)` does). */
  code: number;
  stdout: string;
  stderr: string;
  /** stdout as bytes (binary-safe; `stdout` is its UTF-8 decoding). */
  stdoutBytes: Buffer;
  timedOut: boolean;
}

export interface CommandOptions {
  /** Written to the command's stdin, which is then closed. */
  input?: string | Buffer;
  /** The whole process group is killed (SIGKILL) after this long. Default 120 s. */
  timeoutMs?: number;
  /** Replaces the environment (PATH is always made to include the sbin directories). */
  env?: NodeJS.ProcessEnv;
}

const DEFAULT_TIMEOUT_MS = 120_000;
const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The machine's environment with the sbin directories on PATH (ip, nft, mount live there). */
export function machineEnvironment(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const path = process.env.PATH ? `${process.env.PATH}:${SYSTEM_PATH}` : SYSTEM_PATH;
  return { ...process.env, PATH: path, LC_ALL: "C", ...extra };
}

export class CommandFailedError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly result: CommandResult,
    hint?: string,
  ) {
    const output = (result.stderr.trim() || result.stdout.trim()).split("\n").slice(-15).join("\n");
    const status = result.timedOut ? "timed out" : `exited with status ${result.code}`;
    super(`\`${formatCommand(argv)}\` ${status}${output ? `:\n${output}` : ""}${hint ? `\n${hint}` : ""}`);
    this.name = "CommandFailedError";
  }
}

/** Runs a command and resolves with its status and output; never rejects on a non-zero status. */
export function runCommand(argv: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
  const [program, ...args] = argv;
  if (!program) throw new Error("runCommand needs a program to run");
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, {
      detached: true,
      env: options.env ?? machineEnvironment(),
      stdio: ["pipe", "pipe", "pipe"],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killProcessGroup(child.pid);
    }, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.stdin.on("error", () => undefined); // the command may exit without reading its input
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot start \`${program}\`: ${error.message} (is it installed on the machine?)`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(stdout);
      resolve({
        code: timedOut ? 124 : (code ?? (signal ? 128 + signalNumber(signal) : 1)),
        stdout: stdoutBytes.toString("utf8"),
        stdoutBytes,
        stderr: Buffer.concat(stderr).toString("utf8"),
        timedOut,
      });
    });
    child.stdin.end(options.input ?? "");
  });
}

/** Runs a command and returns its stdout; rejects with a CommandFailedError on failure. */
export async function runOrThrow(
  argv: readonly string[],
  options: CommandOptions & { hint?: string } = {},
): Promise<string> {
  const result = await runCommand(argv, options);
  if (result.code !== 0) throw new CommandFailedError(argv, result, options.hint);
  return result.stdout;
}

/** Renders argv as a shell command a person can paste. */
export function formatCommand(argv: readonly string[]): string {
  return argv.map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`)).join(" ");
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `probe` until it returns a value other than undefined, or throws `onTimeout()`. */
export async function pollUntil<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  { timeoutMs, intervalMs = 100, onTimeout }: { timeoutMs: number; intervalMs?: number; onTimeout: () => Error },
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) throw onTimeout();
    await sleep(intervalMs);
  }
}

/** True when a process with this pid exists (zombies included). */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Sends a signal, ignoring a process that is already gone. */
export function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}

function killProcessGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    signalProcess(pid, "SIGKILL");
  }
}

function signalNumber(signal: NodeJS.Signals): number {
  return constants.signals[signal] ?? 0;
}
