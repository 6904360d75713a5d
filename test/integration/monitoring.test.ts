// The monitoring node on the booted hosts (issue 12): Prometheus scrapes every exporter of the
// cluster over TLS and holds the stack's rules; Alertmanager publishes to the stack's SNS topic
// (moto's, the same configuration as on AWS), which delivers to the sandbox's inbox queue — the
// stand-in for the people subscribed. Faults are injected on the running cluster; each alert must
// be delivered within its `for` plus two scrape intervals (and Alertmanager's group wait) after
// the moment its condition holds, and resolved after the repair. The dead man's switch puts a
// CloudWatch datapoint only while Prometheus evaluates and Alertmanager is ready.
import { alertRules } from "../../src/monitoring/alerts";
import { metricsTargets } from "../../src/metrics/targets";
import { NODE_PATHS } from "../../src/node-paths";
import { nodesOf } from "../../src/spec";
import { heartbeatDatapoints } from "../../src/sandbox/aws";
import { hostExec } from "../../src/sandbox/hosts";
import { healNetwork, killMember, partitionMembers, startMember, type Sandbox } from "../../src/sandbox/cluster";
import { rotateCertificates } from "../../src/sandbox/operate";
import { deliveredAlerts, firingAlerts, monitoringGet, monitoringUrls, prometheusQuery, prometheusTargets, type DeliveredAlert } from "../../src/sandbox/monitoring";
import { startS3, stopS3 } from "../../src/sandbox/s3";
import { renderPage } from "../../src/sandbox/page";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { localSql, postgresMembers, sandbox, sh, waitFor, waitHealthy, waitStreaming } from "./support";

let sb: Sandbox;
const T = (minutes: number) => minutes * 60_000;
/** Alertmanager's group_wait (src/monitoring/alertmanager.ts): a new group's first notification waits this long. */
const GROUP_WAIT_SECONDS = 10;
/** What the bound adds for the path after Alertmanager: SNS → SQS → the test's poll (every 2 s). */
const DELIVERY_MARGIN_SECONDS = 10;

beforeAll(async () => {
  sb = await sandbox();
  await waitHealthy(sb);
}, T(4));

const forOf = (name: string) => alertRules(sb.spec).find((r) => r.name === name)!.forSeconds;
const interval = () => sb.spec.monitoring.scrapeIntervalSeconds;

/** No alert firing: an earlier suite's fault (or the cluster's creation) has cleared. */
async function quiet(timeoutMs: number): Promise<void> {
  await waitFor("no alert firing on the monitoring node", async () => ((await firingAlerts(sb)).length === 0 ? true : undefined), timeoutMs, 5000).catch(async (e) => {
    throw new Error(`${(e as Error).message}: ${JSON.stringify(await firingAlerts(sb))}`);
  });
}

/** What SNS delivered from now on (earlier messages drained first): `poll` adds the new ones to `inbox`. */
async function freshInbox(): Promise<{ inbox: DeliveredAlert[]; poll: () => Promise<DeliveredAlert[]> }> {
  await deliveredAlerts(sb);
  const inbox: DeliveredAlert[] = [];
  return { inbox, poll: async () => { inbox.push(...(await deliveredAlerts(sb))); return inbox; } };
}

