// How much disk the central logs may take on the monitoring node. mon1's root volume holds the
// system, Prometheus's TSDB and every node's journal (systemd-journal-remote); the volume is sized
// for the TSDB (components/monitoringNode.ts, monitorRootVolumeGiB) and the journals get what is
// left beyond a reserve for the system — journal-remote.conf's MaxUse=, so the journals can never
// crowd out the TSDB. The vacuum after monitoring.logRetentionDays applies below that cap.

/** Every node's root volume (GiB, gp3): components/instance.ts's default. */
export const ROOT_VOLUME_GIB = 20;
/** Prometheus's storage estimate: at most this many active series per node, each sample this many bytes on disk (1–2 compressed). */
export const TSDB_SERIES_PER_NODE = 2_000;
export const TSDB_BYTES_PER_SAMPLE = 2;
/** The smallest monitoring root volume: the shipped defaults (15 s scrapes, 15 days) land here. */
export const MONITOR_ROOT_VOLUME_MIN_GIB = 30;

/** What the system on mon1 keeps for itself (Debian, packages, its own journal, the TSDB's WAL swings). */
export const MONITOR_SYSTEM_RESERVE_GIB = 8;

/**
 * Journal mon1 stores per node and day, MiB: measured on the prod sandbox during the integration
 * suite — failovers, switchovers, backups, restores, rollouts and faults every few minutes, with
 * log_connections on, far busier than a production day — as the whole cluster's entries per second
 * over 41 minutes (18.2), per node (9), at 1 KiB per stored entry: 171 MiB. docs/facts.md,
 * "Central logs". Used to say how many days the cap holds, not to size it.
 */
export const JOURNAL_MIB_PER_NODE_DAY = 171;

/** The TSDB's share of mon1's disk (GiB) as monitorRootVolumeGiB sizes it: every node's series, twice for headroom. */
export function tsdbGiB(m: MonitorDiskInputs): number {
  return (2 * ((m.nodes * TSDB_SERIES_PER_NODE) / m.scrapeIntervalSeconds) * 86_400 * m.retentionDays * TSDB_BYTES_PER_SAMPLE) / 2 ** 30;
}

export interface MonitorDiskInputs {
  nodes: number;
  scrapeIntervalSeconds: number;
  retentionDays: number;
}

/**
 * The monitoring node's root volume (GiB): the usual root (ROOT_VOLUME_GIB) plus the TSDB's share,
 * rounded up to 10 GiB, at least MONITOR_ROOT_VOLUME_MIN_GIB. Prod with the defaults (9 nodes,
 * 15 s, 15 days): ~6 GiB of TSDB → 30 GiB; 90 days → 60 GiB. The node count moves it only in
 * 10 GiB steps, so adding a member does not resize mon1 (test/program/membership.test.ts).
 */
export function monitorRootVolumeGiB(m: MonitorDiskInputs): number {
  return Math.max(MONITOR_ROOT_VOLUME_MIN_GIB, Math.ceil((ROOT_VOLUME_GIB + tsdbGiB(m)) / 10) * 10);
}

/** The journals' share of mon1's root volume (GiB): journal-remote's MaxUse. Prod with the defaults: 30 − 8 − 5.8 → 16 GiB. */
export function centralLogsShareGiB(m: MonitorDiskInputs): number {
  return centralLogsMaxUseGiB(monitorRootVolumeGiB(m), tsdbGiB(m));
}

/** journal-remote's MaxUse (GiB): the root volume less the system's reserve and the TSDB's share; at least 1. */
export function centralLogsMaxUseGiB(rootVolumeGiB: number, tsdb: number): number {
  return Math.max(1, Math.floor(rootVolumeGiB - MONITOR_SYSTEM_RESERVE_GIB - tsdb));
}

/** How many days of every node's journal the cap holds at the measured busy-day rate. */
export function centralLogsDaysAtMeasuredRate(maxUseGiB: number, nodes: number): number {
  return (maxUseGiB * 1024) / (nodes * JOURNAL_MIB_PER_NODE_DAY);
}
