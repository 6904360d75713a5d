// Rules between keys (a CIDR's prefix, iops per GiB, Patroni timing, sync count vs members, …).
//
// They run on whatever passed the schema: `view` is the tier defaults merged with the user's
// valid values, with every value the schema refused taken out (and lists with a refused element
// kept as written), so one run reports schema and cross-field problems together. Every rule
// therefore checks that the values it needs are there, and `failed(path)` tells a value the
// schema refused from one that was never set.
import { restoreTargetProblem } from "./restore-target";
import { CIDR_RE, cidrIsNetworkAddress, type MemberTags, type Tier } from "./schema";
import { FAILSAFE_CHECK_SECONDS, INSTANCE_MEMORY_MIB, type StackConfig } from "./defaults";
import { keyDoc } from "./keys";
import { MANAGED_PARAMETERS } from "./parameters";
import { problem, type ConfigProblem, type PathSegment } from "./problems";
import { accessProblems } from "./access-rules";
import { defaultBucketName } from "../spec";

/** A config where any value may be missing and lists hold whatever was written. */
export type Loose<T> = T extends readonly unknown[]
  ? unknown[]
  : T extends object
    ? { [K in keyof T]?: Loose<T[K]> }
    : T | undefined;

export type ConfigView = Loose<StackConfig>;

const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isStr = (v: unknown): v is string => typeof v === "string";
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isCidr = (v: unknown): v is string => isStr(v) && CIDR_RE.test(v);

