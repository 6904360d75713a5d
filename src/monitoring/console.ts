// The page to look at (issue 12): a Prometheus console template on the monitoring node,
// /consoles/pgha.html — the members and their roles, lag, the write rate, the archive's and the
// backups' age against the stack's own promises (red only where the matching alert would fire), and the alerts firing now. Rendered from the
// spec (the promises are numbers of this stack), evaluated by Prometheus at every request; the
// page carries its own style, so a saved copy looks the same (the README's screenshot is one).
import type { ClusterSpec } from "../spec";
import { nodesOf } from "../spec";
import { staleAfterSeconds } from "./alerts";

/** Where Prometheus serves it (its --web.console.templates directory, Debian's). */
export const CONSOLE_DIR = "/etc/prometheus/consoles";
export const CONSOLE_FILE = "pgha.html";

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1d2733; background: #f6f7f9; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 15px; margin: 22px 0 8px; color: #44546a; }
.sub { color: #66768a; margin-bottom: 12px; }
table { border-collapse: collapse; background: #fff; min-width: 640px; box-shadow: 0 1px 2px #0002; }
th, td { padding: 6px 12px; text-align: left; border-bottom: 1px solid #e3e7ec; }
th { background: #eef1f5; font-weight: 600; }
.ok { color: #17803d; font-weight: 600; } .bad { color: #c0262d; font-weight: 600; } .warn { color: #b86e00; font-weight: 600; }
.tiles { display: flex; gap: 12px; flex-wrap: wrap; }
.tile { background: #fff; padding: 10px 14px; min-width: 190px; box-shadow: 0 1px 2px #0002; }
.tile b { display: block; font-size: 20px; }
`;

/** A PromQL string inside a Go template string literal. */
const q = (promql: string) => JSON.stringify(promql);

/** The console template (Go text, evaluated by Prometheus). */
export function renderConsole(spec: ClusterSpec): string {
  const rpo = spec.objectives.pitrRpoSeconds;
  const fullStale = staleAfterSeconds(spec.backup.fullSchedule);
  const members = nodesOf(spec, "postgres").length;
  const leaderArchive = (metric: string) => `max(${metric}{job="postgres"} and on(node) pgha_archiver_archiving{job="postgres"} == 1)`;
  return `{{/* The cluster at a glance, stack ${spec.stack} (cluster ${spec.scope}). Rendered by postgres-ha (src/monitoring/console.ts). */}}
<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>postgres-ha ${spec.stack}/${spec.scope}</title><style>${STYLE}</style></head>
<body>
<h1>postgres-ha · ${spec.stack} / ${spec.scope}</h1>
<div class="sub">tier ${spec.tier} · ${members} PostgreSQL members, sync mode ${spec.postgres.syncMode} · {{ with query "time()" }}{{ . | first | value | humanizeTimestamp }}{{ end }}</div>

<h2>Alerts firing</h2>
<table id="alerts"><tr><th>alert</th><th>severity</th><th>node</th></tr>
{{ range query ${q('ALERTS{alertstate="firing"}')} | sortByLabel "alertname" }}<tr class="alert"><td class="{{ if eq .Labels.severity "page" }}bad{{ else }}warn{{ end }}">{{ .Labels.alertname }}</td><td>{{ .Labels.severity }}</td><td>{{ or .Labels.node "cluster" }}</td></tr>
{{ else }}<tr><td class="ok" colspan="3">none</td></tr>
{{ end }}</table>

<h2>Members</h2>
<table id="members"><tr><th>member</th><th>role</th><th>PostgreSQL</th><th>timeline</th><th>replay lag</th></tr>
{{ range query ${q('up{job="patroni"}')} | sortByLabel "node" }}{{ $node := .Labels.node }}<tr class="member"><td>{{ $node }}</td>
{{ if eq .Value 1.0 }}<td>{{ with printf ${q('patroni_primary{job="patroni",node="%s"}')} $node | query }}{{ if eq (. | first | value) 1.0 }}<b>leader</b>{{ else }}replica{{ end }}{{ end }}</td>
<td>{{ with printf ${q('patroni_postgres_running{job="patroni",node="%s"}')} $node | query }}{{ if eq (. | first | value) 1.0 }}<span class="ok">running</span>{{ else }}<span class="bad">stopped</span>{{ end }}{{ end }}</td>
<td>{{ with printf ${q('patroni_postgres_timeline{job="patroni",node="%s"}')} $node | query }}{{ . | first | value }}{{ end }}</td>
<td>{{ with printf ${q('max(pgha_standby_replay_lag_bytes{member="%s"})')} $node | query }}{{ . | first | value | humanize1024 }}B{{ else }}—{{ end }}</td>
{{ else }}<td colspan="4" class="bad">not answering</td>{{ end }}</tr>
{{ end }}</table>

<h2>Promises</h2>
<div class="tiles">
<div class="tile">write rate (WAL)<b>{{ with query ${q('sum(rate(patroni_xlog_location{job="patroni"}[5m]) and on(node) patroni_primary{job="patroni"} == 1)')} }}{{ . | first | value | humanize1024 }}B/s{{ else }}—{{ end }}</b></div>
{{ $pending := 0.0 }}{{ with query ${q(leaderArchive("pgha_archiver_pending_files"))} }}{{ $pending = . | first | value }}{{ end }}
<div class="tile">newest archived WAL (RPO ${rpo} s)<b>{{ with query ${q(`time() - ${leaderArchive("pgha_archiver_last_archived_time_seconds")}`)} }}{{ $age := . | first | value }}<span class="{{ if and (gt $age ${rpo}.0) (gt $pending 0.0) }}bad{{ else }}ok{{ end }}">{{ $age | humanizeDuration }} ago</span>{{ else }}—{{ end }}</b></div>
<div class="tile">WAL waiting for the archive<b><span class="{{ if gt $pending 0.0 }}warn{{ else }}ok{{ end }}">{{ $pending }} files</span></b></div>
<div class="tile">newest full backup (due every ${Math.round(fullStale / 3600)} h at most)<b>{{ with query ${q('time() - max(pgha_job_last_success_timestamp_seconds{kind="full"})')} }}{{ $age := . | first | value }}<span class="{{ if gt $age ${fullStale}.0 }}bad{{ else }}ok{{ end }}">{{ $age | humanizeDuration }} ago</span>{{ else }}<span class="warn">none recorded</span>{{ end }}</b></div>
<div class="tile">scrape targets up<b>{{ with query ${q("count(up == 1)")} }}{{ . | first | value }}{{ end }} / {{ with query ${q("count(up)")} }}{{ . | first | value }}{{ end }}</b></div>
</div>
</body></html>
`;
}
