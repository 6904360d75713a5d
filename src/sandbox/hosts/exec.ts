// Sandbox hosts: running commands inside a host (nsenter into all of its namespaces, clean
// environment), and cloud-init's verdict read that way.
import { CommandFailedError, runCommand } from "../shell";
import { GUEST_PATH } from "./layout";
import { requireGuestPid } from "./state";
import type { CloudInitStatus, HostExecOptions, HostExecResult } from "./types";

function guestCommand(argv: readonly string[], options: HostExecOptions): string[] {
  if (argv.length === 0) throw new Error("hostExec needs a command to run");
  const environment = {
    PATH: GUEST_PATH,
    LANG: "C.UTF-8",
    ...(options.user && options.user !== "root" ? {} : { HOME: "/root" }),
    ...options.env,
  };
  for (const key of Object.keys(environment)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new Error(`hostExec: environment variable name ${JSON.stringify(key)} is not valid`);
  }
  const asUser = options.user && options.user !== "root" ? ["runuser", "-u", options.user, "--"] : [];
  return [
    "env",
    "-i",
    ...(options.cwd ? ["-C", options.cwd] : []),
    ...Object.entries(environment).map(([key, value]) => `${key}=${value}`),
    ...asUser,
    ...argv,
  ];
}

/**
 * Runs a command inside the host (all of its namespaces: files, processes, network, hostname)
 * with a clean environment; resolves with its status and output, whatever the status.
 * Long-running services belong in the guest's systemd: `systemd-run --unit=<name> …`.
 */
export async function hostExec(name: string, argv: readonly string[], options: HostExecOptions = {}): Promise<HostExecResult> {
  const pid = requireGuestPid(name);
  return runCommand(["nsenter", "-t", String(pid), "-a", "--", ...guestCommand(argv, options)], {
    input: options.input,
    timeoutMs: options.timeoutMs,
  });
}

/** hostExec that returns stdout and throws (with the command's stderr) on a non-zero status. */
export async function hostExecChecked(name: string, argv: readonly string[], options: HostExecOptions = {}): Promise<string> {
  const result = await hostExec(name, argv, options);
  if (result.code !== 0) {
    throw new CommandFailedError([`[${name}]`, ...argv], result, `the host's log: hostExec("${name}", ["journalctl", "-b", "--no-pager", "-n", "100"])`);
  }
  return result.stdout;
}

/** cloud-init's own verdict on the host's configuration (`cloud-init status --format json`). */
export async function cloudInitStatus(name: string): Promise<CloudInitStatus> {
  const result = await hostExec(name, ["cloud-init", "status", "--format", "json"]);
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(result.stdout) as Record<string, unknown>;
  } catch {
    throw new CommandFailedError([`[${name}]`, "cloud-init", "status", "--format", "json"], result);
  }
  return {
    status: String(parsed.status ?? ""),
    extendedStatus: String(parsed.extended_status ?? ""),
    errors: (parsed.errors as string[] | undefined) ?? [],
    recoverableErrors: (parsed.recoverable_errors as Record<string, string[]> | undefined) ?? {},
    datasource: String(parsed.datasource ?? ""),
    detail: String(parsed.detail ?? ""),
  };
}
