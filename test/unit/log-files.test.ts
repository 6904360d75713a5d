// Central logs in the bundles (issue 12, item 4): with a monitoring node every node's
// systemd-journal-upload sends to mon1's private address on 19532 over HTTPS with the node's
// certificate and its own key copy; only mon1 receives (journal-remote, its socket on the private
// address only) and vacuums after monitoring.logRetentionDays. Without monitoring: none of it.
import { centralLogsShareGiB } from "../../src/monitoring/log-sizing";
import { loadStackConfig } from "../../src/config/load";
import { buildSpec, nodesOf, PORTS, type ClusterSpec } from "../../src/spec";
import { ec2Layout, sandboxLayout } from "../../src/layout";
import { renderNodeFiles } from "../../src/render/bundle/node-files";
import { NODE_PATHS } from "../../src/node-paths";
import { CHANGE_ACTIONS } from "../../src/bundle/format";

function specFor(tier: string, extra: Record<string, object> = {}): ClusterSpec {
  const raw: Record<string, string> = { "aws:region": "eu-west-1", "postgres-ha:tier": tier };
  for (const [k, v] of Object.entries(extra)) raw[`postgres-ha:${k}`] = JSON.stringify(v);
  return buildSpec(loadStackConfig(raw, { stack: tier }), tier);
}

const REMOTE_ONLY = [NODE_PATHS.journalRemoteConf, NODE_PATHS.journalRemoteSocketDropIn, NODE_PATHS.journalRemoteDropIn, NODE_PATHS.journalVacuumService, NODE_PATHS.journalVacuumTimer];
/** The settings of an ini-like file, comments dropped: "Key=Value" lines in order. */
const settings = (text: string) => text.split("\n").filter((l) => l && !l.startsWith("#"));

