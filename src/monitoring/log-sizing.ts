// How much disk the central logs may take on the monitoring node: every node's journal, as
// systemd-journal-remote stores it, for monitoring.logRetentionDays. The same figure caps the
// receiver (journal-remote.conf MaxUse=, so the journals never crowd out Prometheus's TSDB on the
// shared root volume) and sizes that volume (components/monitoringNode.ts).

/**
 * Journal mon1 stores per node and day, MiB: measured on the prod sandbox during the integration
 * suite — failovers, switchovers, backups, restores, rollouts and faults every few minutes, with
 * log_connections on, far busier than a production day — as the whole cluster's entries per second
 * over 41 minutes (18.2), per node (9), at 1 KiB per stored entry (journal files of 9 000–13 000
 * entries took 8–16 MiB), rounded up: 171 → 180. docs/facts.md, "Central logs: how much journal".
 */
export const JOURNAL_MIB_PER_NODE_DAY = 180;

/** The central logs' share of mon1's disk (GiB): the measured busy-day rate for every node for the retention, at least 1. */
export function centralLogsMaxUseGiB(nodes: number, logRetentionDays: number): number {
  return Math.max(1, Math.ceil((nodes * JOURNAL_MIB_PER_NODE_DAY * logRetentionDays) / 1024));
}
