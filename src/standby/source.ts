// What a standby cluster needs to know of its primary, derived from the primary's own config:
// its read-write endpoint, its network, and its repository copy in the standby's region. A stack
// that says only `standby: {primaryStack: prod}` gets the rest from Pulumi.prod.yaml in the same
// project (readStackFile fills it in), so the two stacks cannot disagree and `render`/`plan`
// resolve it offline. Every stack exports the same derivation as its `standbySource` output, for
// a stack of another project to read with a StackReference. A cluster not managed here is
// described explicitly (standby.host, cidrs, repositoryBucket).
import { PORTS, type ClusterSpec } from "../spec";

export interface StandbySource {
  stack: string;
  clusterName: string;
  /** Its read-write endpoint as another VPC resolves it (its private zone associated there). */
  host: string;
  port: number;
  /** Its nodes' networks: the created VPC, or the subnets of a brought one. */
  cidrs: string[];
  /** Its repositories by region: repo1 in its own, the S3 Replication copy in the second. */
  repositoryBuckets: Record<string, string>;
  repoEncryption: boolean;
}

export function standbySourceOf(spec: ClusterSpec): StandbySource {
  return {
    stack: spec.stack,
    clusterName: spec.clusterName,
    host: spec.serviceNames.readWrite,
    port: PORTS.readWrite,
    cidrs: spec.network.createVpc ? [spec.network.vpcCidr] : spec.network.subnets.map((s) => s.cidr),
    repositoryBuckets: Object.fromEntries(spec.backup.repositories.map((r) => [r.region, r.bucketName])),
    repoEncryption: spec.backup.repoEncryption,
  };
}

/**
 * A standby's config with what it leaves out taken from its primary's source: host, port, cidrs,
 * and the repository copy in `region`. What the stack sets itself wins. Returns the keys filled.
 */
export function fillStandby(standby: Record<string, unknown>, source: StandbySource, region: string): string[] {
  const filled: string[] = [];
  const set = (key: string, value: unknown) => {
    if (standby[key] !== undefined || value === undefined) return;
    standby[key] = value;
    filled.push(key);
  };
  set("host", source.host);
  set("cidrs", source.cidrs);
  set("repositoryBucket", source.repositoryBuckets[region]);
  return filled;
}
