// Promises (stack policies): what the environment states — backup retention, RPO on failover,
// the PITR RPO, the RTO budget — against what the program actually delivers to the nodes (their
// bundles): the Patroni dynamic configuration each member gets (dynamic.json, which pgha-node
// puts into the DCS, and patroni.yml's bootstrap.dcs), each member's pgbackrest.conf and each
// HAProxy node's check timing. Where the promise comes from:
// rules/intent.ts.
import type { StackValidationPolicy } from "@pulumi/policy";
import { NODE_PATHS } from "../../src/node-paths";
import { PATRONI_DEFAULTS } from "../../src/config/defaults";
import { Findings, configOf, type StackArgs, type Tier } from "./common";
import { clusterFacts, haproxyTiming, nodesWithRole, parseIni, postgresSeconds, type ClusterFacts } from "./cluster";
import { objective } from "./intent";

/** The environment minimum of full-backup retention (days) when policy config sets none. */
export const MINIMUM_RETENTION_DAYS: Record<Tier, number> = { dev: 3, staging: 7, prod: 7 };

function requirePostgres(args: StackArgs): ClusterFacts {
  const facts = clusterFacts(args.resources);
  if (!nodesWithRole(facts, "postgres").length) args.notApplicable("no PostgreSQL node in the stack");
  return facts;
}

/** Every dynamic configuration found; a PostgreSQL stack without any cannot keep its promises. */
function dynamicConfigs(facts: ClusterFacts, args: StackArgs, report: (m: string, urn?: string) => void) {
  for (const p of facts.readProblems) report(p.message, p.resource.urn);
  if (!facts.dynamicConfigs.length) {
    report(`no Patroni dynamic configuration found (neither ${NODE_PATHS.dynamicFile} nor ${NODE_PATHS.patroniConfig} bootstrap.dcs in any member's files): nothing can be verified.`, nodesWithRole(facts, "postgres")[0]?.resource.urn ?? args.resources[0]?.urn);
  }
  return facts.dynamicConfigs;
}

interface RetentionConfig {
  minimumDays?: number;
}

export const backupRetentionMinimum: StackValidationPolicy = {
  name: "backup-retention-minimum",
  description: "Full backups are kept at least the environment's minimum (days, time-based retention).",
  severity: "high",
  tags: ["backup", "promise"],
  configSchema: { properties: { minimumDays: { type: "integer", minimum: 1, description: "minimum full-backup retention in days (default dev 3, staging 7, prod 7)" } } },
  remediationSteps: "Raise `backup.fullRetentionDays` in the stack config (pgBackRest's repo1-retention-full, type time).",
  validateStack: (args, report) => {
    const facts = requirePostgres(args);
    const minimum = configOf<RetentionConfig>(args, {}).minimumDays ?? MINIMUM_RETENTION_DAYS[facts.tier];
    for (const n of nodesWithRole(facts, "postgres")) {
      const conf = n.files.get(NODE_PATHS.pgbackrestConf);
      if (!conf) {
        report(`${n.name} gets no ${NODE_PATHS.pgbackrestConf}: it takes no backups and archives no WAL.`, n.resource.urn);
        continue;
      }
      const g = parseIni(conf.content).global ?? {};
      const type = g["repo1-retention-full-type"] ?? "count";
      const value = Number(g["repo1-retention-full"]);
      if (type !== "time") report(`${n.name}: pgBackRest keeps full backups by ${type}, not by time; the window in days cannot be verified (set repo1-retention-full-type=time).`, n.resource.urn);
      else if (!Number.isFinite(value)) report(`${n.name}: no repo1-retention-full: pgBackRest would keep every backup forever — or the operator expires them by hand.`, n.resource.urn);
      else if (value < minimum) report(`${n.name}: full backups are kept ${value} day${value === 1 ? "" : "s"}; tier ${facts.tier} requires at least ${minimum}.`, n.resource.urn);
    }
  },
};

interface FailoverRpoConfig {
  failoverRpoSeconds?: number;
}

export const synchronousReplicationProd: StackValidationPolicy = {
  name: "synchronous-replication",
  description: "Prod (and any stack promising RPO 0 on failover) commits synchronously to at least one standby.",
  severity: "critical",
  tags: ["replication", "promise"],
  configSchema: { properties: { failoverRpoSeconds: { type: "integer", minimum: 0, description: "the promised RPO on failover (0 requires synchronous replication)" } } },
  remediationSteps: 'Set `postgres.syncMode` to "quorum" (or "on"/"strict") with `postgres.syncNodeCount` ≥ 1 and at least 2 PostgreSQL nodes.',
  validateStack: (args, report) => {
    const facts = requirePostgres(args);
    const rpo = objective(facts.tier, "failoverRpoSeconds", configOf<FailoverRpoConfig>(args, {}).failoverRpoSeconds);
    if (facts.tier !== "prod" && rpo.value !== 0) args.notApplicable(`tier ${facts.tier} promises an RPO of ${rpo.value} s on failover`);
    const why = facts.tier === "prod" ? "prod" : `the promised failover RPO of 0 s (${rpo.source})`;
    const members = nodesWithRole(facts, "postgres");
    if (members.length < 2) report(`${members.length} PostgreSQL member: synchronous replication needs a standby (${why}).`, members[0]?.resource.urn);
    const findings = new Findings();
    for (const d of dynamicConfigs(facts, args, report)) {
      const add = (message: string) => findings.add(d.resource.urn, `${d.owner}: `, message, d.place);
      const mode = d.config.synchronous_mode;
      const sync = mode === true || mode === "quorum" || mode === "on" || mode === "true";
      if (!sync) add(`synchronous_mode is ${JSON.stringify(mode ?? null)}; ${why} needs synchronous commit (an acknowledged commit must survive losing the leader)`);
      const count = d.config.synchronous_node_count ?? 1;
      if (sync && !(Number(count) >= 1)) add(`synchronous_node_count is ${JSON.stringify(count)}`);
      const commit = d.config.postgresql?.parameters?.synchronous_commit;
      if (sync && (commit === "off" || commit === "local")) add(`synchronous_commit = ${commit} acknowledges commits before any standby has them`);
    }
    findings.report(report);
  },
};

