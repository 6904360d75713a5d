// The derived cluster (ClusterSpec) checked as a whole: what the tier, the instance size and the
// user's overrides produced together, not only what was typed. Each problem names the config key
// that fixes it. The config gate (load/) runs this after the input checks; components run it
// again on the spec they are given, before any child resource.
import { KEY_DOCS } from "./keys";
import { parameterProblems, pgSeconds } from "./parameters";
import { problem, type ConfigProblem } from "./problems";
import { nodesOf, type ClusterSpec } from "../spec";

const allowedOf = (key: string) => KEY_DOCS[key]?.allowed ?? "see the config reference (README.md, 'Config reference')";

export function validateSpec(spec: ClusterSpec): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const postgres = nodesOf(spec, "postgres").length;
  const etcd = nodesOf(spec, "etcd").length;
  const haproxy = nodesOf(spec, "haproxy").length;

  if (postgres < 1) out.push(problem(["postgres", "nodes"], postgres, "the cluster needs at least one PostgreSQL member", allowedOf("postgres.nodes")));
  if (etcd < 1 || etcd % 2 === 0)
    out.push(problem(["etcd", "nodes"], etcd, "etcd needs an odd member count: an even one tolerates no more failures than one member fewer", allowedOf("etcd.nodes")));
  if (haproxy < 1) out.push(problem(["haproxy", "nodes"], haproxy, "clients reach the cluster only through HAProxy", allowedOf("haproxy.nodes")));

  for (const p of parameterProblems(spec.postgres.parameters, postgres)) out.push(problem(p.path, p.value, p.reason, p.allowed));

  // The pooler's server connections share max_connections with Patroni, the replicas, the
  // backups and the superuser's reserved slots: one pool alone must leave room for them.
  if (spec.pooler.enabled && spec.pooler.poolSize > spec.postgres.maxConnections - 10)
    out.push(problem(["pooler", "poolSize"], spec.pooler.poolSize, `one pool alone would take ${spec.pooler.poolSize} of max_connections = ${spec.postgres.maxConnections}, leaving less than 10 for Patroni, replication, backups and the superuser`, `an integer 1–${Math.max(1, spec.postgres.maxConnections - 10)}, or a higher postgres.parameters.max_connections`));

  // archive_timeout is what bounds the PITR RPO: check the value the cluster will run with.
  const seconds = spec.backup.archiveTimeoutSeconds;
  const derived = spec.postgres.parameters.archive_timeout;
  const running = derived === undefined ? 0 : pgSeconds(derived);
  const key = ["backup", "archiveTimeoutSeconds"];
  const says = `archive_timeout = ${JSON.stringify(derived ?? "0 (left out)")}`;
  if (spec.postgres.parameters.archive_mode !== "on")
    out.push(problem(["postgres", "parameters", "archive_mode"], spec.postgres.parameters.archive_mode, "continuous archiving must be on: point-in-time recovery rests on it", "on (managed: leave it out of postgres.parameters)"));
  if (running === undefined || running <= 0)
    out.push(problem(key, seconds, `the cluster would run with ${says}: an idle cluster could keep committed data out of the archive indefinitely`, allowedOf("backup.archiveTimeoutSeconds")));
  else {
    if (running > spec.objectives.pitrRpoSeconds)
      out.push(problem(key, seconds, `the cluster would run with ${says}, more than the stated objectives.pitrRpoSeconds = ${spec.objectives.pitrRpoSeconds}: a restore could lose more than promised`, allowedOf("backup.archiveTimeoutSeconds")));
    if (spec.tier === "prod" && running > 60)
      out.push(problem(key, seconds, `the cluster would run with ${says}: prod keeps at most 60 s of committed WAL out of the archive`, allowedOf("backup.archiveTimeoutSeconds")));
  }
  return out;
}
