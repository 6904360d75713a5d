// What differs between an EC2 node and a sandbox host — and nothing else.
//
// A Layout is plain data. render(spec, node, layout) must produce files that differ between EC2
// and the sandbox only where a Layout field is used: addresses, the client networks, where
// secrets come from, how S3 is reached, whether packages are installed at boot, and whether a
// separate data volume has to be mounted.
import { PORTS, nodesOf, type ClusterSpec } from "./spec";

export type SecretSource =
  /** EC2: the node reads its secrets from Secrets Manager with its instance role. */
  | { kind: "secrets-manager"; region: string }
  /** Sandbox: JSON files the sandbox bind-mounts read-only into the host. */
  | { kind: "files"; dir: string };

export interface S3Access {
  /** Host name of the S3 API endpoint (what pgBackRest and awscli dial, verified by TLS). */
  endpoint: string;
  port: number;
  region: string;
  uriStyle: "host" | "path";
  /** instance-role: IMDSv2 credentials; secret: access keys from the cluster secret. */
  credentials: "instance-role" | "secret";
  /** CA bundle to verify the endpoint; undefined = the system store. */
  caFile?: string;
  /** Whether objects are written with SSE-KMS under the cluster's key. */
  sseKms: boolean;
  /**
   * awscli ≥ 2.23 adds CRC checksums to every upload by default, streamed as aws-chunked
   * content that S3 understands and s3rver stores verbatim (corrupting the object):
   * "when_required" turns that default off.
   */
  requestChecksums: "when_supported" | "when_required";
}

export interface Layout {
  kind: "ec2" | "sandbox";
  /** Address of every node, by node name. */
  addresses: Record<string, string>;
  /** Networks clients may connect from directly (pg_hba, besides the HAProxy nodes). */
  clientCidrs: string[];
  secrets: SecretSource;
  s3: S3Access;
  /** Install the image packages at first boot (EC2) or find them already there (sandbox). */
  installPackages: boolean;
  /** EC2 mounts a separate EBS data volume for PostgreSQL; the sandbox keeps data in its overlay. */
  dataVolume: { kind: "ebs"; deviceName: string } | { kind: "none" };
  /** Extra /etc/hosts entries (sandbox: service names and S3; EC2 uses the private DNS zone). */
  extraHosts: { name: string; address: string }[];
  /**
   * EC2: where the SSM agent comes from (Debian's AMIs do not ship it, and SSM Session Manager
   * is the only way onto a node); `{arch}` becomes amd64 or arm64. Undefined in the sandbox.
   */
  ssmAgentUrl?: string;
}

/** The device name the data volume is attached as (it shows up as an NVMe device on Nitro). */
export const DATA_VOLUME_DEVICE = "/dev/sdf";
export const TLS_DIR = "/etc/pgha/tls";

export function ec2Layout(spec: ClusterSpec): Layout {
  return {
    kind: "ec2",
    addresses: Object.fromEntries(spec.nodes.map((n) => [n.name, n.privateIp])),
    // Clients reach PostgreSQL only through HAProxy (the security groups allow 5432 only from
    // the HAProxy nodes and the members), so pg_hba admits no client network directly.
    clientCidrs: [],
    secrets: { kind: "secrets-manager", region: spec.region },
    s3: {
      endpoint: `s3.${spec.region}.amazonaws.com`,
      port: 443,
      region: spec.region,
      uriStyle: "host",
      credentials: "instance-role",
      sseKms: true,
      requestChecksums: "when_supported",
    },
    installPackages: true,
    dataVolume: { kind: "ebs", deviceName: DATA_VOLUME_DEVICE },
    extraHosts: [],
    ssmAgentUrl: `https://s3.${spec.region}.amazonaws.com/amazon-ssm-${spec.region}/latest/debian_{arch}/amazon-ssm-agent.deb`,
  };
}

export const SANDBOX_NETWORK = {
  cidr: "10.88.0.0/24",
  /** The machine's own address on the sandbox bridge (tests and the CLI connect from here). */
  machineAddress: "10.88.0.254",
  /** Host name of the sandbox's S3 endpoint, resolved by /etc/hosts on every host. */
  s3Host: "s3.sandbox.internal",
  s3Address: "10.88.0.250",
  s3Port: 443,
  secretsDir: "/run/pgha-secrets",
} as const;

/** Sandbox addresses: db 10.88.0.11+, etcd .21+, lb .31+ (stable per node name). */
export function sandboxAddress(spec: ClusterSpec, name: string): string {
  const node = spec.nodes.find((n) => n.name === name)!;
  const base = { postgres: 10, etcd: 20, haproxy: 30 }[node.role];
  return `10.88.0.${base + node.index}`;
}

export function sandboxLayout(spec: ClusterSpec): Layout {
  const addresses = Object.fromEntries(spec.nodes.map((n) => [n.name, sandboxAddress(spec, n.name)]));
  const lbs = nodesOf(spec, "haproxy");
  // Service names resolve to the first HAProxy node (on AWS: the NLB or the HAProxy nodes).
  const lbAddress = addresses[lbs[0]?.name ?? nodesOf(spec, "postgres")[0].name];
  return {
    kind: "sandbox",
    addresses,
    clientCidrs: [SANDBOX_NETWORK.cidr],
    secrets: { kind: "files", dir: SANDBOX_NETWORK.secretsDir },
    s3: {
      endpoint: SANDBOX_NETWORK.s3Host,
      port: SANDBOX_NETWORK.s3Port,
      region: spec.region,
      uriStyle: "path",
      credentials: "secret",
      caFile: `${TLS_DIR}/ca.crt`,
      sseKms: false,
      requestChecksums: "when_required",
    },
    installPackages: false,
    dataVolume: { kind: "none" },
    extraHosts: [
      { name: spec.serviceNames.readWrite, address: lbAddress },
      { name: spec.serviceNames.readOnly, address: lbAddress },
      { name: SANDBOX_NETWORK.s3Host, address: SANDBOX_NETWORK.s3Address },
      ...spec.nodes.map((n) => ({ name: `${n.name}.${spec.clusterName}.${spec.network.domain}`, address: addresses[n.name] })),
    ],
  };
}

export { PORTS };