interface PitrConfig {
  pitrRpoSeconds?: number;
}

export const pitrRpoArchiveTimeout: StackValidationPolicy = {
  name: "pitr-rpo-archive-timeout",
  description: "WAL archiving is on and archive_timeout is at most the promised PITR RPO.",
  severity: "high",
  tags: ["backup", "promise"],
  configSchema: { properties: { pitrRpoSeconds: { type: "integer", minimum: 1, description: "the promised PITR RPO in seconds (default: the stack's objectives.pitrRpoSeconds)" } } },
  remediationSteps: "Lower `backup.archiveTimeoutSeconds` to at most `objectives.pitrRpoSeconds` (archive_mode stays on; archive_command is pgBackRest's archive-push).",
  validateStack: (args, report) => {
    const facts = requirePostgres(args);
    const rpo = objective(facts.tier, "pitrRpoSeconds", configOf<PitrConfig>(args, {}).pitrRpoSeconds);
    const findings = new Findings();
    for (const d of dynamicConfigs(facts, args, report)) {
      const add = (message: string) => findings.add(d.resource.urn, `${d.owner}: `, message, d.place);
      const params = d.config.postgresql?.parameters ?? {};
      const mode = String(params.archive_mode ?? "off");
      if (mode !== "on" && mode !== "always") add(`archive_mode is ${mode}: no WAL reaches the archive, so no point-in-time recovery`);
      if (!params.archive_command) add("no archive_command");
      const timeout = postgresSeconds(params.archive_timeout ?? "0");
      if (timeout === undefined) add(`archive_timeout ${JSON.stringify(params.archive_timeout)} is not a time PostgreSQL accepts`);
      else if (timeout <= 0) add(`archive_timeout is off: an idle cluster keeps committed WAL out of the archive indefinitely (promised PITR RPO ${rpo.value} s, ${rpo.source})`);
      else if (timeout > rpo.value) add(`archive_timeout ${timeout} s exceeds the promised PITR RPO of ${rpo.value} s (${rpo.source})`);
    }
    findings.report(report);
  },
};

interface RtoConfig {
  rtoSeconds?: number;
}

export const failoverWithinRto: StackValidationPolicy = {
  name: "failover-within-rto",
  description: "Patroni's ttl + loop_wait plus HAProxy's detection (inter × fall) fit the promised RTO.",
  severity: "high",
  tags: ["replication", "promise"],
  configSchema: { properties: { rtoSeconds: { type: "integer", minimum: 1, description: "the promised RTO in seconds (default: the stack's objectives.rtoSeconds)" } } },
  remediationSteps: "Lower `patroni.ttl`/`patroni.loopWait` (ttl ≥ loopWait + 2·retryTimeout, + 4 with failsafeMode) or `haproxy.checkIntervalMs`/`haproxy.fall`, or state a realistic `objectives.rtoSeconds`.",
  validateStack: (args, report) => {
    const facts = requirePostgres(args);
    const rto = objective(facts.tier, "rtoSeconds", configOf<RtoConfig>(args, {}).rtoSeconds);
    // HAProxy keeps routing to a dead leader until `fall` checks `inter` apart have failed.
    let detection = { seconds: 0, where: "no HAProxy node" };
    for (const n of nodesWithRole(facts, "haproxy")) {
      const cfg = n.files.get(NODE_PATHS.haproxyConfig);
      if (!cfg) {
        report(`${n.name} gets no ${NODE_PATHS.haproxyConfig}: its check timing cannot be verified.`, n.resource.urn);
        continue;
      }
      const t = haproxyTiming(cfg.content);
      if (t.detectionMs / 1000 > detection.seconds) detection = { seconds: t.detectionMs / 1000, where: `${n.name}: inter ${t.interMs} ms × fall ${t.fall}` };
    }
    const findings = new Findings();
    for (const d of dynamicConfigs(facts, args, report)) {
      const ttl = Number(d.config.ttl ?? PATRONI_DEFAULTS.ttl);
      const loopWait = Number(d.config.loop_wait ?? PATRONI_DEFAULTS.loopWait);
      const total = ttl + loopWait + detection.seconds;
      if (total > rto.value) {
        findings.add(d.resource.urn, `${d.owner}: `, `ttl ${ttl} s + loop_wait ${loopWait} s + HAProxy detection ${detection.seconds} s (${detection.where}) = ${total} s exceeds the promised RTO of ${rto.value} s (${rto.source})`, d.place);
      }
    }
    findings.report(report);
  },
};