describe("central logs in the bundles", () => {
  const spec = specFor("prod", { monitoring: { logRetentionDays: 30 } });
  for (const layout of [ec2Layout(spec), sandboxLayout(spec)]) {
    describe(`${layout.kind} layout`, () => {
      const mon = layout.addresses.mon1;

      it("every node, mon1 included, uploads its journal to mon1's address on 19532 over HTTPS with its certificate, its own key copy and the cluster CA", () => {
        expect(PORTS.journalRemote).toBe(19532);
        for (const n of spec.nodes) {
          const files = renderNodeFiles(spec, n.name, layout);
          const conf = files.find((f) => f.path === NODE_PATHS.journalUploadConf);
          expect([n.name, settings(conf?.content ?? "")]).toEqual([n.name, [
            "[Upload]",
            `URL=https://${mon}:19532`,
            "ServerKeyFile=/etc/pgha/tls/journal-upload.key",
            "ServerCertificateFile=/etc/pgha/tls/node.crt",
            "TrustedCertificateFile=/etc/pgha/tls/ca.crt",
          ]]);
          expect(conf!.onChange).toEqual(["logs"]);
          expect(conf!.content).toMatch(/^# Rendered by postgres-ha: central logs/);
          // The uploader retries while mon1 does not answer (it boots last, it may be replaced).
          const dropIn = files.find((f) => f.path === NODE_PATHS.journalUploadDropIn)!;
          expect(settings(dropIn.content)).toEqual(expect.arrayContaining(["Restart=always", "RestartSec=10"]));
          expect(dropIn.onChange).toEqual(["systemd", "logs"]);
          if (n.role !== "monitor") expect([n.name, files.filter((f) => REMOTE_ONLY.includes(f.path as never)).map((f) => f.path)]).toEqual([n.name, []]);
        }
      });

      it("only mon1 receives: journal-remote unsealed, one journal per host, HTTPS with client certificates, its socket bound to its private address only", () => {
        const files = renderNodeFiles(spec, "mon1", layout);
        const content = (p: string) => files.find((f) => f.path === p)!.content;
        expect(settings(content(NODE_PATHS.journalRemoteConf))).toEqual([
          "[Remote]",
          "Seal=false",
          "SplitMode=host",
          `MaxUse=${centralLogsShareGiB({ nodes: spec.nodes.length, scrapeIntervalSeconds: spec.monitoring.scrapeIntervalSeconds, retentionDays: spec.monitoring.retentionDays })}G`,
          "ServerKeyFile=/etc/pgha/tls/journal-remote.key",
          "ServerCertificateFile=/etc/pgha/tls/node.crt",
          "TrustedCertificateFile=/etc/pgha/tls/ca.crt",
        ]);
        // The empty ListenStream= drops the package's (every address) before ours; a restart of
        // the socket binds again despite connections in TIME_WAIT.
        expect(settings(content(NODE_PATHS.journalRemoteSocketDropIn))).toEqual(["[Socket]", "ListenStream=", `ListenStream=${mon}:19532`, "ReuseAddress=yes"]);
        expect(settings(content(NODE_PATHS.journalRemoteDropIn))).toContain("ExecStart=/usr/lib/systemd/systemd-journal-remote --listen-https=-3 --output=/var/log/journal/remote/");
        for (const p of [NODE_PATHS.journalRemoteConf, NODE_PATHS.journalRemoteSocketDropIn, NODE_PATHS.journalRemoteDropIn]) {
          expect([p, files.find((f) => f.path === p)!.onChange.includes("logs")]).toEqual([p, true]);
        }
      });

      it("mon1 vacuums the remote journals daily after monitoring.logRetentionDays", () => {
        const files = renderNodeFiles(spec, "mon1", layout);
        const content = (p: string) => files.find((f) => f.path === p)!.content;
        expect(settings(content(NODE_PATHS.journalVacuumService))).toContain("ExecStart=/usr/bin/journalctl --directory=/var/log/journal/remote --vacuum-time=30d");
        expect(settings(content(NODE_PATHS.journalVacuumTimer))).toEqual(expect.arrayContaining(["OnCalendar=daily", "Persistent=true", "WantedBy=timers.target"]));
        expect(files.find((f) => f.path === NODE_PATHS.journalVacuumTimer)!.onChange).toEqual(["systemd", "timers"]);
      });
    });
  }

  it("logRetentionDays defaults to 14 in every tier and is refused outside 1–3650", () => {
    for (const tier of ["dev", "staging", "prod"]) expect(specFor(tier).monitoring.logRetentionDays).toBe(14);
    expect(() => specFor("prod", { monitoring: { logRetentionDays: 0 } })).toThrow(/monitoring\.logRetentionDays.*an integer 1–3650/s);
    const prod = specFor("prod");
    expect(renderNodeFiles(prod, "mon1", ec2Layout(prod)).find((f) => f.path === NODE_PATHS.journalVacuumService)!.content).toContain("--vacuum-time=14d");
  });

  it("`logs` is a change action", () => {
    expect(CHANGE_ACTIONS).toContain("logs");
  });

  it("without TLS: plain HTTP and no key lines, journal-remote listening for HTTP", () => {
    const plain = specFor("prod", { tls: { enabled: false } });
    const layout = ec2Layout(plain);
    const up = renderNodeFiles(plain, "db1", layout).find((f) => f.path === NODE_PATHS.journalUploadConf)!;
    expect(settings(up.content)).toEqual(["[Upload]", `URL=http://${layout.addresses.mon1}:19532`]);
    const files = renderNodeFiles(plain, "mon1", layout);
    expect(settings(files.find((f) => f.path === NODE_PATHS.journalRemoteConf)!.content)).toEqual(["[Remote]", "Seal=false", "SplitMode=host", `MaxUse=${centralLogsShareGiB({ nodes: plain.nodes.length, scrapeIntervalSeconds: plain.monitoring.scrapeIntervalSeconds, retentionDays: plain.monitoring.retentionDays })}G`]);
    expect(files.find((f) => f.path === NODE_PATHS.journalRemoteDropIn)!.content).toContain("--listen-http=-3 ");
  });

  it("dev without monitoring: no node has any central-log file", () => {
    const dev = specFor("dev");
    expect(nodesOf(dev, "monitor")).toEqual([]);
    for (const n of dev.nodes) {
      const paths = renderNodeFiles(dev, n.name, ec2Layout(dev)).map((f) => f.path);
      expect([n.name, paths.filter((p) => p.includes("journal"))]).toEqual([n.name, []]);
    }
  });
});

describe("the central logs' share of mon1's disk (src/monitoring/log-sizing.ts)", () => {
  it("is what the root volume leaves beyond the system's reserve and the TSDB: 16 GiB on prod's defaults, about 10 days of the measured busy-day rate", () => {
    const { centralLogsShareGiB, centralLogsDaysAtMeasuredRate, monitorRootVolumeGiB, tsdbGiB, MONITOR_SYSTEM_RESERVE_GIB } = require("../../src/monitoring/log-sizing") as typeof import("../../src/monitoring/log-sizing");
    const prod = { nodes: 9, scrapeIntervalSeconds: 15, retentionDays: 15 };
    expect(monitorRootVolumeGiB(prod)).toBe(30);
    expect(centralLogsShareGiB(prod)).toBe(Math.floor(30 - MONITOR_SYSTEM_RESERVE_GIB - tsdbGiB(prod)));
    expect(centralLogsShareGiB(prod)).toBe(16);
    expect(Math.floor(centralLogsDaysAtMeasuredRate(16, 9))).toBe(10);
    // A longer TSDB retention grows the volume in 10 GiB steps; the journals keep at least 1 GiB.
    expect(centralLogsShareGiB({ ...prod, retentionDays: 90 })).toBeGreaterThanOrEqual(1);
    for (const d of [1, 15, 30, 90, 365]) {
      const m = { ...prod, retentionDays: d };
      expect(centralLogsShareGiB(m) + tsdbGiB(m) + MONITOR_SYSTEM_RESERVE_GIB).toBeLessThanOrEqual(monitorRootVolumeGiB(m));
    }
  });
});
