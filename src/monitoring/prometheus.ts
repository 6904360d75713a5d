// The monitoring node's Prometheus configuration (issue 12): one scrape job per exporter kind of
// src/metrics/targets.ts, every target labelled with its node, over TLS with the monitoring
// node's certificate of the cluster CA; the rule file of src/monitoring/alerts.ts; Alertmanager
// on the monitoring node itself (src/render/bundle/monitor-files.ts puts it on mon1).
import YAML from "yaml";
import type { ClusterSpec } from "../spec";
import type { Layout } from "../layout";
import { metricsTargets, type MetricsJob } from "../metrics/targets";

export interface PrometheusOptions {
  /** Where the rendered rule file lies on the monitoring node. */
  rulesFile: string;
  /** The scraper's TLS material (a client certificate of the cluster CA). */
  tls: { caFile: string; certFile: string; keyFile: string };
  /** Alertmanager's address (host:port), reached with the same TLS material. */
  alertmanager: string;
  scrapeIntervalSeconds: number;
}

export const DEFAULT_SCRAPE_INTERVAL_SECONDS = 15;

export function prometheusConfig(spec: ClusterSpec, layout: Layout, o: PrometheusOptions): object {
  const targets = metricsTargets(spec, layout);
  const jobs = [...new Set(targets.map((t) => t.job))] as MetricsJob[];
  const tlsConfig = { ca_file: o.tls.caFile, cert_file: o.tls.certFile, key_file: o.tls.keyFile };
  return {
    global: {
      scrape_interval: `${o.scrapeIntervalSeconds}s`,
      evaluation_interval: `${o.scrapeIntervalSeconds}s`,
      external_labels: { stack: spec.stack, cluster: spec.scope },
    },
    rule_files: [o.rulesFile],
    alerting: {
      alertmanagers: [{
        scheme: spec.tls.enabled ? "https" : "http",
        ...(spec.tls.enabled ? { tls_config: tlsConfig } : {}),
        static_configs: [{ targets: [o.alertmanager] }],
      }],
    },
    scrape_configs: jobs.map((job) => {
      const mine = targets.filter((t) => t.job === job);
      return {
        job_name: job,
        scheme: mine[0].scheme,
        metrics_path: mine[0].path,
        ...(mine[0].scheme === "https" ? { tls_config: tlsConfig } : {}),
        // One static group per node: the `node` label is what the alert rules group by.
        static_configs: mine.map((t) => ({ targets: [`${t.address}:${t.port}`], labels: { node: t.node } })),
      };
    }),
  };
}

export function renderPrometheusConfig(spec: ClusterSpec, layout: Layout, o: PrometheusOptions): string {
  return `# Prometheus of stack ${spec.stack} (cluster ${spec.scope}). Rendered by postgres-ha.\n${YAML.stringify(prometheusConfig(spec, layout, o), { lineWidth: 0, aliasDuplicateObjects: false })}`;
}
