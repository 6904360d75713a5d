// pgha-archive-get, the replicas' restore_command: pgBackRest archive-get, except that a segment
// of an old timeline holding that timeline's end is not handed out (an isolated old leader may
// have archived it with WAL the new leader never had; docs/facts.md). The history is the one
// the HA suite left when a partitioned leader archived 000000160000000000000058.
import { fakeNodes } from "./harness";

const node = fakeNodes();
const PGDATA = "/var/lib/postgresql/17/pgha";
const HISTORY_23 = [
  "19\t0/420000A0\tno recovery target specified",
  "",
  "20\t0/550074A0\tno recovery target specified",
  "",
  "21\t0/580179C8\tno recovery target specified",
  "",
  "22\t0/5801CBB0\tno recovery target specified",
  "",
].join("\n");

function replica(histories: Record<string, string> = { "00000017.history": HISTORY_23 }) {
  const n = node().write(`${PGDATA}/pg_wal/.keep`, "");
  for (const [f, text] of Object.entries(histories)) n.write(`${PGDATA}/pg_wal/${f}`, text);
  return n;
}
const get = (n: ReturnType<typeof replica>, file: string) => n.run("pgha-archive-get", ["orders", file, "pg_wal/RECOVERYXLOG"], { cwd: PGDATA });

describe("pgha-archive-get", () => {
  it.each([
    ["000000160000000000000058", "timeline 22 ended at 0/5801CBB0 inside it"],
    ["000000150000000000000058", "timeline 21 ended at 0/580179C8 inside it"],
    ["000000140000000000000055", "timeline 20 ended at 0/550074A0 inside it"],
  ])("refuses %s (exit 1, as 'not in the archive'), says why, and never asks pgBackRest", (file, why) => {
    const n = replica();
    const r = get(n, file);
    expect(r.status).toBe(1);
    expect(n.calls("pgbackrest")).toEqual([]);
    expect(n.calls("logger").map((c) => c.join(" "))).toEqual([expect.stringContaining(`not restoring ${file}: ${why} (00000017.history)`)]);
  });

  it.each([
    "000000170000000000000058", // the newer timeline's segment: holds 22's WAL up to the switch
    "000000160000000000000057", // timeline 22 before its end
    "000000170000000000000059",
    "00000017.history",
    "000000160000000000000058.partial",
  ])("hands %s to pgBackRest unchanged", (file) => {
    const n = replica();
    expect(get(n, file).status).toBe(0);
    expect(n.calls("pgbackrest")).toEqual([["--stanza=orders", "archive-get", file, "pg_wal/RECOVERYXLOG"]]);
  });

  it("reads another repository's configuration with its secrets when given one (a standby cluster's restore_command)", () => {
    const n = replica();
    expect(n.run("pgha-archive-get", ["orders", "000000170000000000000059", "pg_wal/RECOVERYXLOG", "/etc/pgbackrest/standby-source.conf"], { cwd: PGDATA }).status).toBe(0);
    expect(n.calls("pgbackrest")).toEqual([["--config=/etc/pgbackrest/standby-source.conf", "--config-include-path=/etc/pgbackrest/conf.d", "--stanza=orders", "archive-get", "000000170000000000000059", "pg_wal/RECOVERYXLOG"]]);
  });

  it("reads only the newest history (an abandoned branch's switch point does not count), and with none refuses nothing", () => {
    // Timeline 24 branched from 16 (an in-place restore); 23's history names another end of 22.
    const n = replica({ "00000017.history": HISTORY_23, "00000018.history": "16\t0/38005E78\tat restore point \"x\"\n" });
    expect(get(n, "000000160000000000000058").status).toBe(0);
    expect(get(n, "000000100000000000000038").status).toBe(1);
    const bare = replica({});
    expect(get(bare, "000000160000000000000058").status).toBe(0);
  });

  it("refuses a call that is not restore_command's", () => {
    const r = replica().run("pgha-archive-get", ["orders", "x"], { cwd: PGDATA });
    expect([r.status, r.stderr]).toEqual([2, expect.stringContaining("usage: pgha-archive-get <stanza> <file> <path>")]);
  });
});
