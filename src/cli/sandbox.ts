// `pgha sandbox …`: the stack on local hosts (see src/sandbox/cluster/).
import { sandboxTargets, scrape } from "../sandbox/metrics";
import { deliveredAlerts, firingAlerts, monitoringUrls, prometheusTargets } from "../sandbox/monitoring";
import { renderPage } from "../sandbox/page";
import { centralLogs } from "../sandbox/logs";
import type { MetricsJob } from "../metrics/targets";
import * as fs from "fs";
import { spawnSync } from "child_process";
import { Command } from "commander";
import { Listr } from "listr2";
import {
  apply, formatRollout, down, failover, formatStatus, healNetwork, hostExec, killMember, openSandbox, partitionMembers, patronictl,
  readState, rebootMember, replaceNode, sandboxTransport, startMember, status, switchover, up, checkHealth,
} from "../sandbox/cluster";
import { formatRestart, runRestart } from "../rollout/restart";
import * as readline from "readline";
import { formatRestored, formatStandby, openSecondSlot, promoteStandby, restoredClusterStatus, standbyClusterStatus, type StandbyClusterStatus } from "../sandbox/standby";
import { formatPromotion } from "../standby/promote";
import { STANDBY_STATE_DIR } from "../sandbox/cluster/standby-region";
import { SANDBOX_NETWORK } from "../layout";
import { backup, backups, deleteBackupSet, fetchLogical, formatPlan, humanBytes, logicalSets, restoreInPlace, restoreLogical, restoreNewCluster, restorePoint } from "../sandbox/restore";
import type { InPlacePlan } from "../restore/in-place";
import { removeScratch, scratchStatus } from "../sandbox/scratch";
import { copyFile, rotateCertificates } from "../sandbox/operate";

/** Everything on stdin (what `sandbox exec` forwards to the host). */
function readStdin(): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    process.stdin.on("data", (c: Buffer) => chunks.push(c));
    process.stdin.on("end", () => resolve(Buffer.concat(chunks)));
    process.stdin.on("error", reject);
  });
}

function out(text: string) {
  process.stdout.write(text.endsWith("\n") ? text : text + "\n");
}

/** `exec db1 -- cmd`: commander keeps the `--`; the command starts after it. */
function stripDashes(args: string[]): string[] {
  return args[0] === "--" ? args.slice(1) : args;
}

function progressLogger(): { log: (l: string) => void; done: () => void } {
  const start = Date.now();
  return {
    log: (l: string) => process.stderr.write(`[${((Date.now() - start) / 1000).toFixed(1).padStart(5)} s] ${l}\n`),
    done: () => undefined,
  };
}

