// `npx pgha sandbox logs`: the journalctl it runs on mon1 for each option, and its refusals (exit 2)
// without a monitoring node or for a host that is not a node. The hosts themselves: test/integration/logs.test.ts.
import { loadStackConfig } from "../../src/config/load";
import { buildSpec } from "../../src/spec";
import { centralLogs, logsCommand } from "../../src/sandbox/logs";

const spec = (tier: string) => buildSpec(loadStackConfig({ "aws:region": "eu-west-1", "postgres-ha:tier": tier }, { stack: tier }), tier);

describe("sandbox logs", () => {
  it("reads mon1's remote journals, one host's with _HOSTNAME, with --since, -g, -n and -o json", () => {
    const base = ["journalctl", "--directory=/var/log/journal/remote", "--no-pager", "-q"];
    expect(logsCommand(spec("prod"), {})).toEqual({ host: "mon1", argv: [...base, "-o", "short-iso"] });
    expect(logsCommand(spec("prod"), { host: "db1", since: "10 min ago", grep: "pgha-logs-test", lines: 5, json: true }).argv).toEqual([
      ...base, "-o", "json", "--since", "10 min ago", "-g", "pgha-logs-test", "-n", "5", "_HOSTNAME=db1",
    ]);
  });

  it("refuses (exit 2) a stack without a monitoring node, a host that is not a node, a bad -n", () => {
    const refusal = (f: () => unknown) => { try { f(); } catch (e) { return [(e as { exitCode?: number }).exitCode, (e as Error).message]; } return undefined; };
    expect(refusal(() => logsCommand(spec("dev"), {}))).toEqual([2, "stack dev has no monitoring node (monitoring.enabled is false): no central logs"]);
    expect(refusal(() => logsCommand(spec("prod"), { host: "web9" }))).toEqual([2, expect.stringMatching(/^web9 is not a node of stack prod: its nodes are .*db1.*mon1/)]);
    expect(refusal(() => logsCommand(spec("prod"), { lines: 0 }))?.[0]).toBe(2);
  });

  it("returns the lines; no match is no lines (journalctl -g exits 1), another failure throws", async () => {
    const sb = { spec: spec("prod") };
    const calls: string[] = [];
    const lines = await centralLogs(sb, { host: "lb1" }, async (host, argv) => { calls.push(`${host} ${argv.join(" ")}`); return { code: 0, stdout: "a\nb\n", stderr: "" }; });
    expect(lines).toEqual(["a", "b"]);
    // journalctl's boot separators (a node rebooted within the span) are not entries (CI on 30caa8f).
    const across = await centralLogs(sb, { host: "db1" }, async () => ({ code: 0, stdout: "-- Boot eac60a89bb844d5f95ac1e0d29edf33c --\n2026-12-05T02:49:14+00:00 db1 x[1]: y\n", stderr: "" }));
    expect(across).toEqual(["2026-12-05T02:49:14+00:00 db1 x[1]: y"]);
    expect(calls).toEqual(["mon1 journalctl --directory=/var/log/journal/remote --no-pager -q -o short-iso _HOSTNAME=lb1"]);
    expect(await centralLogs(sb, { grep: "x" }, async () => ({ code: 1, stdout: "-- No entries --\n", stderr: "" }))).toEqual([]);
    await expect(centralLogs(sb, {}, async () => ({ code: 1, stdout: "", stderr: "Failed to open files" }))).rejects.toThrow("journalctl on mon1 failed (1): Failed to open files");
  });
});
