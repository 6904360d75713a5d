// postgres-ha: one stack's config → a production PostgreSQL service on AWS.
//
//   Pulumi.<stack>.yaml ──► loadAndValidate (tier defaults, validated, derived: ClusterSpec) ──►
//   PostgresHaCluster (network, secrets, backups, IAM, etcd, PostgreSQL, HAProxy, DNS, day-2,
//   and with monitoring.enabled the monitoring node, its alert topic and CloudWatch alarms)
//
// A bad config stops here, before any resource is registered, with one message naming every
// bad key, its value, what is allowed and how to fix it (a RunError: no stack trace).
import * as pulumi from "@pulumi/pulumi";
import { PostgresHaCluster, patronictlListCommand, sessionCommand } from "./components";
import { ConfigError, loadAndValidate } from "./src/config/load";
import { withStandbyFromPrimary } from "./src/config/stack-file";
import { nodesOf, type ClusterSpec } from "./src/spec";
import { standbySourceOf } from "./src/standby/source";

function clusterSpec(): ClusterSpec {
  const stack = pulumi.getStack();
  try {
    // A standby that names only its primary gets the rest from the primary's stack file
    // (src/standby/source.ts), as the offline commands and the sandbox do.
    return loadAndValidate(withStandbyFromPrimary(pulumi.runtime.allConfig()), { stack }).spec;
  } catch (err) {
    if (err instanceof ConfigError) throw new pulumi.RunError(err.message);
    throw err;
  }
}

const spec = clusterSpec();
const cluster = new PostgresHaCluster(spec.names.prefix, { spec });

/** Where clients connect: rw → the leader (5000), ro → the replicas (5001). */
export const endpoints = cluster.endpoints;
/**
 * Secrets Manager ARNs (the values never leave Secrets Manager). A standby cluster creates no
 * cluster secret (cluster: null): it reads its primary's, replicated to its region (`standby`).
 */
export const secretArns = { cluster: spec.standby ? null : cluster.clusterSecretArn, nodes: cluster.nodeSecretArns, roles: cluster.roleSecretArns };
/**
 * postgres-ha:standby: whom this cluster follows, the primary's cluster secret it reads (a replica
 * in this region, under the primary's name) and the primary's repository copy it reads; or null.
 */
export const standby = spec.standby
  ? { primaryStack: spec.standby.primaryStack, host: spec.standby.host, port: spec.standby.port, slot: spec.standby.slot, clusterSecretName: spec.names.clusterSecret, repositoryBucket: spec.standby.repository.bucketName }
  : null;
/**
 * What a standby cluster of this one needs to know (its rw endpoint, networks, repositories by
 * region): a stack of this project derives it from this stack's file; one of another project can
 * read it here with a StackReference.
 */
export const standbySource = standbySourceOf(spec);
/** This cluster's VPC, region and private zone: what a standby cluster of it associates with (StandbyZones, through a StackReference). */
export const network = { region: spec.region, vpcId: cluster.vpcId, privateZoneId: cluster.zoneId };
/** postgres-ha:standbyClusters: the stacks that follow this cluster and their permanent slots. */
export const standbyClusters = spec.standbyClusters.map((c) => ({ stack: c.stack, slot: c.slot }));
export const backupBucket = cluster.bucketName;
/** backup.secondRepository: pgBackRest's repo2 (its region and bucket), or null. */
export const secondBackupRepository = cluster.secondRepository ?? null;
export const kmsKeyArn = cluster.kmsKeyArn;
/** The cluster CA (public): clients verify the nodes with it (sslmode=verify-full). */
export const caCertPem = cluster.caCertPem;
export const nodePrivateIps = cluster.privateIps;
export const instanceIds = cluster.instanceIds;
/** The internal NLB in front of HAProxy (prod), or null. */
export const nlbDnsName = cluster.loadBalancerDnsName ?? null;
/** How to run patronictl on each PostgreSQL node (SSM Session Manager; there is no SSH). */
export const patronictl = Object.fromEntries(
  nodesOf(spec, "postgres").map((n) => [
    n.name,
    {
      session: cluster.instanceIds[n.name].apply((id) => sessionCommand(spec.region, id)),
      then: "sudo pgha-patronictl list",
      oneShot: cluster.instanceIds[n.name].apply((id) => patronictlListCommand(spec.region, id)),
    },
  ]),
);
/** sha256 of each node's rendered files (`pgha render` shows the same): drift is visible. */
export const bundleHashes = cluster.bundleHashes;
/** sha256 of the Patroni dynamic configuration the day-2 command applied. */
export const dynamicConfigHash = cluster.dynamicConfigHash;
/** monitoring.enabled: the SNS topic every alert goes to (subscribe more endpoints to it), or null. */
export const alertTopicArn = cluster.alertTopicArn ?? null;
/** monitoring.enabled: Prometheus's and Alertmanager's URLs on the monitoring node (reachable from the allowed clients), or null. */
export const monitoring = cluster.monitoring ?? null;
/** The node this update replaces with a newer Debian image (one per pulumi up, in maintenance.window), and those still on an older one. */
export const images = cluster.images;
