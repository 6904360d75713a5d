// The sandbox's monitoring node from the machine: Prometheus's and Alertmanager's HTTP APIs over
// TLS (the operator's client certificate of the cluster CA), and what reached the people paged —
// the messages SNS delivered from the alert topic to the sandbox's inbox queue.
import * as fs from "fs";
import * as http from "http";
import * as https from "https";
import { PORTS, nodesOf } from "../spec";
import { readAlertInbox, type InboxMessage } from "./aws";
import type { Sandbox } from "./cluster";

/** A firing alert as Alertmanager holds it (the fields `status --json` shows). */
export interface FiringAlert {
  name: string;
  severity: string;
  /** When the condition began (Prometheus's activeAt, ISO 8601). */
  since: string;
  summary: string;
  /** The node the alert is about (its `node` label), or null for a cluster-wide one. */
  node: string | null;
  /** active, suppressed (inhibited or silenced) or unprocessed. */
  state: string;
}

export interface MonitoringUrls {
  prometheus: string;
  alertmanager: string;
  /** The page to look at (Prometheus's console of the cluster). */
  page: string;
}

/** The monitoring node's URLs as reachable from the machine (null without monitoring.enabled). */
export function monitoringUrls(sb: Pick<Sandbox, "spec" | "layout">): MonitoringUrls | null {
  const mon = nodesOf(sb.spec, "monitor")[0];
  if (!mon) return null;
  const scheme = sb.spec.tls.enabled ? "https" : "http";
  const address = sb.layout.addresses[mon.name];
  const prometheus = `${scheme}://${address}:${PORTS.prometheus}`;
  return { prometheus, alertmanager: `${scheme}://${address}:${PORTS.alertmanager}`, page: `${prometheus}/consoles/pgha.html` };
}

/** GET a URL of the monitoring node with the operator's certificate; the body as text. */
export function monitoringGet(sb: Sandbox, url: string, timeoutMs = 10_000): Promise<{ status: number; text: string }> {
  const files = sb.client.files;
  const tls = url.startsWith("https:");
  const material = tls ? { ca: fs.readFileSync(files.caFile), cert: fs.readFileSync(files.certFile), key: fs.readFileSync(files.keyFile) } : {};
  return new Promise((resolve, reject) => {
    const req = (tls ? https : http).request(url, { method: "GET", timeout: timeoutMs, agent: false, ...material }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`timeout reading ${url}`)));
    req.on("error", reject);
    req.end();
  });
}

function urlsOrThrow(sb: Sandbox): MonitoringUrls {
  const u = monitoringUrls(sb);
  if (!u) throw Object.assign(new Error(`stack ${sb.spec.stack} has no monitoring node (monitoring.enabled is false)`), { exitCode: 2 });
  return u;
}

async function getJson<T>(sb: Sandbox, url: string): Promise<T> {
  const r = await monitoringGet(sb, url);
  if (r.status !== 200) throw new Error(`${url}: HTTP ${r.status}: ${r.text.slice(0, 200)}`);
  return JSON.parse(r.text) as T;
}

/** An instant PromQL query: each series' labels and value. */
export async function prometheusQuery(sb: Sandbox, promql: string): Promise<{ labels: Record<string, string>; value: number }[]> {
  const body = await getJson<{ data: { result: { metric: Record<string, string>; value: [number, string] }[] } }>(sb, `${urlsOrThrow(sb).prometheus}/api/v1/query?query=${encodeURIComponent(promql)}`);
  return body.data.result.map((r) => ({ labels: r.metric, value: Number(r.value[1]) }));
}

/** Prometheus's scrape targets: job, node, health and the last error. */
export async function prometheusTargets(sb: Sandbox): Promise<{ job: string; node: string; health: string; lastError: string }[]> {
  const body = await getJson<{ data: { activeTargets: { labels: Record<string, string>; health: string; lastError: string }[] } }>(sb, `${urlsOrThrow(sb).prometheus}/api/v1/targets?state=active`);
  return body.data.activeTargets.map((t) => ({ job: t.labels.job, node: t.labels.node, health: t.health, lastError: t.lastError }));
}

/** The alerts Alertmanager holds (firing ones; resolved alerts leave it). */
export async function firingAlerts(sb: Sandbox): Promise<FiringAlert[]> {
  const body = await getJson<{ labels: Record<string, string>; annotations: Record<string, string>; startsAt: string; status: { state: string } }[]>(sb, `${urlsOrThrow(sb).alertmanager}/api/v2/alerts`);
  return body
    .map((a) => ({ name: a.labels.alertname, severity: a.labels.severity ?? "", since: a.startsAt, summary: a.annotations.summary ?? "", node: a.labels.node ?? null, state: a.status.state }))
    .sort((a, b) => a.since.localeCompare(b.since) || a.name.localeCompare(b.name));
}

/** A message the alert topic delivered, with the alerts it names parsed from the subject. */
export interface DeliveredAlert extends InboxMessage {
  /** FIRING or RESOLVED (from the subject Alertmanager renders). */
  status: string;
  alertname: string;
}

/** Messages SNS delivered to the sandbox's inbox since the last read (each read once). */
export async function deliveredAlerts(sb: Sandbox, waitSeconds = 0): Promise<DeliveredAlert[]> {
  return (await readAlertInbox(sb.spec, waitSeconds)).map((m) => {
    const s = /^\[(\w+)\] (\S+)/.exec(m.subject ?? "");
    return { ...m, status: s?.[1] ?? "", alertname: s?.[2] ?? "" };
  });
}
