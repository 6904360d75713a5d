// Central logs (issue 12, item 4; monitoring.enabled): every node's systemd-journal-upload sends its
// journal to systemd-journal-remote on the monitoring node, over HTTPS with the node's certificate
// (client certificates of the cluster CA both ways). mon1 keeps one journal per host under
// NODE_PATHS.journalRemoteDir for monitoring.logRetentionDays (a daily vacuum timer); the socket
// listens on its private address only. A change runs `pgha-setup logs`: the uploader (and on mon1
// journal-remote and the timer) restarted with the new files. Without a monitoring node: no files,
// and `pgha-setup logs` stops what Debian's package may have started.
import { PORTS, nodesOf, type ClusterSpec, type NodeSpec } from "../../spec";
import { NODE_PATHS } from "../../node-paths";
import type { Layout } from "../../layout";
import { renderTemplate } from "../templates";
import { centralLogsShareGiB } from "../../monitoring/log-sizing";
import type { ChangeAction } from "../../bundle/format";
import type { BundleFile } from "./types";

function file(path: string, content: string, onChange: ChangeAction[], mode = "0644"): BundleFile {
  return { path, mode, owner: "root:root", content: content.endsWith("\n") ? content : content + "\n", onChange };
}

/** What the log templates use beyond the common view; undefined without a monitoring node. */
export function logsView(spec: ClusterSpec, layout: Layout) {
  const mon = nodesOf(spec, "monitor")[0];
  if (!spec.monitoring.enabled || !mon) return undefined;
  const scheme = spec.tls.enabled ? "https" : "http";
  return {
    uploadUrl: `${scheme}://${layout.addresses[mon.name]}:${PORTS.journalRemote}`,
    uploadKey: NODE_PATHS.journalUploadKey,
    remoteKey: NODE_PATHS.journalRemoteKey,
    remoteDir: NODE_PATHS.journalRemoteDir,
    retentionDays: spec.monitoring.logRetentionDays,
    maxUseGiB: centralLogsShareGiB({ nodes: spec.nodes.length, scrapeIntervalSeconds: spec.monitoring.scrapeIntervalSeconds, retentionDays: spec.monitoring.retentionDays }),
    restartSeconds: 10,
  };
}

/** The central-log files of one node: the uploader's on every node, the receiver's on mon1. */
export function logFiles(spec: ClusterSpec, node: NodeSpec, layout: Layout, view: object): BundleFile[] {
  const logs = logsView(spec, layout);
  if (!logs) return [];
  const v = { ...view, logs };
  const files = [
    file(NODE_PATHS.journalUploadConf, renderTemplate("journal-upload.conf", v), ["logs"]),
    file(NODE_PATHS.journalUploadDropIn, renderTemplate("systemd/systemd-journal-upload.conf", v), ["systemd", "logs"]),
  ];
  if (node.role === "monitor") {
    files.push(
      file(NODE_PATHS.journalRemoteConf, renderTemplate("journal-remote.conf", v), ["logs"]),
      file(NODE_PATHS.journalRemoteSocketDropIn, renderTemplate("systemd/systemd-journal-remote.socket", v), ["systemd", "logs"]),
      file(NODE_PATHS.journalRemoteDropIn, renderTemplate("systemd/systemd-journal-remote.conf", v), ["systemd", "logs"]),
      file(NODE_PATHS.journalVacuumService, renderTemplate("systemd/pgha-journal-vacuum.service", v), ["systemd"]),
      file(NODE_PATHS.journalVacuumTimer, renderTemplate("systemd/pgha-journal-vacuum.timer", v), ["systemd", "timers"]),
    );
  }
  return files;
}
