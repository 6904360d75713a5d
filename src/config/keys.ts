// One line of documentation per config key: what it means and what is allowed.
// Error messages quote `allowed`; the config reference in README.md and the comment block in
// Pulumi.yaml are generated from this table (`npx pgha config-reference`), and a test keeps the
// table, the zod schema and those documents in step.

export interface KeyDoc {
  /** What the key does, for people. */
  description: string;
  /** What values are allowed, quoted in error messages. */
  allowed: string;
}

export const KEY_DOCS: Record<string, KeyDoc> = {
  tier: { description: "Availability tier whose defaults the stack starts from: dev is a single node, staging a primary with two asynchronous standbys, prod three nodes with quorum commit over three AZs.", allowed: "one of dev, staging, prod" },
  clusterName: { description: "Patroni scope and the prefix of every resource name.", allowed: "2–21 characters: lower-case letters, digits and '-', starting with a letter" },
  "network.vpcCidr": { description: "CIDR of the VPC the stack creates (ignored with network.vpcId).", allowed: "an IPv4 CIDR with /16–/23 prefix and zero host bits, e.g. 10.20.0.0/16" },
  "network.availabilityZones": { description: "How many AZs the created VPC spans; nodes are spread round-robin over them.", allowed: "an integer 1–6" },
  "network.vpcId": { description: "Bring your own VPC instead of creating one (needs network.subnets).", allowed: "a VPC id like vpc-0123456789abcdef0" },
  "network.subnets": { description: "Private subnets of network.vpcId the nodes go into, one per AZ.", allowed: "a list of {id: subnet-…, cidr: 10.x.y.0/24, availabilityZone: eu-west-1a}" },
  "network.subnets.*.id": { description: "Subnet id.", allowed: "a subnet id like subnet-0123456789abcdef0" },
  "network.subnets.*.cidr": { description: "The subnet's IPv4 CIDR (node addresses are derived from it).", allowed: "an IPv4 CIDR, /16–/26; hosts .10–.50 must be free" },
  "network.subnets.*.availabilityZone": { description: "The subnet's availability zone.", allowed: "an AZ name like eu-west-1a" },
  "network.allowedClientCidrs": { description: "Networks that may connect to the rw/ro endpoints (5000/5001) and the HAProxy stats page; PostgreSQL itself is reachable only through HAProxy.", allowed: "a list of IPv4 CIDRs; 0.0.0.0/0 is refused" },
  "network.allowedClientSecurityGroupIds": { description: "Security groups whose members may connect to the endpoints.", allowed: "a list of security group ids like sg-0123456789abcdef0" },
  "network.domain": { description: "Private DNS zone for node and service names (rw.<cluster>.<domain>).", allowed: "a DNS name like pgha.internal" },
  "postgres.nodes": { description: "PostgreSQL/Patroni members (db1…dbN).", allowed: "an integer 1–9" },
  "postgres.instanceType": { description: "EC2 instance type of the PostgreSQL nodes; memory settings are sized from it.", allowed: "an EC2 instance type like r7g.large (others than the known ones need postgres.memoryMiB)" },
  "postgres.memoryMiB": { description: "Memory to size shared_buffers etc. from, for instance types the program does not know.", allowed: "an integer 512–4194304" },
  "postgres.dataVolume.sizeGiB": { description: "Size of each node's separate encrypted gp3 data volume.", allowed: "an integer 10–16384" },
  "postgres.dataVolume.iops": { description: "Provisioned IOPS of the data volume.", allowed: "an integer 3000–80000, at most 500 per GiB" },
  "postgres.dataVolume.throughputMiBps": { description: "Provisioned throughput of the data volume.", allowed: "an integer 125–2000, at most iops/4" },
  "postgres.parameters": { description: "PostgreSQL parameter overrides (null removes a default); applied live through Patroni.", allowed: "a map of parameter name → string, number or boolean; not the ones Patroni or this program manage (archive_timeout: use backup.archiveTimeoutSeconds); max_wal_senders ≥ max(3, postgres.nodes + 1) and max_replication_slots ≥ max(4, postgres.nodes)" },
  "postgres.parameters.*": { description: "One PostgreSQL parameter.", allowed: "a string, number, boolean or null" },
  "postgres.syncMode": { description: "Replication mode: off (async), on / strict (FIRST n), quorum (ANY n).", allowed: "one of off, on, strict, quorum" },
  "postgres.syncNodeCount": { description: "n in FIRST n (…) / ANY n (…): standbys that must confirm each commit.", allowed: "an integer 1–8, at most postgres.nodes − 1" },
  "postgres.members": { description: "Per-member Patroni tags, keyed by member name (db1, db2, …).", allowed: "a map of member name → {nofailover, noloadbalance, nosync, clonefrom, replicatefrom}" },
  "postgres.members.*": { description: "Tags of one member.", allowed: "{nofailover, noloadbalance, nosync, clonefrom: boolean, replicatefrom: member name}" },
  "postgres.members.*.nofailover": { description: "Never promote this member.", allowed: "true or false" },
  "postgres.members.*.noloadbalance": { description: "Keep this member out of the read-only endpoint.", allowed: "true or false" },
  "postgres.members.*.nosync": { description: "Never pick this member as a synchronous standby.", allowed: "true or false" },
  "postgres.members.*.clonefrom": { description: "Prefer this member as the source when new replicas are cloned.", allowed: "true or false" },
  "postgres.members.*.replicatefrom": { description: "Stream from this other member instead of the leader (cascading standby).", allowed: "the name of another member, e.g. db2" },
  "postgres.credentialsVersion": { description: "Generation of the cluster's own passwords (superuser postgres, replication, rewind, Patroni REST API). Raise it to rotate all four without a restart: new values go into the cluster secret, the leader sets the new SCRAM verifiers, then every member reloads Patroni with them (pgha-secrets rotate, run by the rollout); open sessions and streaming replication carry on. Lowering it generates new passwords too.", allowed: "an integer 1–1000000 (default 1)" },
  "postgres.databases": { description: "Application databases, created on the leader by the converge path (pulumi up's rollout, sandbox apply, and every 5 minutes by pgha-access.timer); a database taken out of the config is kept (drop it by hand).", allowed: "a map of database name → {owner, encoding, locale, extensions}; not postgres, template0 or template1" },
  "postgres.databases.*": { description: "One database.", allowed: "{owner: a role of postgres.roles, encoding, locale, extensions}" },
  "postgres.databases.*.owner": { description: "The role that owns the database (and its public schema): a role declared in postgres.roles.", allowed: "the name of a role in postgres.roles" },
  "postgres.databases.*.encoding": { description: "Character set, fixed when the database is created (default UTF8; C.UTF-8 and ICU locales need UTF8).", allowed: "one of UTF8, SQL_ASCII, LATIN1" },
  "postgres.databases.*.locale": { description: "Collation and character classes, fixed when the database is created (default C.UTF-8): a libc locale every node has, or an ICU locale.", allowed: "C, POSIX, C.UTF-8, or icu:<BCP 47 tag> like icu:en-US" },
  "postgres.databases.*.extensions": { description: "Extensions created in the database (CREATE EXTENSION IF NOT EXISTS); one taken out of the list is kept.", allowed: "a list of PostgreSQL 17 contrib extension names like pg_trgm, pgcrypto, citext" },
  "postgres.roles": { description: "Application roles, created and kept in step on the leader; a login role gets a generated password in its own Secrets Manager secret (ARN in the roleSecretArns output). A role taken out of the config is kept; `absent: true` drops it.", allowed: "a map of role name → {login, connectionLimit, memberOf, grants, passwordVersion, absent}; not postgres, replicator, rewind_user, public or pg_*" },
  "postgres.roles.*": { description: "One role.", allowed: "{login, connectionLimit, memberOf, grants, passwordVersion, absent}" },
  "postgres.roles.*.login": { description: "The role logs in (and gets a password secret); false makes a group role (default true).", allowed: "true or false" },
  "postgres.roles.*.connectionLimit": { description: "Concurrent connections the role may hold (CONNECTION LIMIT; -1: no limit, the default).", allowed: "an integer -1–100000" },
  "postgres.roles.*.memberOf": { description: "Roles this role is a member of (and inherits the privileges of).", allowed: "a list of roles of postgres.roles, or of PostgreSQL's pg_monitor, pg_read_all_data, pg_write_all_data, pg_read_all_stats, pg_read_all_settings, pg_stat_scan_tables, pg_signal_backend, pg_checkpoint, pg_maintain, pg_use_reserved_connections, pg_create_subscription" },
  "postgres.roles.*.grants": { description: "What the role may do in each database: readOnly (connect, SELECT), readWrite (also INSERT, UPDATE, DELETE, TRUNCATE, sequences), owner (member of the database's owner: DDL too). Other roles cannot connect to a declared database.", allowed: "a map of database name (of postgres.databases) → readOnly, readWrite or owner" },
  "postgres.roles.*.grants.*": { description: "The role's access to one database.", allowed: "one of readOnly, readWrite, owner" },
  "postgres.roles.*.passwordVersion": { description: "Raise it to rotate the role's password: a new one is generated into its secret and set on the server; open sessions continue, new ones need the new password (default 1).", allowed: "an integer 1–1000000 (login roles only)" },
  "postgres.roles.*.absent": { description: "Drop the role (only a role this program created, and only once it owns nothing) and delete its secret.", allowed: "true or false (an absent role can be no owner, member or grantee)" },
  "patroni.ttl": { description: "Leader lock TTL in seconds: how long a lost leader keeps its lease.", allowed: "an integer 20–3600 (Patroni 4 raises smaller values), and ≥ loopWait + 2·retryTimeout (+ 4 with failsafeMode)" },
  "patroni.loopWait": { description: "Seconds between Patroni's HA loop runs.", allowed: "an integer 1–600" },
  "patroni.retryTimeout": { description: "Seconds of DCS/PostgreSQL trouble tolerated before the leader demotes itself.", allowed: "an integer 3–600 (Patroni 4 raises smaller values)" },
  "patroni.maximumLagOnFailover": { description: "Bytes a replica may lag and still be promoted (Patroni's default: 1 MiB).", allowed: "an integer 0–1099511627776 (bytes, up to 1 TiB)" },
  "patroni.primaryStartTimeout": { description: "Seconds Patroni tries to restart a crashed primary in place before failing over.", allowed: "an integer 0–3600" },
  "patroni.watchdog": { description: "Fencing by the kernel on EC2: Patroni arms the softdog watchdog while it leads and feeds it every loop; a leader whose Patroni stalls or dies is reset by the kernel 5 s before its lock expires, before a replica can take over. required: a member without a working watchdog never becomes leader; automatic: used when it works; off: not used. The sandbox has no watchdog (one cannot be loaded per host): there it is always off.", allowed: "one of off, automatic, required" },
  "patroni.failsafeMode": { description: "Keep the primary writable while etcd is lost, as long as it sees every member.", allowed: "true or false" },
  "etcd.nodes": { description: "etcd members (etcd1…etcdN).", allowed: "an odd integer 1–7: 1 (dev only), 3, 5 or 7" },
  "etcd.instanceType": { description: "EC2 instance type of the etcd members.", allowed: "an EC2 instance type like t4g.small" },
  "haproxy.nodes": { description: "HAProxy nodes (lb1…lbN).", allowed: "an integer 1–5" },
  "haproxy.instanceType": { description: "EC2 instance type of the HAProxy nodes.", allowed: "an EC2 instance type like c7g.medium" },
  "haproxy.networkLoadBalancer": { description: "Put an internal NLB in front of the HAProxy nodes.", allowed: "true or false (true needs haproxy.nodes ≥ 2 to be useful)" },
  "haproxy.checkIntervalMs": { description: "HAProxy health-check interval (inter) against Patroni's REST API.", allowed: "an integer 200–60000 (ms)" },
  "haproxy.fall": { description: "Failed checks before HAProxy marks a server down.", allowed: "an integer 1–10" },
  "haproxy.readOnlyMaxLagBytes": { description: "The read-only endpoint admits a replica only while it has replayed to within this many bytes of the leader's last position (Patroni's GET /replica?lag=); a replica further behind is taken out until it catches up, and with none within it reads go to the leader. null: any lag.", allowed: "an integer 0–1099511627776 (bytes) or null" },
  "haproxy.synchronousReadOnly": { description: "A third endpoint, ro.<cluster>.<domain>:5002, over the standbys every commit waits for (Patroni's /synchronous, /quorum), with synchronous_commit = remote_apply: a read there sees every commit acknowledged before it (read-your-writes) at the price of commits waiting for replay — while the synchronous standby stays the same: when Patroni picks another, HAProxy routes to the old one for up to fall × checkIntervalMs more. With none of them up, reads go to the leader.", allowed: "true or false (true needs postgres.syncMode on or strict, or quorum with syncNodeCount = every standby that can be synchronous)" },
  "haproxy.rise": { description: "Passed checks before HAProxy marks a server up.", allowed: "an integer 1–10" },
  "pooler.enabled": { description: "PgBouncer on every PostgreSQL node and two more endpoints through HAProxy: rw.<cluster>.<domain>:6432 to the leader's pooler and ro.<cluster>.<domain>:6433 to the replicas' (same Patroni checks and lag bound as 5000/5001). TLS with the node certificate (verify-full works with the same names); logins are checked against the server's own SCRAM verifiers (auth_query, no user list), superusers and replication roles cannot log in through it.", allowed: "true or false" },
  "pooler.mode": { description: "PgBouncer's pool_mode: when a server connection goes back to the pool — after each transaction (session state such as SET, prepared statements outside the protocol or advisory locks does not survive), at the end of the client's session, or after each statement.", allowed: "one of session, transaction, statement" },
  "pooler.poolSize": { description: "Server connections each pooler opens per database and user (default_pool_size); clients beyond them wait for one. Keep the sum over the pairs in use below postgres max_connections.", allowed: "an integer 1–1000, at most max_connections − 10 (room for Patroni, replication, backups and the superuser)" },
  "pooler.maxClientConnections": { description: "Client connections each pooler accepts (max_client_conn); more are refused.", allowed: "an integer 10–100000" },
  "backup.bucketName": { description: "Name of the backup bucket (globally unique); default pgha-<stack>-<cluster>-<region>.", allowed: "a valid S3 bucket name" },
  "backup.fullSchedule": { description: "Cron schedule (UTC) of the full physical backup (default: daily at 02:00).", allowed: "a 5-field cron expression like '0 2 * * *'" },
  "backup.diffSchedule": { description: "Cron schedule of differential backups, or null for none.", allowed: "a 5-field cron expression or null" },
  "backup.incrSchedule": { description: "Cron schedule of incremental backups, or null for none.", allowed: "a 5-field cron expression or null" },
  "backup.logicalSchedule": { description: "Cron schedule of the logical dump (pg_dump -Fc of every database + globals), or null.", allowed: "a 5-field cron expression or null" },
  "backup.restoreDrillSchedule": { description: "Cron schedule of the restore drill: the newest backup is restored into a scratch directory, started and queried, then annotated verified. null disables it.", allowed: "a 5-field cron expression or null" },
  "backup.fullRetentionDays": { description: "Days full physical backups (and the WAL they need) are kept; pgBackRest expires them.", allowed: "an integer 1–3650 (days)" },
  "backup.logicalRetentionWeeks": { description: "Weeks logical dumps are kept (S3 lifecycle expiration on the logical/ prefix).", allowed: "an integer 1–520 (weeks)" },
  "backup.logicalInfrequentAccessAfterDays": { description: "Move logical dumps to STANDARD_IA after this many days, or null to keep them in STANDARD.", allowed: "an integer 30–3650 (days), less than logicalRetentionWeeks·7; or null" },
  "backup.noncurrentVersionRetentionDays": { description: "Days overwritten/deleted object versions stay recoverable in the versioned bucket.", allowed: "an integer 1–365" },
  "backup.archiveTimeoutSeconds": { description: "archive_timeout: longest time a finished transaction waits to reach the WAL archive.", allowed: "an integer 1–86400 (≤ 60 in prod, ≤ objectives.pitrRpoSeconds)" },
  "backup.secondRepository.region": { description: "A copy of the pgBackRest repository in this other AWS region (its own bucket and KMS key, created by this stack): S3 Replication copies every backup and WAL file there (Replication Time Control: 99.99 % of objects within 15 minutes), deletions included, so backups and PITR survive the loss of the stack's region (pgha-restore --repo 2). Without backup.secondRepository (null, the default): one region.", allowed: "an AWS region like eu-central-1, other than aws:region" },
  "backup.secondRepository.bucketName": { description: "Its bucket (globally unique); default pgha-<stack>-<cluster>-<region>.", allowed: "a valid S3 bucket name, other than backup.bucketName" },
  "backup.repoEncryption": { description: "Encrypt the pgBackRest repository client-side (aes-256-cbc; passphrase in Secrets Manager).", allowed: "true or false" },
  "objectives.failoverRpoSeconds": { description: "Stated RPO on failover (0 needs synchronous replication).", allowed: "an integer 0–86400 (seconds; 0 only with synchronous replication)" },
  "objectives.pitrRpoSeconds": { description: "Stated RPO of a restore from the archive (bounded by archive_timeout).", allowed: "an integer 1–86400 (seconds)" },
  "objectives.rtoSeconds": { description: "Stated RTO on failover; ttl + loop_wait + HAProxy detection must fit in it.", allowed: "an integer 1–86400 (seconds)" },
  "objectives.monthlyBudgetUsd": { description: "Stated monthly budget: `pgha cost`'s on-demand list-price estimate of the stack must not exceed it (policy monthly-budget), or null for no budget.", allowed: "an integer 1–10000000 (USD per month) or null" },
  "maintenance.window": { description: "When the rollout (pulumi up, sandbox apply) restarts what a change left pending, one node at a time with one switchover, and when pulumi up replaces a node that runs an older Debian image than the stack's (one node per update): a weekly window in UTC, always, or null (never: an operator runs restart --pending; the images output names the nodes that wait).", allowed: "\"ddd:hh:mm-ddd:hh:mm\" in UTC, at least 30 minutes (e.g. \"sun:02:00-sun:04:00\"), \"always\", or null" },
  "tls.enabled": { description: "TLS on every hop (PostgreSQL, replication, etcd, REST API, health checks).", allowed: "true or false (prod requires true)" },
  "tls.certValidityDays": { description: "Validity of node certificates.", allowed: "an integer 1–3650 (days), more than tls.renewBeforeDays" },
  "tls.renewBeforeDays": { description: "Re-issue node certificates this many days before they expire.", allowed: "an integer 1–365 (days)" },
  "monitoring.enabled": { description: "A monitoring node (mon1): Prometheus scrapes every node's exporters over TLS, evaluates the alert rules derived from the stack's objectives and schedules (`npx pgha alerts`), and Alertmanager publishes firing and resolved alerts to the stack's SNS topic (KMS-encrypted), which also receives the CloudWatch status-check alarms of every instance and the dead man's switch of Prometheus itself.", allowed: "true or false" },
  "monitoring.instanceType": { description: "EC2 instance type of the monitoring node.", allowed: "an EC2 instance type like t4g.small" },
  "monitoring.scrapeIntervalSeconds": { description: "How often Prometheus scrapes every target and evaluates the rules; an alert is delivered within its `for` plus about two intervals.", allowed: "an integer 5–300 (seconds)" },
  "monitoring.retentionDays": { description: "How long Prometheus keeps samples on the monitoring node.", allowed: "an integer 1–3650 (days)" },
  "monitoring.logRetentionDays": { description: "How long the monitoring node keeps the journals every node sends it (central logs, `npx pgha sandbox logs`): a daily timer vacuums older entries.", allowed: "an integer 1–3650 (days)" },
  "monitoring.alertEmails": { description: "Email addresses subscribed to the alert topic (each confirms the subscription from the mail SNS sends).", allowed: "a list of at most 20 email addresses" },
  "monitoring.alertHttpsEndpoints": { description: "HTTPS endpoints subscribed to the alert topic (a pager's or chat's webhook; SNS sends a confirmation request first).", allowed: "a list of at most 20 https:// URLs" },
  nodeNamePrefix: { description: "Prefix of every node name (Patroni member, etcd member, host name, Name tag): \"dr-\" makes dr-db1, dr-etcd1, dr-lb1, so a second region's cluster is told apart from the first in logs, alerts and patronictl. Default \"\" (db1, etcd1, lb1).", allowed: "1–8 lower-case letters and digits, starting with a letter, then '-' (e.g. \"dr-\"), or \"\"" },
  "standby.primaryStack": { description: "This stack is a standby cluster in another region: a full Patroni cluster whose leader follows the cluster of this stack (Patroni standby_cluster) over the network the user provides (peering or transit gateway), with the replication slot standby_<this stack> that the primary's standbyClusters declares, falling back to the primary's repository copy in this region. It uses the primary's cluster secret (postgres-ha/<primaryStack>/<cluster>/cluster, replicated to this region): the database, its roles and passwords come from the primary. `npx pgha sandbox promote-standby` (or pgha-standby promote on a node) makes it a primary. Without standby (null, the default): a primary cluster.", allowed: "a stack name of this project (lower-case letters, digits, '-')" },
  "standby.host": { description: "The primary cluster's read-write endpoint (its rw name, its NLB or an address) as this stack's nodes reach it. Default, with the primary's stack file in this project: its rw name (rw.<cluster>.<domain>; its private zone associated with this VPC). Set host, cidrs and repositoryBucket for a cluster not managed here.", allowed: "a DNS name or an IPv4 address" },
  "standby.port": { description: "Its port (default 5000, HAProxy's read-write port).", allowed: "an integer 1–65535" },
  "standby.cidrs": { description: "The primary cluster's network(s). After a promotion they may stream from this cluster (fencing turns the old primary into a standby of this one): pg_hba and the security groups admit replication from them, nothing else. Default, with the primary's stack file in this project: its VPC CIDR (or the subnets of the VPC it brings).", allowed: "a list of IPv4 CIDRs, at least one" },
  "standby.repositoryBucket": { description: "The primary's repository copy in this stack's region (the primary's backup.secondRepository bucket; default, with the primary's stack file in this project: that bucket's name): new members restore from it and the standby leader reads WAL from it when streaming is cut. Only read; this stack's own backups go to backup.bucketName once it is promoted. It is read with the primary's passphrase (its cluster secret), so backup.repoEncryption must say what the primary's says.", allowed: "a valid S3 bucket name, other than backup.bucketName" },
  "standby.associateZones": { description: "Associate the two clusters' Route 53 private zones across the VPCs, through a StackReference to the primary stack (its `network` output: VPC id, region, zone id): this VPC resolves the primary's rw name (standby.host), and the primary's VPC resolves this cluster's rw name once fencing makes the old primary follow it (`promote-standby --fence-old`). The zones keep their own VPC association and ignore the others' (ignoreChanges on vpcs). Default true; false for a primary not deployed by this project (then associate the zones yourself).", allowed: "true or false" },
  standbyClusters: { description: "Standby clusters (other stacks, usually in another region) that follow this one, by stack name: each gets a permanent physical replication slot standby_<stack> on this cluster (kept across failovers by Patroni) and may stream through the read-write endpoint from its networks only.", allowed: "a map of stack name → {cidrs}" },
  "standbyClusters.*": { description: "One standby cluster.", allowed: "{cidrs: a list of IPv4 CIDRs}" },
  "standbyClusters.*.cidrs": { description: "The standby cluster's network(s): pg_hba and the security groups admit replication from them.", allowed: "a list of IPv4 CIDRs, at least one" },
  "restoreFrom.stack": { description: "This stack's cluster starts from another cluster's backups instead of an empty database: its first member is restored from that cluster's pgBackRest repository to restoreFrom.target and promoted on a new timeline (Patroni's custom bootstrap, pgha-restore bootstrap-from-source); the other members are copies of it. The new cluster then archives into its own repository (backup.bucketName; a full backup right after the bootstrap), and the source repository is only ever read: RDS's \"restore to a point in time\" as a new database, as a full HA cluster. The source's repository passphrase comes from the source's cluster secret (postgres-ha/<stack>/<cluster>/cluster), which only this stack's PostgreSQL nodes may read; the database's roles keep the source's passwords except the cluster's own (superuser, replication, rewind: this stack's). Used only when the cluster is created: changing it later does nothing to a running cluster. Without restoreFrom (null, the default): initdb.", allowed: "a stack name of this project (lower-case letters, digits, '-'), not this stack" },
  "restoreFrom.cluster": { description: "The source's cluster name: its stanza and repository path (/pgbackrest/<cluster>). Default: this stack's clusterName.", allowed: "2–21 lower-case letters, digits and '-', starting with a letter" },
  "restoreFrom.region": { description: "The region of the bucket read: the source's own region (its backup.bucketName), or the region of its backup.secondRepository copy. Default: this stack's region.", allowed: "an AWS region name, e.g. eu-west-1" },
  "restoreFrom.bucket": { description: "The bucket read: the source's backup.bucketName, or its second repository's copy. Default: the source's default repo1 name, pgha-<stack>-<cluster>-<region>. Only read; never this stack's backup.bucketName.", allowed: "a valid S3 bucket name, other than backup.bucketName" },
  "restoreFrom.repoEncryption": { description: "Whether the source repository is encrypted (the source's backup.repoEncryption). Default: this stack's backup.repoEncryption.", allowed: "true or false" },
  "restoreFrom.target.type": { description: "Where recovery stops (PostgreSQL's recovery target), checked against the source's restorable window before anything is restored: a target outside it fails the bootstrap, naming the window. time: the last commit at or before a time; name: a restore point the source catalogued (pgha-restore restore-point); xid: up to a transaction id; lsn: up to a WAL position; immediate: the first consistent point of the newest backup.", allowed: "one of time, name, xid, lsn, immediate" },
  "restoreFrom.target.value": { description: "The target itself; none with type immediate.", allowed: "time: a timestamp with a zone ('2026-12-05 10:00:00+00'); name: a restore point name (1–63 letters, digits, _ . : -); xid: a transaction id (digits); lsn: a WAL position (0/3000060); at most 100 characters" },
  tags: { description: "Tags added to every AWS resource (the program adds pgha:cluster, pgha:stack, pgha:role).", allowed: "a map of tag name → value" },
  "tags.*": { description: "One tag.", allowed: "a string of at most 256 characters" },
};