export function registerSandboxCommands(program: Command): void {
  const sandbox = program
    .command("sandbox")
    .enablePositionalOptions()
    .description("the stack on local Debian 13 hosts booted by the same cloud-init user-data as EC2 (root, Linux)");

  sandbox
    .command("up")
    .description("build the image if needed, boot the hosts, wait until the cluster is healthy, print status")
    .option("-s, --stack <stack>", "stack name or path to a Pulumi.<stack>.yaml; a stack with postgres-ha:restoreFrom (e.g. prod-pitr) boots beside its source's running sandbox, restored from its repository", "prod")
    .option("--standby [stack]", `also boot the standby cluster of the stack in the sandbox's second region (its own bridge ${SANDBOX_NETWORK.second.cidr}, joined by a router): a stack with postgres-ha:standby (default prod-dr), which the primary's standbyClusters declares`)
    .option("--wan-delay-ms <ms>", "with --standby: the delay added each way between the regions' hosts (the router's NFQUEUE; S3 and the AWS APIs stay in-region); 0 for none", "12")
    .option("--json", "print the status as JSON")
    .action(async (opts: { stack: string; json?: boolean; standby?: boolean | string; wanDelayMs: string }) => {
      const wanDelayMs = Number(opts.wanDelayMs);
      if (!Number.isFinite(wanDelayMs) || wanDelayMs < 0 || wanDelayMs > 1000) throw Object.assign(new Error(`--wan-delay-ms ${opts.wanDelayMs}: allowed a number of milliseconds, 0–1000`), { exitCode: 2 });
      const p = progressLogger();
      if (opts.standby && readState()) {
        const primary = await up({ stack: opts.stack, log: p.log });
        const standbyStack = opts.standby === true ? "prod-dr" : opts.standby;
        p.log(`standby cluster ${standbyStack} in the second region`);
        const st = await up({ stack: standbyStack, log: p.log, wanDelayMs });
        const s = { ...(await status(primary)), standbyCluster: await standbyClusterStatus(st, primary) };
        out(opts.json ? JSON.stringify(s, null, 2) : `${formatStatus(s)}\n${formatStandby(s.standbyCluster)}`);
        return;
      }
      const state = readState();
      let sb;
      if (state && !opts.json) p.log(`a sandbox of stack ${state.stack} exists; bringing it to health`);
      if (state) {
        sb = await up({ stack: opts.stack, log: p.log });
      } else {
        const tasks = new Listr(
          [
            {
              title: `sandbox up --stack ${opts.stack}`,
              task: async (_ctx, task) => {
                sb = await up({ stack: opts.stack, log: (l) => (task.output = l) });
              },
              rendererOptions: { persistentOutput: true, bottomBar: 8 },
            },
          ],
          { renderer: process.stderr.isTTY ? "default" : "simple", rendererOptions: { timer: { condition: true, format: () => (s: string) => s, field: (d: number) => `${(d / 1000).toFixed(1)}s` } } as any },
        );
        await tasks.run();
      }
      let s: Awaited<ReturnType<typeof status>> & { standbyCluster?: StandbyClusterStatus } = await status(sb!);
      if (opts.standby) {
        const standbyStack = opts.standby === true ? "prod-dr" : opts.standby;
        p.log(`standby cluster ${standbyStack} in the second region`);
        const st = await up({ stack: standbyStack, log: p.log, wanDelayMs });
        s = { ...s, standbyCluster: await standbyClusterStatus(st, sb!) };
      }
      out(opts.json ? JSON.stringify(s, null, 2) : `${formatStatus(s)}${s.standbyCluster ? `\n${formatStandby(s.standbyCluster)}` : ""}`);
    });

  sandbox
    .command("promote-standby")
    .description("promote the standby cluster (second region) to a primary: standby_cluster removed from its dynamic configuration, first write through its rw endpoint, its own stanza and a first full backup; with --fence-old the old primary is first drained (read-only, writing sessions ended after 10 s), the standby replays up to its last commit, then the old cluster becomes a standby of it (no acknowledged write lost); refused while the old primary is reachable and unfenced unless --yes")
    .option("--fence-old", "drain the old primary, wait for the standby to replay it, then make the old cluster a standby of the promoted one (planned promotion: RPO 0)")
    .option("--yes", "promote although the old primary is reachable and not fenced (two writable primaries until you fence it)")
    .option("--json", "print {rpoBytes, rpoSeconds, promotedAt, firstWriteAt, …} as JSON")
    .action(async (opts: { fenceOld?: boolean; yes?: boolean; json?: boolean }) => {
      const p = progressLogger();
      const r = await promoteStandby({ fenceOld: opts.fenceOld, yes: opts.yes, log: opts.json ? () => undefined : p.log });
      out(opts.json ? JSON.stringify(r, null, 2) : formatPromotion(r));
    });

  sandbox
    .command("apply")
    .description("converge the running sandbox to the stack file: publish secrets and bundles, then roll them out node by node (etcd, HAProxy, replicas, leader); reloads what reloads, reports what needs a restart; a changed postgres.nodes or haproxy.nodes adds or removes nodes")
    .option("-s, --stack <stack>", "stack name or path to a Pulumi.<stack>.yaml (default: the file the sandbox runs)")
    .option("--json", "print the rollout report as JSON")
    .action(async (opts: { stack?: string; json?: boolean }) => {
      const p = progressLogger();
      const r = await apply(await openSandbox(), { stack: opts.stack, log: opts.json ? () => undefined : p.log });
      const m = r.membership;
      const members = m ? [`nodes added: ${m.added.map((a) => `${a} (ready after ${m.readyAfter[a]?.toFixed(1) ?? "?"} s)`).join(", ") || "none"}; removed: ${m.removed.join(", ") || "none"}${m.handedOver ? ` (${m.handedOver.from} handed over to ${m.handedOver.to} first)` : ""}`] : [];
      const a = r.afterRollout;
      const restarts = a?.decision ? [`pending restarts: ${a.decision.reason}`, ...(a.restart ? [formatRestart(a.restart)] : [])] : [];
      out(opts.json ? JSON.stringify({ ...r.rollout, membership: m, afterRollout: a }, null, 2) : [formatRollout(r.rollout), ...members, ...restarts].join("\n"));
      process.exitCode = r.rollout.ok && (a?.restart?.ok ?? true) ? 0 : 1;
    });

  sandbox
    .command("restart")
    .description("rolling restart: replicas one at a time (each streaming again before the next), then one switchover to a healthy synchronous standby and the old leader; --pending restarts only what a change left pending, on any node")
    .option("--pending", "only what is pending a restart (a PostgreSQL parameter, a changed Patroni, etcd or HAProxy unit), on every role")
    .option("--member <name>", "only this node (the leader is switched over first)")
    .option("--json", "print the report as JSON")
    .action(async (opts: { pending?: boolean; member?: string; json?: boolean }) => {
      const sb = await openSandbox();
      const p = progressLogger();
      const r = await runRestart({ transport: sandboxTransport, nodes: sb.spec.nodes, pendingOnly: opts.pending, member: opts.member, log: opts.json ? () => undefined : p.log });
      out(opts.json ? JSON.stringify(r, null, 2) : formatRestart(r));
      process.exitCode = r.ok ? 0 : 1;
    });

  sandbox
    .command("replace <node>")
    .description("replace a node's host with a new one booted from the current image and its user-data (how a new AMI reaches a node); a PostgreSQL member keeps its data volume and rejoins from it; a leader switches over first; an etcd member rejoins as a new member (its old one removed)")
    .option("--json", "print the result as JSON")
    .action(async (node: string, opts: { json?: boolean }) => {
      const p = progressLogger();
      const r = await replaceNode(await openSandbox(), node, opts.json ? () => undefined : p.log);
      out(opts.json ? JSON.stringify(r, null, 2) : `${r.node} replaced: healthy ${r.seconds.toFixed(1)} s after its old host was removed${r.handedOver ? ` (${r.handedOver.from} handed over to ${r.handedOver.to} first)` : ""}`);
    });

  sandbox
    .command("down")
    .description("stop and remove every host, namespace, mount and cgroup of the sandbox")
    .option("--keep-data", "only stop the hosts; their disks stay for the next `up`")
    .option("--standby", "only the cluster beside the first stack's (the standby cluster of the second region, or a stack restored from the first one's repository: restoreFrom) and its router")
    .action(async (opts: { keepData?: boolean; standby?: boolean }) => {
      await down({ keepData: opts.keepData, stateDir: opts.standby ? STANDBY_STATE_DIR : undefined, log: (l) => process.stderr.write(l + "\n") });
      out(opts.keepData ? "sandbox stopped (disks kept)" : "sandbox removed");
    });

  sandbox
    .command("status")
    .description("members, roles, lag, endpoints, connection strings (patronictl list, from the machine)")
    .option("--json", "one JSON object (with --watch: one per line)")
    .option("--watch [seconds]", "redraw every N seconds (default 2) until Ctrl-C: a live view during a failover")
    .action(async (opts: { json?: boolean; watch?: boolean | string }) => {
      const sb = await openSandbox();
      if (opts.watch === undefined) {
        // Beside the first stack: its standby cluster, or a stack restored from its repository.
        const second = await openSecondSlot();
        const s = {
          ...(await status(sb)),
          ...(second?.spec.standby ? { standbyCluster: await standbyClusterStatus(second, sb) } : {}),
          ...(second?.spec.restoreFrom ? { restoredCluster: await restoredClusterStatus(second) } : {}),
        };
        const extra = [s.standbyCluster ? formatStandby(s.standbyCluster) : "", s.restoredCluster ? formatRestored(s.restoredCluster) : ""].filter(Boolean);
        out(opts.json ? JSON.stringify(s, null, 2) : [formatStatus(s), ...extra].join("\n"));
        return;
      }
      const every = opts.watch === true ? 2 : Number(opts.watch);
      if (!(every >= 0.5 && every <= 3600)) throw Object.assign(new Error(`--watch takes seconds between 0.5 and 3600, not ${opts.watch}`), { exitCode: 2 });
      let stop = false;
      process.once("SIGINT", () => (stop = true));
      while (!stop) {
        const started = Date.now();
        // The backup catalogues are not read: each is a pgBackRest call on the leader, too slow to redraw.
        const s = await status(sb, { catalogue: false });
        const stamp = new Date().toISOString();
        if (opts.json) out(JSON.stringify({ at: stamp, ...s }));
        else process.stdout.write(`${process.stdout.isTTY ? "\x1b[2J\x1b[H" : "\n"}${stamp}  (every ${every} s, Ctrl-C stops)\n${formatStatus(s)}\n`);
        const wait = every * 1000 - (Date.now() - started);
        for (let t = 0; t < wait && !stop; t += 100) await new Promise((r) => setTimeout(r, 100));
      }
    });

  sandbox
    .command("kill <member>")
    .description("stop a host: graceful shutdown, or --hard for a power cut (SIGKILL of its init)")
    .option("--hard", "power cut")
    .action(async (member: string, opts: { hard?: boolean }) => {
      await openSandbox();
      await killMember(member, Boolean(opts.hard));
      out(`${member} ${opts.hard ? "lost power" : "shut down"}`);
    });

  sandbox.command("start <member>").description("boot a stopped host again (same disk)").action(async (member: string) => {
    await openSandbox();
    await startMember(member);
    out(`${member} booted`);
  });

  sandbox.command("reboot <member>").description("reboot a host (systemctl reboot inside)").action(async (member: string) => {
    await openSandbox();
    await rebootMember(member);
    out(`${member} rebooted`);
  });

  sandbox
    .command("partition <members...>")
    .description("cut the members off the network (from everyone, or only --from the given hosts)")
    .option("--from <hosts...>", "only between <members> and these hosts")
    .action(async (members: string[], opts: { from?: string[] }) => {
      const sb = await openSandbox();
      await partitionMembers(sb, members, opts.from);
      out(`partitioned ${members.join(", ")}${opts.from ? ` from ${opts.from.join(", ")}` : " from every other host"}; \`npx pgha sandbox heal\` undoes it`);
    });

  sandbox
    .command("metrics [node]")
    .description("scrape the metrics endpoints (every node's, or one node's) over TLS with the operator certificate, as the monitoring node will; prints the samples, or a summary with --targets")
    .option("--job <job>", "only this exporter: node, postgres, patroni, etcd, haproxy, prometheus or alertmanager")
    .option("--grep <text>", "only samples whose line contains this text")
    .option("--targets", "one line per endpoint: up or why not, and how many samples")
    .option("--json", "JSON: one object per endpoint with its samples (or its error)")
    .action(async (node: string | undefined, opts: { job?: string; grep?: string; targets?: boolean; json?: boolean }) => {
      const sb = await openSandbox();
      const all = sandboxTargets(sb);
      const jobs = [...new Set(all.map((t) => t.job))];
      if (opts.job && !jobs.includes(opts.job as MetricsJob)) throw Object.assign(new Error(`--job ${opts.job}: the exporters are ${jobs.join(", ")}`), { exitCode: 2 });
      if (node && !all.some((t) => t.node === node)) throw Object.assign(new Error(`no node ${node} in the sandbox: its nodes are ${[...new Set(all.map((t) => t.node))].join(", ")}`), { exitCode: 2 });
      const chosen = all.filter((t) => (!node || t.node === node) && (!opts.job || t.job === opts.job));
      const results = await Promise.all(chosen.map((t) => scrape(sb, t).then((r) => ({ t, r, error: r.status === 200 ? undefined : `HTTP ${r.status}` }), (e: Error) => ({ t, r: undefined, error: e.message }))));
      const line = (x: { name: string; labels: Record<string, string>; value: number }) => `${x.name}${Object.keys(x.labels).length ? `{${Object.entries(x.labels).map(([k, v]) => `${k}="${v}"`).join(",")}}` : ""} ${x.value}`;
      if (opts.json) {
        out(JSON.stringify(results.map(({ t, r, error }) => ({ ...t, up: !error, ...(error ? { error } : { samples: r!.samples.filter((x) => !opts.grep || line(x).includes(opts.grep)) }) })), null, 2));
      } else if (opts.targets) {
        for (const { t, r, error } of results) out(`${t.node.padEnd(8)} ${t.job.padEnd(9)} ${t.scheme}://${t.address}:${t.port}${t.path}  ${error ? `DOWN: ${error}` : `up, ${r!.samples.length} samples`}`);
      } else {
        for (const { t, r, error } of results) {
          if (error) {
            out(`# ${t.node} ${t.job}: DOWN: ${error}`);
            continue;
          }
          for (const x of r!.samples) {
            const l = line(x);
            if (!opts.grep || l.includes(opts.grep)) out(`${t.node} ${t.job} ${l}`);
          }
        }
      }
      if (results.some((x) => x.error)) process.exitCode = 1;
    });

  sandbox
    .command("logs [host]")
    .description("central logs: every node's journal as the monitoring node received it (journalctl on mon1), or one host's")
    .option("--since <time>", "only entries since this time (journalctl --since: \"10 min ago\", \"2025-01-01 12:00\")")
    .option("--grep <text>", "only entries whose message matches (journalctl -g)")
    .option("-n <lines>", "only the last <lines> entries")
    .option("--json", "one JSON object per entry (journalctl -o json)")
    .action(async (host: string | undefined, opts: { since?: string; grep?: string; n?: string; json?: boolean }) => {
      const sb = await openSandbox();
      const lines = await centralLogs(sb, { host, since: opts.since, grep: opts.grep, lines: opts.n === undefined ? undefined : Number(opts.n), json: opts.json });
      for (const l of lines) out(l);
    });

  sandbox
    .command("alerts")
    .description("the monitoring node's view: alerts Alertmanager holds now (firing, or suppressed by an inhibition), Prometheus's scrape targets that are down, and with --delivered what the alert topic delivered (the sandbox's inbox queue; reading empties it)")
    .option("--json", "JSON: {monitoring, alerts, targetsDown[, delivered]}")
    .option("--delivered", "also the messages SNS delivered since the last read (each is read once)")
    .action(async (opts: { json?: boolean; delivered?: boolean }) => {
      const sb = await openSandbox();
      const urls = monitoringUrls(sb);
      if (!urls) throw Object.assign(new Error(`stack ${sb.spec.stack} has no monitoring node (monitoring.enabled is false)`), { exitCode: 2 });
      const [alerts, targets, delivered] = await Promise.all([firingAlerts(sb), prometheusTargets(sb), opts.delivered ? deliveredAlerts(sb) : Promise.resolve(undefined)]);
      const down = targets.filter((t) => t.health !== "up");
      if (opts.json) {
        out(JSON.stringify({ monitoring: urls, alerts, targetsDown: down, ...(delivered ? { delivered } : {}) }, null, 2));
        return;
      }
      out(`Prometheus ${urls.prometheus}   Alertmanager ${urls.alertmanager}`);
      out(alerts.length ? alerts.map((a) => `${a.state === "active" ? "FIRING" : a.state.toUpperCase()}  ${a.name} (${a.severity})${a.node ? ` on ${a.node}` : ""} since ${a.since}: ${a.summary}`).join("\n") : "no alert firing");
      out(`${targets.length - down.length}/${targets.length} scrape targets up${down.length ? `; down: ${down.map((t) => `${t.job}@${t.node} (${t.lastError})`).join(", ")}` : ""}`);
      if (delivered) out(delivered.length ? delivered.map((m) => `delivered ${m.timestamp}: ${m.subject}`).join("\n") : "nothing delivered since the last read");
    });

  sandbox
    .command("page")
    .description("the monitoring page (Prometheus's console of the cluster: members, lag, write rate, archive and backup age against the promises, firing alerts): its URL, and with --screenshot a PNG of it rendered by headless Chromium")
    .option("--screenshot <file.png>", "render the page in headless Chromium and save a screenshot")
    .option("--html <file>", "save the page's HTML (it carries its own style)")
    .action(async (opts: { screenshot?: string; html?: string }) => {
      const sb = await openSandbox();
      const page = await renderPage(sb, { screenshot: opts.screenshot });
      if (opts.html) fs.writeFileSync(opts.html, page.html);
      out(`${page.url}  (TLS: the operator certificate of \`status\`'s connection files)${page.screenshot ? `\nscreenshot: ${page.screenshot}` : ""}${opts.html ? `\nhtml: ${opts.html}` : ""}`);
    });

  sandbox.command("heal").description("remove every network fault").action(async () => {
    await healNetwork();
    out("network healed");
  });

  sandbox
    .command("switchover")
    .description("planned switchover to --to (or any healthy replica)")
    .option("--to <member>", "the new leader")
    .action(async (opts: { to?: string }) => {
      const r = await switchover(await openSandbox(), opts.to);
      out(`switchover: ${r.from} → ${r.to}`);
    });

  sandbox
    .command("failover")
    .description("manual failover: promote --to (or the first other member) now")
    .option("--to <member>", "the member to promote")
    .action(async (opts: { to?: string }) => {
      const r = await failover(await openSandbox(), opts.to);
      out(`failover: ${r.from ?? "(no leader)"} → ${r.to}`);
    });

  sandbox
    .command("psql [target] [args...]")
    .description("psql to rw, ro or a member (verify-full TLS from the machine); extra args go to psql")
    .allowUnknownOption()
    .passThroughOptions()
    .action(async (target: string | undefined, args: string[]) => {
      const sb = await openSandbox();
      const r = spawnSync("psql", [sb.client.uri(target ?? "rw"), ...stripDashes(args)], { stdio: "inherit" });
      if (r.error) throw new Error(`psql: ${r.error.message} (install postgresql-client)`);
      process.exitCode = r.status ?? 1;
    });

  sandbox
    .command("patronictl <args...>")
    .description("patronictl on the leader's host, e.g. `npx pgha sandbox patronictl list`")
    .allowUnknownOption()
    .passThroughOptions()
    .action(async (args: string[]) => {
      const r = await patronictl(await openSandbox(), stripDashes(args));
      process.stdout.write(r.stdout);
      process.stderr.write(r.stderr);
      process.exitCode = r.code;
    });

  sandbox
    .command("exec <host> <command...>")
    .description("run a command on a host as root, e.g. `npx pgha sandbox exec db1 -- journalctl -u patroni -n 50`; stdin is forwarded and output is binary-safe (`… exec db1 -- cat /path > file`)")
    .allowUnknownOption()
    .passThroughOptions()
    .action(async (host: string, command: string[]) => {
      await openSandbox();
      const input = process.stdin.isTTY ? undefined : await readStdin();
      const r = await hostExec(host, stripDashes(command), { timeoutMs: 600_000, input });
      await new Promise<void>((resolve) => process.stdout.write(r.stdoutBytes, () => resolve()));
      process.stderr.write(r.stderr);
      process.exitCode = r.code;
    });

  sandbox
    .command("backup-delete <label>")
    .description("delete one backup set now (and the backups that depend on it); the newest full backup only with --force")
    .option("--force", "also the newest full backup")
    .action(async (label: string, opts: { force?: boolean }) => {
      out(await deleteBackupSet(await openSandbox(), label, Boolean(opts.force)));
    });

  sandbox
    .command("cp <from> <to>")
    .description("copy a file between the machine and a host, byte for byte: `sandbox cp db1:/var/log/pgha/backup.log .` or `sandbox cp ./x.sql db1:/tmp/x.sql`")
    .action(async (from: string, to: string) => {
      const sb = await openSandbox();
      const dest = /^[a-z][a-z0-9-]*:\//.test(from) && (to === "." || to.endsWith("/")) ? `${to.replace(/\/?$/, "/")}${from.split("/").pop()}` : to;
      const r = await copyFile(sb, from, dest);
      out(`${from} → ${dest}: ${r.bytes} bytes`);
    });

  sandbox
    .command("rotate-certs [nodes...]")
    .description("re-issue node certificates (default: every node), one node at a time: new certificate into the node's secret, pgha-secrets rotate on the node (reload, no restart)")
    .option("--valid-days <n>", "validity of the new certificates in days (default tls.certValidityDays); one inside tls.renewBeforeDays rehearses the certificate-expiry alert", (v: string) => Number(v))
    .action(async (nodes: string[], opts: { validDays?: number }) => {
      const sb = await openSandbox();
      const done = await rotateCertificates(sb, nodes, (l) => process.stderr.write(`[rotate-certs] ${l}\n`), opts.validDays);
      out(done.map((d) => `${d.node.padEnd(6)} serial ${d.serialNumber}  valid until ${d.notAfter}`).join("\n"));
      const h = await checkHealth(sb);
      out(h.healthy ? `cluster healthy (leader ${h.leader})` : `cluster NOT healthy: ${h.reasons.join("; ")}`);
      process.exitCode = h.healthy ? 0 : 1;
    });

  sandbox
    .command("restore-point <name>")
    .description("create a named restore point on the leader (before a risky change), e.g. before_migration_42")
    .action(async (name: string) => {
      const lsn = await restorePoint(await openSandbox(), name);
      out(`restore point ${name} at ${lsn} (archived); restore to it with: npx pgha sandbox restore --type name --target ${name} --new-cluster`);
    });

  sandbox
    .command("backup <kind>")
    .description("run a backup job now: full, diff, incr (pgBackRest), logical (pg_dump → S3), drill (restore proof), check; a run of the same kind in progress is waited for first")
    .action(async (kind: string) => {
      const kinds = ["full", "diff", "incr", "logical", "drill", "check"];
      if (!kinds.includes(kind)) throw Object.assign(new Error(`backup kind must be one of ${kinds.join(", ")}, not ${kind}`), { exitCode: 2 });
      const r = await backup(await openSandbox(), kind as any);
      process.stderr.write(r.log);
      out(`${kind} backup ran on ${r.node}`);
    });

  sandbox
    .command("backups")
    .description("backups in every repository and the restorable window (oldest … newest restorable point), per repository")
    .option("--json", "print JSON")
    .option("--repo <n>", "one repository only: 1, or 2 (the second region's copy, backup.secondRepository), which answers while the first region's S3 is gone")
    .action(async (opts: { json?: boolean; repo?: string }) => {
      const sb = await openSandbox();
      const c = await backups(sb, repoOption(sb, opts.repo));
      const logical = await logicalSets(sb);
      if (opts.json) return out(JSON.stringify({ ...c, logical }, null, 2));
      out(
        [
          `stanza ${c.stanza}: ${c.status}`,
          `restorable window: ${c.oldest ?? "none"} … ${c.newest ?? "none"}`,
          `oldest backup proven by a restore drill: ${c.oldestVerified ?? "none yet (npx pgha sandbox backup drill)"}`,
          ...c.repositories.map((r) => `repo${r.repo} (${sb.spec.backup.repositories.find((x) => x.index === r.repo)?.bucketName ?? "?"}): ${r.status}; ${r.backups} backup(s), oldest ${r.oldest ?? "none"}, newest ${r.newestBackup ?? "none"}, newest WAL ${r.archiveMax ?? "none"}`),
          "",
          `${"repo".padEnd(5)} ${"label".padEnd(34)} ${"type".padEnd(5)} ${"start".padEnd(21)} ${"stop".padEnd(21)} ${"size".padStart(9)} ${"in repo".padStart(9)}  restored by a drill`,
          ...c.backups.map((b) => `${`repo${b.repo}`.padEnd(5)} ${b.label.padEnd(34)} ${b.type.padEnd(5)} ${b.start.padEnd(21)} ${b.stop.padEnd(21)} ${humanBytes(b.sizeBytes).padStart(9)} ${humanBytes(b.repoSizeBytes).padStart(9)}  ${b.verified ?? "no"}`),
          "(restored by a drill: pgha-backup drill restored that set, started PostgreSQL on it and queried it; pgBackRest verify checks every set's checksums after the backup)",
          "",
          logical.length ? "logical dumps (pgha-backup logical; npx pgha sandbox logical restore …):" : "logical dumps: none yet (npx pgha sandbox backup logical)",
          ...logical.map((l) => `  ${l.time}${l.complete ? "" : " (incomplete)"}  globals ${humanBytes(l.globalsBytes)}  ${l.databases.map((d) => `${d.name} ${humanBytes(d.sizeBytes)}`).join(", ")}`),
        ].join("\n"),
      );
    });

  const logical = sandbox.command("logical").description("the logical dumps in S3 (pgha-backup logical): list, fetch one, restore a database or tables");
  logical
    .command("list")
    .description("every dump set: time, databases and sizes")
    .option("--json", "as JSON")
    .action(async (opts: { json?: boolean }) => {
      const sets = await logicalSets(await openSandbox());
      if (opts.json) return out(JSON.stringify(sets, null, 2));
      out(sets.length ? sets.map((l) => `${l.time}${l.complete ? "" : " (incomplete)"}  globals ${humanBytes(l.globalsBytes)}  ${l.databases.map((d) => `${d.name} ${humanBytes(d.sizeBytes)}`).join(", ")}`).join("\n") : "no logical dumps yet (npx pgha sandbox backup logical)");
    });
  logical
    .command("fetch")
    .description("copy one database's dump (pg_dump -Fc) to the machine")
    .requiredOption("--time <time>", "the set's time as `logical list` shows it, or latest")
    .requiredOption("--database <db>", "the database")
    .requiredOption("-o, --out <file>", "where to write it (- for stdout)")
    .action(async (opts: { time: string; database: string; out: string }) => {
      const bytes = await fetchLogical(await openSandbox(), opts.time, opts.database);
      if (opts.out === "-") await new Promise<void>((resolve) => process.stdout.write(bytes, () => resolve()));
      else {
        fs.writeFileSync(opts.out, bytes, { mode: 0o600 });
        process.stderr.write(`${opts.out}: ${humanBytes(bytes.length)} (pg_restore -l ${opts.out} lists it)\n`);
      }
    });
  logical
    .command("restore")
    .description("restore a database (into a new one, or over it with --clean) or tables with their indexes, constraints, defaults and sequences, on the leader")
    .requiredOption("--time <time>", "the set's time as `logical list` shows it, or latest")
    .requiredOption("--database <db>", "the dumped database")
    .option("--into <db>", "restore into this database (created when missing; default: the same)")
    .option("--table <schema.table...>", "only these tables, with everything that belongs to them")
    .option("--schema-only", "definitions only")
    .option("--data-only", "rows only (into existing tables)")
    .option("--clean", "drop what is restored first (a whole database, or the named tables)")
    .option("--jobs <n>", "parallel jobs for a whole database", "2")
    .action(async (opts: { time: string; database: string; into?: string; table?: string[]; schemaOnly?: boolean; dataOnly?: boolean; clean?: boolean; jobs: string }) => {
      if (opts.schemaOnly && opts.dataOnly) throw Object.assign(new Error("--schema-only and --data-only exclude each other"), { exitCode: 2 });
      const line = await restoreLogical(await openSandbox(), {
        time: opts.time, database: opts.database, into: opts.into, tables: opts.table, clean: opts.clean, jobs: Number(opts.jobs),
        section: opts.schemaOnly ? "schema-only" : opts.dataOnly ? "data-only" : undefined,
      });
      out(line.replace(/^\S+ \[\w+\] /, ""));
    });

  sandbox
    .command("restore")
    .description("point-in-time recovery: in place (the whole cluster goes back; a plan first, then --yes) or as a new cluster beside it")
    .requiredOption("--type <type>", "time, xid, lsn, name or immediate")
    .option("--target <value>", "the time with a zone ('2026-11-25 10:00:00+00'), xid, LSN (0/3000060) or a catalogued restore point's name")
    .option("--action <action>", "at the target: promote, pause or shutdown (in place: promote only)", "promote")
    .option("--set <label>", "restore this backup set")
    .option("--timeline <id>", "follow this timeline (a target on a timeline an earlier in-place restore abandoned)")
    .option("--repo <n>", "new cluster: restore from this repository: 2 is the second region's copy (backup.secondRepository), for when the first region's S3 is gone")
    .option("--in-place", "restore the live cluster itself: shows the plan, asks (or --yes), keeps the old data until the restored cluster is healthy")
    .option("--new-cluster", "restore on a scratch host beside the live cluster, which is not touched")
    .option("--name <name>", "new cluster: the scratch cluster's name (default: the first free pitr<n>); earlier ones stay")
    .option("--replace", "new cluster: replace the scratch cluster of that --name")
    .option("--yes", "in place: go ahead without asking")
    .option("--dry-run", "in place: print the plan and stop")
    .option("--json", "print the result as JSON")
    .action(async (opts: { type: string; target?: string; action: string; set?: string; timeline?: string; repo?: string; inPlace?: boolean; newCluster?: boolean; name?: string; replace?: boolean; yes?: boolean; dryRun?: boolean; json?: boolean }) => {
      if (Boolean(opts.inPlace) === Boolean(opts.newCluster)) throw Object.assign(new Error("say where to restore: --in-place or --new-cluster"), { exitCode: 2 });
      if (opts.timeline !== undefined && !/^[1-9]\d*$/.test(opts.timeline)) throw Object.assign(new Error(`--timeline must be a timeline id (a positive integer), not ${opts.timeline}`), { exitCode: 2 });
      const sb = await openSandbox();
      if (opts.repo !== undefined && opts.inPlace) throw Object.assign(new Error("--repo goes with --new-cluster (an in-place restore reads the stack's own repository)"), { exitCode: 2 });
      const req = { type: opts.type as any, target: opts.target, action: opts.action as any, set: opts.set, timeline: opts.timeline ? Number(opts.timeline) : undefined, repo: repoOption(sb, opts.repo) };
      const log = (l: string) => process.stderr.write(`[restore] ${l}\n`);
      if (opts.newCluster) {
        const r = await restoreNewCluster(sb, req, log, { name: opts.name, replace: opts.replace });
        if (opts.json) return out(JSON.stringify(r, null, 2));
        return out(
          `restored as scratch cluster ${r.name} on host ${r.host} (timeline ${r.timeline}, ${r.action} at the target, ${(r.durationMs / 1000).toFixed(1)} s)\n` +
            `  query:  npx pgha sandbox exec ${r.host} -- runuser -u postgres -- psql -h ${r.socket} -p ${r.port}\n` +
            `  remove: npx pgha sandbox scratch remove ${r.name}`,
        );
      }
      if (opts.name || opts.replace) throw Object.assign(new Error("--name and --replace name a scratch cluster: they go with --new-cluster"), { exitCode: 2 });
      const confirm = async (plan: InPlacePlan) => {
        process.stderr.write(`${formatPlan(plan)}\n`);
        if (opts.yes) return true;
        if (!process.stdin.isTTY) return false;
        const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
        const answer = await new Promise<string>((resolve) => rl.question(`Type the cluster's name (${plan.cluster}) to restore it in place, anything else to stop: `, resolve));
        rl.close();
        return answer.trim() === plan.cluster;
      };
      const r = await restoreInPlace(sb, req, log, { dryRun: opts.dryRun, confirm, timeline: opts.timeline ? Number(opts.timeline) : undefined });
      if (opts.dryRun) {
        if (opts.json) return out(JSON.stringify(r.plan, null, 2));
        return out(`${formatPlan(r.plan)}\n(dry run: nothing was changed; run again with --yes to restore)`);
      }
      if (opts.json) return out(JSON.stringify(r.result, null, 2));
      out(`${r.result!.message}${r.result!.next ? `\nnext: ${r.result!.next}` : ""}`);
      process.exitCode = r.result!.ok ? 0 : 1;
    });

  const scratch = sandbox.command("scratch").description("the scratch clusters new-cluster restores left: list them, remove one");
  scratch
    .command("list")
    .description("name, host, what it was restored to, timeline, host state")
    .option("--json", "as JSON")
    .action(async (opts: { json?: boolean }) => {
      const sb = await openSandbox();
      const list = await scratchStatus(sb.stateDir);
      if (opts.json) return out(JSON.stringify(list, null, 2));
      if (!list.length) return out("no scratch clusters (npx pgha sandbox restore --new-cluster … makes one)");
      out(list.map((s) => `${s.name.padEnd(12)} ${s.address.padEnd(12)} ${s.state.padEnd(8)} timeline ${s.timeline ?? "-"}  ${s.target}  (${s.createdAt})`).join("\n"));
    });
  scratch
    .command("remove <name>")
    .description("delete a scratch cluster's host and disk")
    .action(async (name: string) => {
      const sb = await openSandbox();
      const removed = await removeScratch(sb.stateDir, name);
      out(`removed scratch cluster ${removed.name} (${removed.target})`);
    });

  sandbox.command("health").description("exit 0 when healthy (one leader, replicas streaming, rw writable)").action(async () => {
    const h = await checkHealth(await openSandbox());
    out(h.healthy ? `healthy (leader ${h.leader})` : `not healthy: ${h.reasons.join("; ")}`);
    process.exitCode = h.healthy ? 0 : 1;
  });

}

/** --repo <n>: a repository number of the stack (1, or 2 with backup.secondRepository). */
function repoOption(sb: { spec: { backup: { repositories: { index: number }[] } } }, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const have = sb.spec.backup.repositories.map((r) => r.index);
  if (!/^\d+$/.test(value) || !have.includes(Number(value))) {
    throw Object.assign(new Error(`--repo ${value}: this stack's repositories are ${have.join(", ")} (2 exists with backup.secondRepository)`), { exitCode: 2 });
  }
  return Number(value);
}