export function crossFieldProblems(c: ConfigView, failed: (path: PathSegment[]) => boolean = () => false, stack?: string): ConfigProblem[] {
  const p: ConfigProblem[] = [];
  const add = (path: PathSegment[], value: unknown, reason: string, allowed?: string, extra?: Parameters<typeof problem>[4]) =>
    p.push(problem(path, value, reason, allowed ?? keyDoc(path)?.allowed ?? "see the config reference (README.md, 'Config reference')", extra));
  const tier: Tier | undefined = c.tier;

  // --- network
  const n = c.network ?? {};
  if (isCidr(n.vpcCidr)) {
    if (!cidrIsNetworkAddress(n.vpcCidr)) add(["network", "vpcCidr"], n.vpcCidr, "has host bits set");
    const vpcBits = Number(n.vpcCidr.split("/")[1]);
    if (vpcBits < 16 || vpcBits > 23) add(["network", "vpcCidr"], n.vpcCidr, "prefix must be /16 to /23: the VPC is cut into 8 subnets of at least /26 (one per AZ)");
  }
  const subnets = Array.isArray(n.subnets) ? n.subnets : undefined;
  if (n.vpcId && !subnets?.length && !failed(["network", "subnets"])) add(["network", "subnets"], n.subnets, "is required when network.vpcId brings an existing VPC");
  if (subnets?.length && !n.vpcId && !failed(["network", "vpcId"])) add(["network", "vpcId"], n.vpcId, "is required when network.subnets are given");
  subnets?.forEach((s, i) => {
    const cidr = isObj(s) ? s.cidr : undefined;
    if (failed(["network", "subnets", i, "cidr"]) || !isCidr(cidr)) return;
    const bits = Number(cidr.split("/")[1]);
    if (bits < 16 || bits > 26) add(["network", "subnets", i, "cidr"], cidr, "prefix must be /16 to /26: node addresses use host offsets 10–49");
    else if (!cidrIsNetworkAddress(cidr)) add(["network", "subnets", i, "cidr"], cidr, "has host bits set");
  });
  const clientCidrs = Array.isArray(n.allowedClientCidrs) ? n.allowedClientCidrs : undefined;
  clientCidrs?.forEach((cidr, i) => {
    if (failed(["network", "allowedClientCidrs", i]) || !isCidr(cidr)) return;
    if (cidr.endsWith("/0")) add(["network", "allowedClientCidrs", i], cidr, "opens the database to the whole internet", keyDoc(["network", "allowedClientCidrs"])!.allowed);
    else if (!cidrIsNetworkAddress(cidr)) add(["network", "allowedClientCidrs", i], cidr, "has host bits set", "a CIDR with zero host bits, e.g. 10.1.0.0/16");
  });
  const clientGroups = Array.isArray(n.allowedClientSecurityGroupIds) ? n.allowedClientSecurityGroupIds : undefined;
  if (clientCidrs?.length === 0 && clientGroups?.length === 0 && !failed(["network", "allowedClientCidrs"]) && !failed(["network", "allowedClientSecurityGroupIds"]))
    add(["network", "allowedClientCidrs"], clientCidrs, "no client could reach the database: give client CIDRs or security groups");

  // --- postgres
  const pg = c.postgres ?? {};
  if (pg.memoryMiB === undefined && !failed(["postgres", "memoryMiB"]) && isStr(pg.instanceType) && !INSTANCE_MEMORY_MIB[pg.instanceType])
    add(["postgres", "memoryMiB"], pg.memoryMiB, `is required for instance type ${pg.instanceType}, whose memory this program does not know`);
  const volume = pg.dataVolume ?? {};
  if (isNum(volume.iops) && isNum(volume.sizeGiB) && volume.iops > volume.sizeGiB * 500)
    add(["postgres", "dataVolume", "iops"], volume.iops, `gp3 allows at most 500 IOPS per GiB (${volume.sizeGiB * 500} for ${volume.sizeGiB} GiB)`);
  if (isNum(volume.throughputMiBps) && isNum(volume.iops) && volume.throughputMiBps > volume.iops / 4)
    add(["postgres", "dataVolume", "throughputMiBps"], volume.throughputMiBps, `gp3 allows at most 0.25 MiB/s per IOPS (${Math.floor(volume.iops / 4)} for ${volume.iops} IOPS)`);

  const members = (isObj(pg.members) ? pg.members : {}) as Record<string, Loose<MemberTags> | undefined>;
  const memberNames = isNum(pg.nodes) ? Array.from({ length: pg.nodes }, (_, i) => `db${i + 1}`) : undefined;
  for (const [name, tags] of Object.entries(members)) {
    if (!tags) continue;
    if (memberNames && !memberNames.includes(name)) {
      add(["postgres", "members", name], tags, `there is no member ${name} with postgres.nodes = ${pg.nodes}`, `member names ${memberNames.join(", ")} (or raise postgres.nodes)`, { fix: "remove" });
      continue;
    }
    if (isStr(tags.replicatefrom)) {
      if (tags.replicatefrom === name) add(["postgres", "members", name, "replicatefrom"], tags.replicatefrom, "a member cannot replicate from itself");
      else if (memberNames && !memberNames.includes(tags.replicatefrom))
        add(["postgres", "members", name, "replicatefrom"], tags.replicatefrom, "names no member of this cluster", `one of ${memberNames.filter((m) => m !== name).join(", ") || "(none: single node)"}`);
    }
  }
  if (memberNames) {
    const source = (m: string) => {
      const r = members[m]?.replicatefrom;
      return isStr(r) && memberNames.includes(r) ? r : undefined;
    };
    // replicatefrom cycles (db2 → db3 → db2) would leave both without a source: report one.
    for (const start of memberNames) {
      const seen = new Set<string>();
      let cur: string | undefined = start;
      let cycle = false;
      while (cur && source(cur)) {
        if (seen.has(cur)) {
          cycle = true;
          break;
        }
        seen.add(cur);
        cur = source(cur);
      }
      if (cycle) {
        add(["postgres", "members", start, "replicatefrom"], members[start]?.replicatefrom, "forms a cycle: some member must stream from the leader", "a chain of replicatefrom that ends at a member streaming from the leader");
        break;
      }
    }
    const nofailoverUnknown = memberNames.some((m) => failed(["postgres", "members", m, "nofailover"]));
    if (!nofailoverUnknown && memberNames.every((m) => members[m]?.nofailover === true))
      add(["postgres", "members"], pg.members, "every member has nofailover: nothing could ever become leader", "at least one member without nofailover");
  }
  if (isStr(pg.syncMode) && pg.syncMode !== "off" && isNum(pg.nodes)) {
    if (pg.nodes < 2)
      add(["postgres", "syncMode"], pg.syncMode, `synchronous replication needs a standby, but postgres.nodes = ${pg.nodes}`, "off with one node; on, strict or quorum with postgres.nodes ≥ 2");
    const eligible = memberNames!.filter((m) => !members[m]?.nosync && !members[m]?.replicatefrom).length - 1;
    if (pg.nodes >= 2 && isNum(pg.syncNodeCount) && pg.syncNodeCount > Math.max(eligible, 0))
      add(["postgres", "syncNodeCount"], pg.syncNodeCount, `only ${Math.max(eligible, 0)} member(s) can be synchronous standbys (nodes − 1, minus nosync and cascading members)`, `an integer 1–${Math.max(eligible, 1)}`);
    // The synchronous read endpoint promises read-your-writes: every standby it routes to must
    // be one the commit waited for. FIRST n lists exactly those; ANY k of m only when k = m.
    if (c.haproxy?.synchronousReadOnly === true && pg.syncMode === "quorum" && isNum(pg.syncNodeCount) && pg.syncNodeCount < eligible)
      add(["haproxy", "synchronousReadOnly"], true, `with postgres.syncMode quorum (ANY ${pg.syncNodeCount} of ${eligible} standbys) a read could reach a standby the commit did not wait for`, `false; or postgres.syncMode on or strict; or postgres.syncNodeCount = ${eligible}`);
    if (pg.syncMode === "quorum" && pg.nodes === 2)
      add(["postgres", "syncMode"], pg.syncMode, "quorum commit with 2 nodes blocks writes whenever the single standby is down; use strict, or 3+ nodes", "quorum with postgres.nodes ≥ 3");
  }
  if (c.haproxy?.synchronousReadOnly === true && pg.syncMode === "off")
    add(["haproxy", "synchronousReadOnly"], true, "needs synchronous replication: with postgres.syncMode off no standby is waited for", "false, or postgres.syncMode on, strict or quorum");
  for (const [name, value] of Object.entries(isObj(pg.parameters) ? pg.parameters : {})) {
    const managed = MANAGED_PARAMETERS[name];
    if (!managed) continue;
    add(
      ["postgres", "parameters", name],
      value,
      `is managed by this program: ${managed.why}`,
      managed.instead
        ? `not in postgres.parameters: set ${managed.instead} instead, ${keyDoc(managed.instead.split("."))?.allowed ?? "see the config reference"}`
        : "any PostgreSQL parameter except the managed ones (README, 'Managed parameters')",
      { fix: "remove", instead: managed.instead },
    );
  }

  accessProblems(pg as Record<string, unknown>, add, failed);

  // --- patroni timing. Patroni 4 enforces loop_wait + 2·retry_timeout ≤ ttl (the minimums are in
  // the schema). With failsafe mode a leader that lost etcd first asks every member (POST
  // /failsafe, FAILSAFE_CHECK_SECONDS) before it demotes: that time comes out of the same lease,
  // or an isolated leader is still writable when a replica takes the expired lock (docs/facts.md).
  const t = c.patroni ?? {};
  if (isNum(t.ttl) && isNum(t.loopWait) && isNum(t.retryTimeout)) {
    const failsafe = t.failsafeMode === true ? FAILSAFE_CHECK_SECONDS : 0;
    const needed = t.loopWait + 2 * t.retryTimeout + failsafe;
    if (needed > t.ttl) {
      const terms = failsafe
        ? `loopWait + 2·retryTimeout + ${failsafe} s of failsafe check = ${t.loopWait} + 2·${t.retryTimeout} + ${failsafe} = ${needed}`
        : `loopWait + 2·retryTimeout = ${t.loopWait} + 2·${t.retryTimeout} = ${needed}`;
      add(["patroni", "ttl"], t.ttl, `must be ≥ ${terms}, or an isolated leader could still be writable when its lock expires and a replica takes it`);
    }
  }

  // --- etcd
  const etcdNodes = c.etcd?.nodes;
  if (isNum(etcdNodes)) {
    if (etcdNodes % 2 === 0) add(["etcd", "nodes"], etcdNodes, "is even: an even member count tolerates no more failures than one member fewer, and can split evenly");
    else if (etcdNodes === 1 && tier && tier !== "dev") add(["etcd", "nodes"], etcdNodes, `a single etcd member is a single point of failure; tier ${tier} needs 3 or more`);
  }

  // --- backups and objectives
  const b = c.backup ?? {};
  const o = c.objectives ?? {};
  if (isNum(b.archiveTimeoutSeconds)) {
    if (tier === "prod" && b.archiveTimeoutSeconds > 60) add(["backup", "archiveTimeoutSeconds"], b.archiveTimeoutSeconds, "prod keeps at most 60 s of committed WAL out of the archive");
    if (isNum(o.pitrRpoSeconds) && b.archiveTimeoutSeconds > o.pitrRpoSeconds)
      add(["backup", "archiveTimeoutSeconds"], b.archiveTimeoutSeconds, `exceeds the stated objectives.pitrRpoSeconds = ${o.pitrRpoSeconds}: a restore could lose more than promised`);
  }
  if (o.failoverRpoSeconds === 0 && pg.syncMode === "off")
    add(["objectives", "failoverRpoSeconds"], 0, "RPO 0 on failover needs synchronous replication (postgres.syncMode on, strict or quorum)", "an integer ≥ 1 with syncMode off; 0 only with synchronous replication");
  if (isNum(b.logicalInfrequentAccessAfterDays) && isNum(b.logicalRetentionWeeks)) {
    const logicalDays = b.logicalRetentionWeeks * 7;
    if (b.logicalInfrequentAccessAfterDays >= logicalDays)
      add(["backup", "logicalInfrequentAccessAfterDays"], b.logicalInfrequentAccessAfterDays, `must be less than the logical dumps' lifetime (backup.logicalRetentionWeeks·7 = ${logicalDays} days): S3 rejects a transition at or after the expiration`, `an integer 30–${logicalDays - 1}, or null`);
  }
  const second = b.secondRepository;
  if (second && typeof second === "object") {
    if (typeof second.region === "string" && second.region === c.region)
      add(["backup", "secondRepository", "region"], second.region, `is the stack's own region (aws:region): a second repository protects the backups only from another region`, "an AWS region other than " + c.region);
    if (typeof second.bucketName === "string" && second.bucketName === b.bucketName)
      add(["backup", "secondRepository", "bucketName"], second.bucketName, "is backup.bucketName: the second repository needs its own bucket in its own region");
  }
  // --- a second region: standby cluster / its primary
  const standby = c.standby;
  const followers = isObj(c.standbyClusters) ? Object.keys(c.standbyClusters) : [];
  if (isObj(standby)) {
    const primary = isStr(standby.primaryStack) ? standby.primaryStack : "the primary";
    for (const key of ["host", "cidrs", "repositoryBucket"] as const) {
      if (standby[key] === undefined && !failed(["standby", key]) && !failed(["standby", "primaryStack"]))
        add(["standby", key], undefined, `is required, and could not be derived from stack ${primary}: its stack file Pulumi.${primary}.yaml is not in this project, is invalid${key === "repositoryBucket" ? `, or gives no repository copy in ${c.region ?? "this stack's region"} (its backup.secondRepository)` : ""} — set it here for a cluster not managed in this project`);
    }
    if (followers.length)
      add(["standbyClusters"], followers, "is declared on a standby cluster (standby is set): a standby cluster follows one primary and is not followed itself (no cascading); promote it first", "{} while standby is set");
    if (isStr(standby.repositoryBucket) && standby.repositoryBucket === b.bucketName)
      add(["standby", "repositoryBucket"], standby.repositoryBucket, "is backup.bucketName: the primary's repository copy is only read, and this cluster writes its own backups to backup.bucketName once promoted");
    const pgDecl = c.postgres ?? {};
    for (const key of ["databases", "roles"] as const) {
      const declared = isObj(pgDecl[key]) ? Object.keys(pgDecl[key] as object) : [];
      if (declared.length)
        add(["postgres", key], declared, `is declared on a standby cluster: its databases and roles are the primary's, replicated (declare them on the primary stack ${isStr(standby.primaryStack) ? standby.primaryStack : ""})`.replace(" )", ")"), "{} while standby is set");
    }
  }
  // --- restore into a new stack: another cluster's repository at a target
  const rf = c.restoreFrom;
  if (isObj(rf)) {
    if (isObj(standby))
      add(["restoreFrom"], rf, "cannot be combined with standby: a standby cluster is a copy of its primary, kept in step; a restored cluster starts its own timeline", "not set while standby is set (remove one of the two)");
    if (isStr(rf.stack) && rf.stack === stack)
      add(["restoreFrom", "stack"], rf.stack, "is this stack: a cluster restores from another cluster's repository (an in-place restore is `npx pgha sandbox restore --in-place` / pgha-restore on a node)", "another stack of this project");
    // This stack's own bucket, named or by default (defaultBucketName: pgha-<stack>-<cluster>-<region>).
    const ownBucket = isStr(b.bucketName) ? b.bucketName : stack && isStr(c.clusterName) && isStr(c.region) ? defaultBucketName(stack, c.clusterName, c.region) : undefined;
    if (isStr(rf.bucket) && rf.bucket === ownBucket)
      add(["restoreFrom", "bucket"], rf.bucket, "is this stack's own bucket (backup.bucketName): the source repository is only read, and this cluster archives into its own bucket", "the source's bucket, other than backup.bucketName");
    const target = isObj(rf.target) ? rf.target : undefined;
    if (target && isStr(target.type) && !failed(["restoreFrom", "target"])) {
      const problem = restoreTargetProblem(target.type, target.value);
      if (problem) add(["restoreFrom", "target", "value"], target.value ?? null, problem.why, problem.allowed);
    }
  }
  const tls = c.tls ?? {};
  if (isNum(tls.renewBeforeDays) && isNum(tls.certValidityDays) && tls.renewBeforeDays >= tls.certValidityDays)
    add(["tls", "renewBeforeDays"], tls.renewBeforeDays, `must be less than tls.certValidityDays (${tls.certValidityDays}), or certificates would be renewed forever`);
  return p;
}
