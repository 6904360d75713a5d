// The monitoring node's files (role monitor, monitoring.enabled): Prometheus's configuration (every
// exporter of src/metrics/targets.ts), the stack's alert rules (src/monitoring/alerts.ts),
// Alertmanager's configuration to the stack's SNS topic, the two units' drop-ins, and the heartbeat
// timer (the dead man's switch), and the page to look at (a console template). A change runs `pgha-setup monitoring`: checked with promtool and
// amtool before either daemon reloads, so a broken file never replaces a working one.
import { PORTS, type ClusterSpec, type NodeSpec } from "../../spec";
import { NODE_PATHS } from "../../node-paths";
import { TLS_DIR, type Layout } from "../../layout";
import { renderTemplate } from "../templates";
import { renderPrometheusConfig } from "../../monitoring/prometheus";
import { renderAlertRules } from "../../monitoring/alerts";
import { CONSOLE_DIR, CONSOLE_FILE, renderConsole } from "../../monitoring/console";
import { renderAlertmanagerConfig, topicArnTemplate } from "../../monitoring/alertmanager";
import type { ChangeAction } from "../../bundle/format";
import type { BundleFile } from "./types";

function file(path: string, content: string, onChange: ChangeAction[], mode = "0644"): BundleFile {
  return { path, mode, owner: "root:root", content: content.endsWith("\n") ? content : content + "\n", onChange };
}

/** What the monitoring node's templates and node.env use beyond the common view. */
export function monitorView(spec: ClusterSpec, node: NodeSpec, layout: Layout) {
  const address = layout.addresses[node.name];
  const scheme = spec.tls.enabled ? "https" : "http";
  const h = spec.monitoring.heartbeat;
  return {
    prometheusConfig: NODE_PATHS.prometheusConfig,
    prometheusRules: NODE_PATHS.prometheusRules,
    alertmanagerTemplate: NODE_PATHS.alertmanagerTemplate,
    alertmanagerConfig: NODE_PATHS.alertmanagerConfig,
    alertmanagerStorage: NODE_PATHS.alertmanagerStorage,
    retentionDays: spec.monitoring.retentionDays,
    scrapeIntervalSeconds: spec.monitoring.scrapeIntervalSeconds,
    prometheusUrl: `${scheme}://${address}:${PORTS.prometheus}`,
    alertmanagerUrl: `${scheme}://${address}:${PORTS.alertmanager}`,
    alertTopicName: spec.monitoring.topicName,
    heartbeatNamespace: h.namespace,
    heartbeatMetric: h.metricName,
    // put-metric-data's shorthand: Name=Value,Name=Value
    heartbeatDimensions: Object.entries(h.dimensions).map(([k, v]) => `${k}=${v}`).join(","),
  };
}

export function monitorFiles(spec: ClusterSpec, node: NodeSpec, layout: Layout, view: object): BundleFile[] {
  const address = layout.addresses[node.name];
  const v = { ...view, ...monitorView(spec, node, layout) };
  const prometheus = renderPrometheusConfig(spec, layout, {
    rulesFile: NODE_PATHS.prometheusRules,
    tls: { caFile: `${TLS_DIR}/ca.crt`, certFile: `${TLS_DIR}/node.crt`, keyFile: NODE_PATHS.exporterKey },
    alertmanager: `${address}:${PORTS.alertmanager}`,
    scrapeIntervalSeconds: spec.monitoring.scrapeIntervalSeconds,
  });
  const alertmanager = renderAlertmanagerConfig(spec, {
    topicArn: topicArnTemplate(spec),
    region: spec.region,
    apiUrl: layout.aws.endpoints.sns,
    caFile: layout.aws.caBundle,
  });
  return [
    file(NODE_PATHS.prometheusConfig, prometheus, ["monitoring"]),
    file(NODE_PATHS.prometheusRules, renderAlertRules(spec), ["monitoring"]),
    file(NODE_PATHS.alertmanagerTemplate, alertmanager, ["monitoring"]),
    file(NODE_PATHS.prometheusDropIn, renderTemplate("systemd/prometheus.conf", v), ["systemd", "monitoring"]),
    file(NODE_PATHS.alertmanagerDropIn, renderTemplate("systemd/prometheus-alertmanager.conf", v), ["systemd", "monitoring"]),
    // Read by Prometheus at every request of /consoles/pgha.html: nothing to reload.
    file(`${CONSOLE_DIR}/${CONSOLE_FILE}`, renderConsole(spec), []),
    file(NODE_PATHS.heartbeatService, renderTemplate("systemd/pgha-heartbeat.service", v), ["systemd"]),
    file(NODE_PATHS.heartbeatTimer, renderTemplate("systemd/pgha-heartbeat.timer", v), ["systemd", "timers"]),
  ];
}