/**
 * The KEY_DOCS key documenting a concrete path: exact, or with record keys and list indexes as
 * '*' ("network.subnets.*.cidr"), trying shorter prefixes until one is documented.
 */
export function docKeyOf(path: (string | number)[]): string | undefined {
  for (let n = path.length; n > 0; n--) {
    const candidates = [path.slice(0, n).map(String).join("."), path.slice(0, n).map((p, i) => (i > 0 && (typeof p === "number" || isRecordKeyPosition(path, i)) ? "*" : String(p))).join(".")];
    for (const c of candidates) if (KEY_DOCS[c]) return c;
  }
  return undefined;
}

/** The documentation entry for a concrete path (record keys and list indexes become '*'). */
export function keyDoc(path: (string | number)[]): KeyDoc | undefined {
  const key = docKeyOf(path);
  return key === undefined ? undefined : KEY_DOCS[key];
}

const RECORD_PARENTS = new Set(["postgres.parameters", "postgres.members", "postgres.databases", "postgres.roles", "postgres.roles.*.grants", "tags", "standbyClusters"]);
/** Whether path[i] is a key of a map (its parent, with earlier map keys as '*', is a record). */
function isRecordKeyPosition(path: (string | number)[], i: number): boolean {
  const parent = path.slice(0, i).map((p, j) => (j > 0 && (typeof p === "number" || isRecordKeyPosition(path, j)) ? "*" : String(p)));
  return RECORD_PARENTS.has(parent.join("."));
}