describe("the monitoring node", () => {
  it("Prometheus scrapes every metrics target of the cluster, each up, and holds exactly the stack's rules", async () => {
    const urls = monitoringUrls(sb)!;
    expect(urls.prometheus).toBe(`https://${sb.layout.addresses[nodesOf(sb.spec, "monitor")[0].name]}:9090`);
    const want = metricsTargets(sb.spec, sb.layout).map((t) => `${t.job}@${t.node}`).sort();
    // A target restarted moments ago (an earlier suite's fault) is up again within a scrape or two.
    const got = await waitFor("every scrape target up", async () => {
      const t = await prometheusTargets(sb);
      return t.every((x) => x.health === "up") ? t : undefined;
    }, 90_000, 3000);
    expect(got.map((t) => `${t.job}@${t.node}`).sort()).toEqual(want);
    const rules = JSON.parse((await monitoringGet(sb, `${urls.prometheus}/api/v1/rules?type=alert`)).text) as { data: { groups: { rules: { name: string; health: string }[] }[] } };
    const loaded = rules.data.groups.flatMap((g) => g.rules);
    expect(loaded.map((r) => r.name).sort()).toEqual(alertRules(sb.spec).map((r) => r.name).sort());
    expect(loaded.filter((r) => r.health !== "ok" && r.health !== "unknown")).toEqual([]);
    // Every PostgreSQL member's exporter answers through Prometheus with the `node` label the rules
    // group by, and reaches its PostgreSQL. Right after the cluster's creation a member's last scrape
    // may predate its PostgreSQL (or the metrics role, which pgha-access creates on the leader and
    // replication carries): CI on e477869 ran this file first, 11 s after `healthy`, and read
    // pg_up 0 on two members. The next scrapes must say 1.
    const want1 = postgresMembers(sb).map((m) => [m, 1]).sort();
    let up: [string, number][] = [];
    await waitFor("pg_up 1 on every PostgreSQL member", async () => {
      up = (await prometheusQuery(sb, 'pg_up{job="postgres"}')).map((s) => [s.labels.node, s.value] as [string, number]).sort();
      return JSON.stringify(up) === JSON.stringify(want1) ? true : undefined;
    }, 4 * interval() * 1000 + 30_000, 3000).catch(() => undefined);
    expect(up).toEqual(want1);
  }, T(3));

  it("the dead man's switch: pgha-monitor heartbeat puts a CloudWatch datapoint; with Alertmanager stopped it puts none and says why", async () => {
    const mon = nodesOf(sb.spec, "monitor")[0].name;
    const ok = await hostExec(mon, ["pgha-monitor", "heartbeat"]);
    expect([ok.code, ok.stderr]).toEqual([0, ""]);
    const points = await heartbeatDatapoints(sb.spec, 600);
    expect(points.length).toBeGreaterThan(0);
    expect(points[points.length - 1].sum).toBeGreaterThanOrEqual(1);
    await hostExec(mon, ["systemctl", "stop", "prometheus-alertmanager.service"]);
    try {
      const before = (await heartbeatDatapoints(sb.spec, 600)).reduce((a, p) => a + p.sum, 0);
      const refused = await hostExec(mon, ["pgha-monitor", "heartbeat"]);
      expect([refused.code, refused.stderr]).toEqual([1, expect.stringContaining("no heartbeat: Alertmanager is not ready")]);
      // The timer may have put one of its own in between (it runs every minute): none from this call.
      const after = (await heartbeatDatapoints(sb.spec, 600)).reduce((a, p) => a + p.sum, 0);
      expect(after - before).toBeLessThanOrEqual(1);
    } finally {
      await hostExec(mon, ["systemctl", "start", "prometheus-alertmanager.service"]);
    }
    await waitFor("Alertmanager ready again", async () => ((await hostExec(mon, ["pgha-monitor", "check"])).code === 0 ? true : undefined), 60_000, 1000);
  }, T(3));
});

/**
 * Alertmanager as it boots on a new monitoring node: no notification log. The log persists
 * (--storage.path) and dedups: a group whose last notification said FIRING is not notified again
 * for a new firing of the same labels until repeat_interval (tickets: 12 h). An earlier suite's
 * fault whose RESOLVED notification never went out (Alertmanager restarted by a rollout, mon1's
 * power, SNS down between flushes) leaves such an entry, and this suite's next firing of that
 * alert is, correctly, silent: CI on 7f8e422 waited 230 s for PghaMembersMissing (seen 139–145 s
 * in six earlier runs) after the suites before it had fired it. The faults below must each be a
 * first occurrence.
 */
async function forgetNotifications(): Promise<void> {
  const mon = nodesOf(sb.spec, "monitor")[0].name;
  await sh(mon, `systemctl stop prometheus-alertmanager.service && rm -f ${NODE_PATHS.alertmanagerStorage}/nflog && systemctl start prometheus-alertmanager.service`);
  await waitFor("Alertmanager ready", async () => ((await hostExec(mon, ["pgha-monitor", "check"])).code === 0 ? true : undefined), 60_000, 1000);
}

