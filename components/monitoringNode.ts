// MonitoringNode: the monitoring node (mon1, role `monitor`, with monitoring.enabled) that runs
// Prometheus and Alertmanager. Shaped like the other nodes (components/instance.ts: the Debian
// AMI, its subnet and fixed address, its instance role, IMDSv2, the bundle fetched by its
// bootstrap) with no data volume: Prometheus keeps its TSDB on a larger root volume
// (monitorRootVolumeGiB). Alerts leave it for the stack's SNS topic (components/alerting.ts).
import * as pulumi from "@pulumi/pulumi";
import { componentType, throwIfInvalid } from "./common";
import { createNodeGroup, ROOT_VOLUME_GIB, validateNodeGroupArgs, type NodeGroupArgs } from "./instance";
import { centralLogsMaxUseGiB } from "../src/monitoring/log-sizing";

/**
 * Prometheus's storage, sized generously so the disk never fills before the retention drops
 * blocks: every node's exporters together at most TSDB_SERIES_PER_NODE active series, each sample
 * ~TSDB_BYTES_PER_SAMPLE on disk (Prometheus compresses to 1–2 bytes), twice that for the WAL,
 * the head block and a compaction's temporary copy.
 */
export const TSDB_SERIES_PER_NODE = 2_000;
export const TSDB_BYTES_PER_SAMPLE = 2;
/** The smallest monitoring root volume: the shipped defaults (15 s scrapes, 15 days) land here. */
export const MONITOR_ROOT_VOLUME_MIN_GIB = 30;

/**
 * The monitoring node's root volume (GiB): the usual root (OS, packages, logs: ROOT_VOLUME_GIB)
 * plus the TSDB of `nodes` nodes scraped every `scrapeIntervalSeconds` and kept `retentionDays`
 * (×2 headroom) plus the central logs' share (every node's journal for `logRetentionDays`:
 * centralLogsMaxUseGiB, also journal-remote's MaxUse), rounded up to 10 GiB, at least
 * MONITOR_ROOT_VOLUME_MIN_GIB.
 */
export function monitorRootVolumeGiB(m: { nodes: number; scrapeIntervalSeconds: number; retentionDays: number; logRetentionDays: number }): number {
  const samplesPerSecond = (m.nodes * TSDB_SERIES_PER_NODE) / m.scrapeIntervalSeconds;
  const tsdbGiB = (2 * samplesPerSecond * 86_400 * m.retentionDays * TSDB_BYTES_PER_SAMPLE) / 2 ** 30;
  const logsGiB = centralLogsMaxUseGiB(m.nodes, m.logRetentionDays);
  return Math.max(MONITOR_ROOT_VOLUME_MIN_GIB, Math.ceil((ROOT_VOLUME_GIB + tsdbGiB + logsGiB) / 10) * 10);
}

/**
 * MonitoringNode: `nodes` is the monitoring node (role `monitor`, mon1), exactly one. Its root
 * volume is `rootVolumeGiB` (monitorRootVolumeGiB; default MONITOR_ROOT_VOLUME_MIN_GIB).
 */
export type MonitoringNodeArgs = NodeGroupArgs;

/** Every problem of MonitoringNode's arguments (empty when it can be built). */
export function validateMonitoringNodeArgs(args: MonitoringNodeArgs): string[] {
  const problems = validateNodeGroupArgs("monitor", args);
  if (args.nodes.length > 1) problems.push(`nodes: one monitoring node, got ${args.nodes.length} (${args.nodes.map((n) => n.name).join(", ")}): two Prometheus would page twice`);
  return problems;
}

export class MonitoringNode extends pulumi.ComponentResource {
  readonly instanceIds: Record<string, pulumi.Output<string>>;
  readonly privateIps: Record<string, string>;
  readonly bundleHashes: Record<string, string>;
  readonly resources: pulumi.Resource[];
  /** The monitoring node's name (mon1) and fixed private address: Prometheus and Alertmanager listen there. */
  readonly node: { name: string; privateIp: string };

  constructor(name: string, args: MonitoringNodeArgs, opts?: pulumi.ComponentResourceOptions) {
    super(componentType("MonitoringNode"), name, {}, opts);
    throwIfInvalid(this, "MonitoringNode", validateMonitoringNodeArgs(args));
    const group = createNodeGroup(this, name, args.rootVolumeGiB === undefined ? { ...args, rootVolumeGiB: MONITOR_ROOT_VOLUME_MIN_GIB } : args);
    this.instanceIds = group.instanceIds;
    this.privateIps = group.privateIps;
    this.bundleHashes = group.bundleHashes;
    this.resources = group.resources;
    this.node = { name: args.nodes[0].name, privateIp: args.nodes[0].privateIp };
    this.registerOutputs({ instanceIds: this.instanceIds, privateIps: this.privateIps, bundleHashes: this.bundleHashes });
  }
}
