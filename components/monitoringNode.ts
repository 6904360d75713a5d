// MonitoringNode: the monitoring node (mon1, role `monitor`, with monitoring.enabled) that runs
// Prometheus and Alertmanager. Shaped like the other nodes (components/instance.ts: the Debian
// AMI, its subnet and fixed address, its instance role, IMDSv2, the bundle fetched by its
// bootstrap) with no data volume: Prometheus keeps its TSDB on a larger root volume
// (monitorRootVolumeGiB). Alerts leave it for the stack's SNS topic (components/alerting.ts).
import * as pulumi from "@pulumi/pulumi";
import { componentType, throwIfInvalid } from "./common";
import { createNodeGroup, validateNodeGroupArgs, type NodeGroupArgs } from "./instance";

// Sizing of mon1's disk (the TSDB and the central logs): src/monitoring/log-sizing.ts.
export { monitorRootVolumeGiB, MONITOR_ROOT_VOLUME_MIN_GIB, TSDB_SERIES_PER_NODE, TSDB_BYTES_PER_SAMPLE } from "../src/monitoring/log-sizing";
import { MONITOR_ROOT_VOLUME_MIN_GIB } from "../src/monitoring/log-sizing";

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