/** What Prometheus and Alertmanager hold of an alert: the message of a delivery that did not come. */
async function alertState(name: string): Promise<string> {
  const urls = monitoringUrls(sb)!;
  const rules = await monitoringGet(sb, `${urls.prometheus}/api/v1/alerts`).then((r) => (JSON.parse(r.text) as { data: { alerts: { labels: Record<string, string>; state: string; activeAt: string }[] } }).data.alerts.filter((a) => a.labels.alertname === name).map((a) => `${a.state} since ${a.activeAt}`), (e: Error) => [e.message]);
  const held = await firingAlerts(sb).then((a) => a.filter((x) => x.name === name).map((x) => `${x.state} since ${x.since}`), (e: Error) => [e.message]);
  return `Prometheus: ${JSON.stringify(rules)}; Alertmanager: ${JSON.stringify(held)}`;
}

interface Fault {
  alert: string;
  node?: string;
  /** When the alert's condition began to hold (ms). */
  onsetMs: number;
}

describe("faults → alerts delivered through the stack's SNS topic, resolved after the repair", () => {
  it("S3 stopped, a cron-run backup failing, a replica powered off, an etcd member stopped: each alert delivered within its for + two scrape intervals + the group wait; each resolved after the repair", async () => {
    await quiet(T(5));
    const leader = (await sb.client.leader())!;
    const replica = postgresMembers(sb).find((m) => m !== leader)!;
    const etcd = nodesOf(sb.spec, "etcd").map((n) => n.name).pop()!;
    await forgetNotifications();
    const { inbox, poll } = await freshInbox(); // not what earlier suites' faults sent
    const faults: Fault[] = [];
    const kind = sb.spec.backup.diffSchedule ? "diff" : "incr";
    const cronLine = (await sh(leader, `cat ${NODE_PATHS.cron}`)).split("\n").find((l) => !l.startsWith("#") && new RegExp(`[ /]pgha-backup ${kind}( |$)`).test(l))!;
    const command = cronLine.trim().split(/\s+/).slice(6).join(" ");
    const testCron = "/etc/cron.d/pgha-test-failing-backup";
    const rerunBackup = () => sh(leader, `runuser -u postgres -- bash -c '${command.replace(/>.*$/, "").replace(/'/g, "'\\''")}'`, T(6));
    let completed = false;
    try {
      // 1. The S3 endpoint stops: WAL waits, and once the newest archived file is older than the
      //    PITR RPO, the archive is behind its promise.
      const lastArchived = Number(await localSql(leader, "select coalesce(extract(epoch from last_archived_time), 0)::bigint from pg_stat_archiver"));
      await stopS3(sb.stateDir);
      await localSql(leader, "select pg_switch_wal() from (select pg_logical_emit_message(false, 'pgha', 'monitoring test')) as w");
      faults.push({ alert: "PghaArchiveBehindRpo", onsetMs: Math.max(Date.now(), (lastArchived + sb.spec.objectives.pitrRpoSeconds) * 1000) });
      // 2. The leader's backup, run by cron (every minute here, as its own schedule would), fails
      //    against the stopped endpoint: only its recorded exit status tells anyone.
      await sh(leader, `printf '%s\\n' '* * * * * postgres env PGHA_REPO_PROBE_SECONDS=5 ${command.replace(/'/g, "'\\''")}' > ${testCron}; chmod 0644 ${testCron}; touch /etc/cron.d`);
      // 3. A replica loses power; 4. an etcd member stops.
      await killMember(replica, true);
      faults.push({ alert: "PghaMembersMissing", onsetMs: Date.now() });
      await sh(etcd, "systemctl stop etcd.service");
      faults.push({ alert: "PghaEtcdMemberDown", node: etcd, onsetMs: Date.now() });
      // The cron run: the next minute boundary, then the job's failure is recorded.
      const failedAt = await waitFor("the cron-run backup failed on the leader", async () => {
        const r = await hostExec(leader, ["bash", "-c", `grep -h '^pgha_job_last_exit_status{kind="${kind}"}' ${NODE_PATHS.metricsDir}/*.prom; grep -h '^pgha_job_last_run_timestamp_seconds{kind="${kind}"}' ${NODE_PATHS.metricsDir}/*.prom`]);
        const [status, run] = r.stdout.trim().split("\n").map((l) => Number(l.split(" ").pop()));
        return status === 1 && run * 1000 >= faults[0].onsetMs - 120_000 ? run * 1000 : undefined;
      }, T(3), 2000);
      await sh(leader, `rm -f ${testCron}; touch /etc/cron.d`);
      faults.push({ alert: "PghaNodeJobFailed", node: leader, onsetMs: failedAt });

      // Each fault's alert, delivered.
      const delays: Record<string, number> = {};
      for (const f of faults) {
        const bound = forOf(f.alert) + 2 * interval() + GROUP_WAIT_SECONDS + DELIVERY_MARGIN_SECONDS;
        const m = await waitFor(`${f.alert} delivered`, async () => (await poll()).find((x) => x.status === "FIRING" && x.alertname === f.alert && (!f.node || x.message.includes(f.node) || x.subject?.includes(f.node))), Math.max(0, f.onsetMs - Date.now()) + bound * 1000 + 60_000, 2000).catch(async (e: Error) => {
          throw new Error(`${e.message}; ${await alertState(f.alert)}`);
        });
        const delay = (Date.parse(m.timestamp) - f.onsetMs) / 1000;
        delays[f.alert] = Math.round(delay * 10) / 10;
        expect([f.alert, delay <= bound]).toEqual([f.alert, true]);
      }
      process.stderr.write(`[monitoring] fault → alert delivered (s): ${JSON.stringify(delays)}\n`);
      // The page, rendered by headless Chromium while the faults last: every member (the one
      // powered off as not answering) and the alerts firing.
      const png = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "pgha-page-")), "page.png");
      const page = await renderPage(sb, { screenshot: png });
      const rows = [...page.dom.matchAll(/<tr class="member"><td>(\w+)<\/td>/g)].map((m) => m[1]);
      expect(rows.sort()).toEqual(postgresMembers(sb).sort());
      expect(page.dom).toMatch(new RegExp(`<td>${replica}</td>\\s*<td colspan="4" class="bad">not answering</td>`));
      const shown = [...page.dom.matchAll(/<tr class="alert"><td class="\w+">(\w+)<\/td>/g)].map((m) => m[1]);
      expect(shown).toEqual(expect.arrayContaining(["PghaArchiveBehindRpo", "PghaMembersMissing", "PghaEtcdMemberDown"]));
      expect(fs.statSync(png).size).toBeGreaterThan(10_000);
      fs.rmSync(path.dirname(png), { recursive: true, force: true });
      // A delivered message says what to do first and which promise broke.
      const archivePage = inbox.find((x) => x.alertname === "PghaArchiveBehindRpo")!;
      expect(archivePage.subject).toContain("page");
      expect(archivePage.message).toMatch(/first step: .+\npromise: PITR RPO/);
      completed = true;
    } finally {
      await sh(leader, `rm -f ${testCron}; touch /etc/cron.d`).catch(() => undefined);
      await startS3(sb.stateDir, sb.spec.backup.bucketName);
      await sh(etcd, "systemctl start etcd.service").catch(() => undefined);
      await startMember(replica).catch(() => undefined);
      // A failure above still leaves the cluster repaired for the next tests: the failed job's
      // alert stays until the job succeeds (CI on 30caa8f: three later tests waited on it).
      if (!completed) {
        await waitStreaming(sb, replica, T(4)).catch(() => undefined);
        await rerunBackup().catch(() => undefined);
      }
    }
    // The repairs: S3 back (WAL archived), the backup run again and succeeding, the replica
    // streaming, etcd up. Each alert resolves.
    await waitStreaming(sb, replica, T(4));
    await rerunBackup();
    for (const f of faults) {
      await waitFor(`${f.alert} resolved`, async () => (await poll()).find((x) => x.status === "RESOLVED" && x.alertname === f.alert), T(5), 2000);
    }
    await quiet(T(5));
  }, T(30));
});

