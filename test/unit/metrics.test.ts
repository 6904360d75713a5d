// The metrics targets of a cluster and the text-format parser the sandbox's scrapes use.
import { loadStackConfig } from "../../src/config/load";
import { buildSpec, PORTS } from "../../src/spec";
import { sandboxLayout } from "../../src/layout";
import { metricsTargets, parseMetrics, samplesOf } from "../../src/metrics/targets";

function spec(tier: string, extra: Record<string, unknown> = {}) {
  const raw: Record<string, unknown> = { "aws:region": "eu-west-1", "postgres-ha:tier": tier };
  for (const [k, v] of Object.entries(extra)) raw[`postgres-ha:${k}`] = JSON.stringify(v);
  return buildSpec(loadStackConfig(raw, { stack: tier }), tier);
}

describe("metricsTargets", () => {
  it("node-exporter on every node; the postgres exporter and Patroni on members; etcd and HAProxy on theirs; on each node's address", () => {
    const s = spec("prod");
    const layout = sandboxLayout(s);
    const t = metricsTargets(s, layout);
    for (const n of s.nodes) {
      const jobs = t.filter((x) => x.node === n.name).map((x) => `${x.job}:${x.port}`).sort();
      const want = { postgres: [`node:${PORTS.nodeExporter}`, `patroni:${PORTS.patroniRestApi}`, `postgres:${PORTS.postgresExporter}`], etcd: [`etcd:${PORTS.etcdClient}`, `node:${PORTS.nodeExporter}`], haproxy: [`haproxy:${PORTS.haproxyMetrics}`, `node:${PORTS.nodeExporter}`], monitor: [`alertmanager:${PORTS.alertmanager}`, `node:${PORTS.nodeExporter}`, `prometheus:${PORTS.prometheus}`] }[n.role];
      expect([n.name, jobs]).toEqual([n.name, [...want!].sort()]);
    }
    expect(t.every((x) => x.address === layout.addresses[x.node] && x.path === "/metrics" && x.scheme === "https")).toBe(true);
    const plain = spec("dev", { tls: { enabled: false } });
    expect(new Set(metricsTargets(plain, sandboxLayout(plain)).map((x) => x.scheme))).toEqual(new Set(["http"]));
  });
});

describe("parseMetrics", () => {
  it("reads names, labels (escapes included) and values, skipping comments; samplesOf filters by labels", () => {
    const text = [
      "# HELP pg_up Whether the last scrape could connect.",
      "# TYPE pg_up gauge",
      "pg_up 1",
      'pgha_standby_replay_lag_bytes{member="db2",state="streaming",sync_state="quorum"} 1024',
      'pgha_standby_replay_lag_bytes{member="db3",state="streaming",sync_state="quorum"} 0',
      'weird{path="a \\"quoted\\" \\\\ value"} 2.5e+06 1700000000000',
      "histo_bucket{le=\"+Inf\"} +Inf",
      "",
    ].join("\n");
    const s = parseMetrics(text);
    expect(s.map((x) => x.name)).toEqual(["pg_up", "pgha_standby_replay_lag_bytes", "pgha_standby_replay_lag_bytes", "weird", "histo_bucket"]);
    expect(samplesOf(s, "pgha_standby_replay_lag_bytes", { member: "db2" })).toEqual([{ name: "pgha_standby_replay_lag_bytes", labels: { member: "db2", state: "streaming", sync_state: "quorum" }, value: 1024 }]);
    expect(samplesOf(s, "weird")[0]).toEqual({ name: "weird", labels: { path: 'a "quoted" \\ value' }, value: 2.5e6 });
    expect(samplesOf(s, "histo_bucket")[0].value).toBe(Infinity);
    expect(samplesOf(s, "pg_up", { x: "y" })).toEqual([]);
  });
});

describe("imagePackages (sandbox/image-packages.txt)", () => {
  it("the image has every package; a node of a role gets the untagged ones and its role's", () => {
    const { imagePackages } = require("../../src/render/packages") as typeof import("../../src/render/packages");
    const all = imagePackages();
    expect(all).toEqual(expect.arrayContaining(["prometheus", "prometheus-alertmanager", "prometheus-node-exporter", "postgresql-17"]));
    expect(imagePackages("postgres")).not.toContain("prometheus");
    expect(imagePackages("monitor")).toEqual(expect.arrayContaining(["prometheus", "prometheus-alertmanager", "postgresql-17"]));
    expect(imagePackages("postgres").length).toBe(all.length - 2);
  });
});
