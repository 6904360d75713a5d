// The postgres-ha policy pack: every rule, and the pack's arguments. Tests and `pgha check`
// import this module; only policies/index.ts constructs the PolicyPack (which starts a server).
//
// Enforcement per environment: no rule sets its own level. The pack's default is mandatory for
// prod (and for a stack whose tier cannot be told) and advisory for dev and staging, from the
// stack config the engine hands the pack; policies/config/<tier>.json states the same explicitly
// (CI passes it with --policy-pack-config) and can raise or lower single rules.
import type { EnforcementLevel, Policies, PolicyPackArgs } from "@pulumi/policy";
import { bucketLifecycleHygiene, bucketPublicAccessBlocked, bucketSseKms, bucketTlsOnly, bucketVersioning, repositoryNotExpiredEarly } from "./bucket";
import { bundleObjectsSseKms, bundlePointersResolve, nodeRoleOwnBundleOnly } from "./bundles";
import type { Tier } from "./common";
import { bundleNoPasswords, userDataNoGeneratedSecrets, userDataNoPasswords } from "./hygiene";
import { statedTier } from "./intent";
import { monthlyBudget } from "./cost";
import { backupRetentionMinimum, failoverWithinRto, pitrRpoArchiveTimeout, synchronousReplicationProd } from "./promises";
import {
  detailedMonitoringProd, ebsEncrypted, imdsv2Required, instanceProfile, noPublicIpOnDataNodes, noWorldIngressToServicePorts,
  requiredTags, secretsKmsEncrypted, statefulResourcesProtectedProd,
} from "./resources";
import { pgHbaHostsslOnly, tlsEverywhere } from "./tls";
import { etcdQuorum, haproxyRedundancyProd, postgresSpread } from "./topology";

export const PACK_NAME = "postgres-ha";

export const policies: Policies = [
  // encryption at rest
  ebsEncrypted,
  bucketSseKms,
  secretsKmsEncrypted,
  bundleObjectsSseKms,
  // the backup bucket
  bucketPublicAccessBlocked,
  bucketVersioning,
  bucketTlsOnly,
  bucketLifecycleHygiene,
  repositoryNotExpiredEarly,
  // EC2
  imdsv2Required,
  noPublicIpOnDataNodes,
  instanceProfile,
  detailedMonitoringProd,
  // security groups
  noWorldIngressToServicePorts,
  // topology
  etcdQuorum,
  postgresSpread,
  haproxyRedundancyProd,
  // promises
  backupRetentionMinimum,
  synchronousReplicationProd,
  pitrRpoArchiveTimeout,
  failoverWithinRto,
  statefulResourcesProtectedProd,
  monthlyBudget,
  // node bundles (what every node runs, as objects in the bucket)
  nodeRoleOwnBundleOnly,
  bundlePointersResolve,
  // hygiene
  userDataNoPasswords,
  bundleNoPasswords,
  userDataNoGeneratedSecrets,
  requiredTags,
  // TLS (issue 6)
  pgHbaHostsslOnly,
  tlsEverywhere,
];

/** Mandatory in prod, advisory in dev and staging; mandatory when the tier is unknown. */
export function enforcementForTier(tier: Tier | undefined): EnforcementLevel {
  return tier === "dev" || tier === "staging" ? "advisory" : "mandatory";
}

export function packArgs(): PolicyPackArgs {
  return {
    policies,
    enforcementLevel: enforcementForTier(statedTier()),
    description: "postgres-ha: encryption, the backup bucket, EC2 and network hardening, topology, the environment's promises (retention, RPO, RTO, budget), node bundles, secrets hygiene and TLS.",
  };
}

export * from "./bucket";
export * from "./bundles";
export * from "./common";
export * from "./cost";
export * from "./hygiene";
export * from "./intent";
export * from "./promises";
export * from "./resources";
export * from "./tls";
export * from "./topology";
export { bundleObjects, clusterFacts, haproxyTiming, hbaLines, type BundleObjectSeen, type ClusterFacts, type NodeFacts, type NodeFile } from "./cluster";