describe("the leader gone, a certificate left to expire", () => {
  it("Patroni stopped on every member: PghaLeaderMissing delivered within its bound, the emptied rw backend firing but inhibited by it (one page for one cause); resolved after Patroni starts", async () => {
    await quiet(T(5));
    await forgetNotifications();
    const { inbox, poll } = await freshInbox();
    const members = postgresMembers(sb);
    let onsetMs = 0;
    try {
      // A graceful stop on the leader removes its key; every member down leaves no leader and
      // HAProxy's rw backend without a server.
      await Promise.all(members.map((m) => sh(m, "systemctl stop patroni.service", T(2))));
      onsetMs = Date.now();
      const bound = forOf("PghaLeaderMissing") + 2 * interval() + GROUP_WAIT_SECONDS + DELIVERY_MARGIN_SECONDS;
      const m = await waitFor("PghaLeaderMissing delivered", async () => (await poll()).find((x) => x.status === "FIRING" && x.alertname === "PghaLeaderMissing"), bound * 1000 + 60_000, 2000);
      const delay = (Date.parse(m.timestamp) - onsetMs) / 1000;
      process.stderr.write(`[monitoring] Patroni stopped everywhere → PghaLeaderMissing delivered after ${delay.toFixed(1)} s (bound ${bound} s)\n`);
      expect(delay).toBeLessThanOrEqual(bound);
      // The rw backend is empty on every HAProxy node: the alert fires in Prometheus and
      // Alertmanager holds it suppressed, inhibited by the leader's.
      const lbs = nodesOf(sb.spec, "haproxy").map((n) => n.name).sort();
      const rwBound = forOf("PghaReadWriteEndpointEmpty") + 2 * interval();
      const held = await waitFor("PghaReadWriteEndpointEmpty held by Alertmanager on every HAProxy node", async () => {
        const a = (await firingAlerts(sb)).filter((x) => x.name === "PghaReadWriteEndpointEmpty");
        return a.length === lbs.length ? a : undefined;
      }, Math.max(0, onsetMs + rwBound * 1000 - Date.now()) + 30_000, 2000);
      expect(held.map((a) => [a.node, a.state]).sort()).toEqual(lbs.map((n) => [n, "suppressed"]));
      await new Promise((r) => setTimeout(r, (GROUP_WAIT_SECONDS + DELIVERY_MARGIN_SECONDS) * 1000));
      expect((await poll()).filter((x) => x.alertname === "PghaReadWriteEndpointEmpty")).toEqual([]);
    } finally {
      await Promise.all(members.map((m) => sh(m, "systemctl start patroni.service", T(2)).catch(() => undefined)));
    }
    await waitHealthy(sb);
    await waitFor("PghaLeaderMissing resolved", async () => (await poll()).find((x) => x.status === "RESOLVED" && x.alertname === "PghaLeaderMissing"), T(4), 2000);
    await quiet(T(5));
    expect(inbox.filter((x) => x.alertname === "PghaReadWriteEndpointEmpty")).toEqual([]);
  }, T(15));

  it("every standby cut off from the leader (prod: quorum, ANY 1 of 2): PghaSynchronousStandbyMissing delivered within its bound while every member still runs; resolved once they stream again", async () => {
    expect(sb.spec.postgres.syncMode).not.toBe("off");
    await quiet(T(5));
    await forgetNotifications();
    const { inbox, poll } = await freshInbox();
    const leader = (await sb.client.leader())!;
    const replicas = postgresMembers(sb).filter((m) => m !== leader);
    // One replica lost leaves the other as the quorum's standby: nothing to say. Both lost from
    // the leader (Patroni on each still runs and reaches etcd) leaves commits unprotected.
    let onsetMs = 0;
    try {
      await partitionMembers(sb, replicas, [leader]);
      // The condition holds once the leader stops counting them as streaming: its walsenders
      // notice a silent peer only after wal_sender_timeout (a run measured 147 s from the cut
      // to delivery against a bound counted from the cut).
      onsetMs = await waitFor("the leader counting no synchronous standby", async () => {
        const n = Number(await localSql(leader, "select count(*) from pg_stat_replication where state = 'streaming' and sync_state in ('sync', 'quorum')"));
        return n === 0 ? Date.now() : undefined;
      }, T(3), 1000);
      const bound = forOf("PghaSynchronousStandbyMissing") + 2 * interval() + GROUP_WAIT_SECONDS + DELIVERY_MARGIN_SECONDS;
      const m = await waitFor("PghaSynchronousStandbyMissing delivered", async () => (await poll()).find((x) => x.status === "FIRING" && x.alertname === "PghaSynchronousStandbyMissing"), bound * 1000 + 60_000, 2000);
      const delay = (Date.parse(m.timestamp) - onsetMs) / 1000;
      process.stderr.write(`[monitoring] both standbys cut off from ${leader} → PghaSynchronousStandbyMissing delivered after ${delay.toFixed(1)} s from the leader counting none (bound ${bound} s)\n`);
      expect(delay).toBeLessThanOrEqual(bound);
      expect(m.subject).toContain("page");
      // The members all run: neither the member count nor the leader alert is what pages.
      expect(inbox.filter((x) => x.status === "FIRING").map((x) => x.alertname)).not.toEqual(expect.arrayContaining(["PghaMembersMissing"]));
      expect(inbox.filter((x) => x.status === "FIRING").map((x) => x.alertname)).not.toEqual(expect.arrayContaining(["PghaLeaderMissing"]));
    } finally {
      await healNetwork();
    }
    for (const r of replicas) await waitStreaming(sb, r, T(3));
    await waitFor("PghaSynchronousStandbyMissing resolved", async () => (await poll()).find((x) => x.status === "RESOLVED" && x.alertname === "PghaSynchronousStandbyMissing"), T(3), 2000);
    await quiet(T(5));
  }, T(12));

  it("a node certificate issued inside tls.renewBeforeDays: PghaCertificateExpiring delivered naming the node; a rotation to the full validity resolves it", async () => {
    await quiet(T(5));
    await forgetNotifications();
    const { poll } = await freshInbox();
    const node = nodesOf(sb.spec, "haproxy").map((n) => n.name).pop()!;
    const days = sb.spec.tls.renewBeforeDays - 1;
    try {
      const [short] = await rotateCertificates(sb, [node], undefined, days);
      const onsetMs = Date.now();
      expect(Date.parse(short.notAfter) - onsetMs).toBeLessThan(sb.spec.tls.renewBeforeDays * 86400_000);
      const bound = forOf("PghaCertificateExpiring") + 2 * interval() + GROUP_WAIT_SECONDS + DELIVERY_MARGIN_SECONDS;
      const m = await waitFor("PghaCertificateExpiring delivered", async () => (await poll()).find((x) => x.status === "FIRING" && x.alertname === "PghaCertificateExpiring"), bound * 1000 + 60_000, 2000);
      const delay = (Date.parse(m.timestamp) - onsetMs) / 1000;
      process.stderr.write(`[monitoring] certificate valid ${days} days on ${node} → PghaCertificateExpiring delivered after ${delay.toFixed(1)} s (bound ${bound} s)\n`);
      expect(delay).toBeLessThanOrEqual(bound);
      expect(`${m.subject}\n${m.message}`).toContain(node);
      // Only the node whose certificate is short-lived: the others' are outside the window.
      const firing = (await firingAlerts(sb)).filter((a) => a.name === "PghaCertificateExpiring").map((a) => a.node);
      expect(firing).toEqual([node]);
    } finally {
      await rotateCertificates(sb, [node]);
    }
    await waitFor("PghaCertificateExpiring resolved", async () => (await poll()).find((x) => x.status === "RESOLVED" && x.alertname === "PghaCertificateExpiring"), T(3), 2000);
    await quiet(T(3));
  }, T(10));
});
