// Central logs on the booted hosts (issue 12, item 4): a line logged on db1 and on lb1 reaches
// mon1's systemd-journal-remote (over HTTPS with client certificates) within 60 s, under its own
// host; `sandbox logs`' function finds it by host and by --grep, and refuses a host that is not a node.
import { randomUUID } from "crypto";
import { centralLogs } from "../../src/sandbox/logs";
import { NODE_PATHS } from "../../src/node-paths";
import type { Sandbox } from "../../src/sandbox/cluster";
import { rotateCertificates } from "../../src/sandbox/operate";
import { sandbox, sh, waitFor, waitHealthy } from "./support";

let sb: Sandbox;
const T = (minutes: number) => minutes * 60_000;
/** Where pgha-secrets writes a node's certificate and the CA's. */
const TLS = "/etc/pgha/tls";

beforeAll(async () => {
  sb = await sandbox();
  await waitHealthy(sb);
}, T(4));

describe("central logs", () => {
  it("every node's uploader and mon1's receiver run; mon1's socket listens on its private address only", async () => {
    expect(sb.spec.monitoring.enabled).toBe(true);
    for (const n of sb.spec.nodes) expect([n.name, (await sh(n.name, "systemctl is-active systemd-journal-upload.service")).trim()]).toEqual([n.name, "active"]);
    expect((await sh("mon1", "systemctl is-active systemd-journal-remote.socket pgha-journal-vacuum.timer")).trim().split("\n")).toEqual(["active", "active"]);
    const listening = await sh("mon1", "ss -Htln 'sport = :19532' | awk '{print $4}'");
    expect(listening.trim().split("\n")).toEqual([`${sb.layout.addresses.mon1}:19532`]);
    expect((await sh("mon1", `stat -c '%U' ${NODE_PATHS.journalRemoteDir}`)).trim()).toBe("systemd-journal-remote");
  }, T(2));

  it("a line logged on db1 and on lb1 is on mon1 within 60 s, under its host; --grep and the host filter find it", async () => {
    const marks: Record<string, string> = { db1: randomUUID(), lb1: randomUUID() };
    for (const [host, mark] of Object.entries(marks)) await sh(host, `logger -t pgha-logs-test ${mark}`);
    for (const [host, mark] of Object.entries(marks)) {
      const lines = await waitFor(`${host}'s line on mon1`, async () => {
        const l = await centralLogs(sb, { host, grep: mark });
        return l.length > 0 ? l : undefined;
      }, 60_000, 2_000);
      expect(lines).toEqual([expect.stringMatching(new RegExp(` ${host} pgha-logs-test\\[\\d+\\]: ${mark}$`))]);
      // Under its own host only: the other host's filter does not find it.
      const other = host === "db1" ? "lb1" : "db1";
      expect(await centralLogs(sb, { host: other, grep: mark })).toEqual([]);
    }
    // Every host's, with -n and --json.
    // journalctl -g matches MESSAGE (not logger's tag): both marks as one pattern.
    const all = await centralLogs(sb, { grep: Object.values(marks).join("|"), since: "10 min ago", json: true });
    const hosts = all.map((l) => JSON.parse(l) as { _HOSTNAME: string; MESSAGE: string }).filter((e) => Object.values(marks).includes(e.MESSAGE)).map((e) => e._HOSTNAME);
    expect(hosts.sort()).toEqual(["db1", "lb1"]);
    expect(await centralLogs(sb, { host: "db1", lines: 1 })).toHaveLength(1);
  }, T(3));

  it("certificates rotated on mon1 and db1: both shippers restart with the new ones, and db1's next line still reaches mon1", async () => {
    const pid = async (host: string, unit: string) => (await sh(host, `systemctl show -P MainPID ${unit}`)).trim();
    const serial = async (host: string, port: number) =>
      (await sh(host, `echo | openssl s_client -connect ${sb.layout.addresses[host]}:${port} -cert ${TLS}/node.crt -key ${NODE_PATHS.journalUploadKey} -CAfile ${TLS}/ca.crt 2>/dev/null | openssl x509 -noout -serial`)).trim().replace(/^serial=/, "").toLowerCase();
    const before = { upload: await pid("db1", "systemd-journal-upload.service") };
    const rotated = await rotateCertificates(sb, ["mon1", "db1"]);
    // mon1's receiver presents the certificate just issued (it read the old one into memory at start).
    expect(await serial("mon1", 19532)).toBe(rotated.find((r) => r.node === "mon1")!.serialNumber);
    expect(await pid("db1", "systemd-journal-upload.service")).not.toBe(before.upload);
    const mark = randomUUID();
    await sh("db1", `logger -t pgha-logs-test ${mark}`);
    const lines = await waitFor("db1's line on mon1 after the rotation", async () => {
      const l = await centralLogs(sb, { host: "db1", grep: mark });
      return l.length > 0 ? l : undefined;
    }, 60_000, 2_000);
    expect(lines).toHaveLength(1);
  }, T(4));

  it("a host that is not a node is refused (exit 2)", async () => {
    await expect(centralLogs(sb, { host: "web9" })).rejects.toMatchObject({ exitCode: 2, message: expect.stringContaining("web9 is not a node of stack") });
  });
});
