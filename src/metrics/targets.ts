// What can be scraped on a cluster (issue 12): every metrics endpoint of every node, from the spec
// and layout alone. The sandbox's `metrics` command and tests scrape these; the monitoring node's
// Prometheus configuration (src/monitoring/prometheus.ts) is rendered from the same list.
import { PORTS, type ClusterSpec } from "../spec";
import type { Layout } from "../layout";

/** A scrape job: what serves the metrics. */
/** prometheus and alertmanager: the monitoring node's own, scraped by itself. */
export type MetricsJob = "node" | "postgres" | "patroni" | "etcd" | "haproxy" | "prometheus" | "alertmanager";

export interface MetricsTarget {
  job: MetricsJob;
  node: string;
  address: string;
  port: number;
  path: string;
  /** https with a client certificate of the cluster CA (tls.enabled), else http. */
  scheme: "https" | "http";
}

/** One metric family each job must serve (the check that a target is the right thing and up). */
export const JOB_PROBE_METRIC: Record<MetricsJob, string> = {
  node: "node_exporter_build_info",
  postgres: "pg_up",
  patroni: "patroni_postgres_running",
  etcd: "etcd_server_has_leader",
  haproxy: "haproxy_process_start_time_seconds",
  prometheus: "prometheus_build_info",
  alertmanager: "alertmanager_build_info",
};

export function metricsTargets(spec: ClusterSpec, layout: Layout): MetricsTarget[] {
  const scheme = spec.tls.enabled ? "https" : "http";
  const out: MetricsTarget[] = [];
  for (const n of spec.nodes) {
    const address = layout.addresses[n.name];
    const t = (job: MetricsJob, port: number) => out.push({ job, node: n.name, address, port, path: "/metrics", scheme });
    t("node", PORTS.nodeExporter);
    if (n.role === "postgres") {
      t("postgres", PORTS.postgresExporter);
      t("patroni", PORTS.patroniRestApi);
    }
    if (n.role === "etcd") t("etcd", PORTS.etcdClient);
    if (n.role === "haproxy") t("haproxy", PORTS.haproxyMetrics);
    if (n.role === "monitor") {
      t("prometheus", PORTS.prometheus);
      t("alertmanager", PORTS.alertmanager);
    }
  }
  return out;
}

/** One sample of the Prometheus text format. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (comments and HELP/TYPE lines skipped). */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
      for (let l = re.exec(m[3]); l; l = re.exec(m[3])) labels[l[1]] = l[2].replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\");
    }
    const v = m[4] === "+Inf" ? Infinity : m[4] === "-Inf" ? -Infinity : Number(m[4]);
    out.push({ name: m[1], labels, value: v });
  }
  return out;
}

/** The samples named `name` whose labels include every pair of `labels`. */
export function samplesOf(samples: Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}
