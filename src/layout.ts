// What differs between an EC2 node and a sandbox host — and nothing else.
//
// A Layout is plain data. render(spec, node, layout) must produce files that differ between EC2
// and the sandbox only where a Layout field is used: addresses, the client networks, how the AWS
// APIs are reached (endpoints, CA, credentials: AWS itself is absent in the sandbox), and whether
// packages are installed at boot. Secrets come from Secrets Manager and PostgreSQL's data lives
// on a separate block device in both.
import { PORTS, nodesOf, type ClusterSpec, type RepositorySpec } from "./spec";

/**
 * How a node reaches the AWS APIs it calls (S3 for its bundles and dumps, Secrets Manager for
 * its secrets). On EC2: AWS's own endpoints, the system trust store and the instance role. In
 * the sandbox: real implementations of the same APIs on the sandbox network (s3rver for S3,
 * moto for Secrets Manager), their CA and a static credentials file — the scripts run the
 * same branch either way; only these values differ.
 */
export interface AwsApiAccess {
  region: string;
  /** Endpoint URLs; empty = AWS's own endpoints for the region. */
  endpoints: { s3?: string; secretsManager?: string; sns?: string; sts?: string; cloudwatch?: string };
  /** CA bundle that verifies the endpoints; undefined = the system store. */
  caBundle?: string;
  /** Static credentials (sandbox); undefined = the instance role through IMDSv2. */
  credentialsFile?: string;
  /** awscli config file (sandbox: path-style S3 addressing); undefined = awscli's defaults. */
  configFile?: string;
  /** Names of the endpoints where no DNS serves them (the sandbox), added to /etc/hosts at boot. */
  hosts: { name: string; address: string }[];
  /**
   * awscli ≥ 2.23 adds CRC checksums to every upload by default, streamed as aws-chunked
   * content that S3 understands and s3rver stores verbatim (corrupting the object):
   * "when_required" turns that default off.
   */
  requestChecksums: "when_supported" | "when_required";
}

export interface S3Access {
  /** Host name of the S3 API endpoint (what pgBackRest dials, verified by TLS). */
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
}

export interface Layout {
  kind: "ec2" | "sandbox";
  /** Address of every node, by node name. */
  addresses: Record<string, string>;
  /** Networks clients may connect from directly (pg_hba, besides the HAProxy nodes). */
  clientCidrs: string[];
  /** How nodes call AWS APIs (awscli: bundles, secrets, logical dumps). */
  aws: AwsApiAccess;
  /** How pgBackRest reaches repo1 (the stack's region). */
  s3: S3Access;
  /**
   * How pgBackRest reaches each repository in another region, by region (backup.secondRepository):
   * the region's own S3 endpoint on EC2; a second S3 endpoint of the sandbox, on its own address.
   */
  s3ByRegion: Record<string, S3Access>;
  /** Install the image packages at first boot (EC2) or find them already there (sandbox). */
  installPackages: boolean;
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

function ec2S3Access(region: string): S3Access {
  return { endpoint: `s3.${region}.amazonaws.com`, port: 443, region, uriStyle: "host", credentials: "instance-role", sseKms: true };
}

/** How pgBackRest reaches one repository: repo1 through layout.s3, the others through their region's endpoint. */
export function repositoryS3Access(layout: Layout, repo: Pick<RepositorySpec, "index" | "region">): S3Access {
  if (repo.index === 1) return layout.s3;
  const s3 = layout.s3ByRegion[repo.region];
  if (!s3) throw new Error(`the layout has no S3 endpoint for repo${repo.index}'s region ${repo.region}`);
  return s3;
}

/** Repositories other than repo1: the second region's copy, a standby cluster's source, a restored cluster's source. */
function otherRepositories(spec: ClusterSpec): RepositorySpec[] {
  return [
    ...spec.backup.repositories.filter((r) => r.index > 1),
    ...(spec.standby ? [spec.standby.repository] : []),
    ...(spec.restoreFrom ? [spec.restoreFrom.repository] : []),
  ];
}

export function ec2Layout(spec: ClusterSpec): Layout {
  return {
    kind: "ec2",
    addresses: Object.fromEntries(spec.nodes.map((n) => [n.name, n.privateIp])),
    // Clients reach PostgreSQL only through HAProxy (the security groups allow 5432 only from
    // the HAProxy nodes and the members), so pg_hba admits no client network directly.
    clientCidrs: [],
    aws: { region: spec.region, endpoints: {}, hosts: [], requestChecksums: "when_supported" },
    s3: ec2S3Access(spec.region),
    s3ByRegion: Object.fromEntries(otherRepositories(spec).map((r) => [r.region, ec2S3Access(r.region)])),
    installPackages: true,
    extraHosts: [],
    ssmAgentUrl: `https://s3.${spec.region}.amazonaws.com/amazon-ssm-${spec.region}/latest/debian_{arch}/amazon-ssm-agent.deb`,
  };
}

/** The sandbox bridge's /24: every sandbox address below is this prefix and a last octet. */
const SANDBOX_PREFIX = "10.88.0";
/** The second region's bridge (a standby cluster's hosts), joined to the first by a router. */
const SANDBOX_SECOND_PREFIX = "10.88.1";
/** The sandbox address with this last octet (1–253 for hosts). */
export const sandboxHostAddress = (lastOctet: number): string => `${SANDBOX_PREFIX}.${lastOctet}`;

/** The one definition of the sandbox's addresses (src/sandbox/network.ts, scratch.ts, restore.ts read them). */
export const SANDBOX_NETWORK = {
  /** Base of the address range the sandbox uses: `${prefix}.<last octet>`. */
  prefix: SANDBOX_PREFIX,
  cidr: `${SANDBOX_PREFIX}.0/24`,
  prefixLength: 24,
  /** Routed to nowhere (`unreachable`) on the machine so nothing of this range ever leaves it. */
  guardedRange: "10.88.0.0/16",
  /** The machine's own address on the sandbox bridge (tests and the CLI connect from here). */
  machineAddress: sandboxHostAddress(254),
  /** Host name of the sandbox's S3 endpoint, resolved by /etc/hosts on every host. */
  s3Host: "s3.sandbox.internal",
  s3Address: sandboxHostAddress(250),
  s3Port: 443,
  /** The second region's S3 endpoint (backup.secondRepository), a separate server on its own address. */
  s3SecondHost: "s3-region2.sandbox.internal",
  s3SecondAddress: sandboxHostAddress(248),
  /** The sandbox's AWS API host (moto: Secrets Manager), and the machine's upload client. */
  awsHost: "aws.sandbox.internal",
  awsAddress: sandboxHostAddress(249),
  /** Bind-mounted read-only into every host: the sandbox's stand-in for the instance role. */
  awsDir: "/run/pgha-aws",
  /**
   * The second region (a standby cluster, `sandbox up --standby`): its own bridge and /24, the
   * machine's address on it, and the router joining the two regions (a network namespace with
   * forwarding on, its filter the peering's security groups).
   */
  second: {
    prefix: SANDBOX_SECOND_PREFIX,
    cidr: `${SANDBOX_SECOND_PREFIX}.0/24`,
    machineAddress: `${SANDBOX_SECOND_PREFIX}.254`,
    routerAddress: `${SANDBOX_SECOND_PREFIX}.253`,
  },
  /** The router's address on the first region's bridge. */
  routerAddress: sandboxHostAddress(253),
} as const;

/**
 * Whether a sandbox stack's hosts live on the second bridge (10.88.1.0/24) beside the first
 * stack's: a standby cluster (the second region), or a cluster restored from the first stack's
 * repository (restoreFrom: another stack in the same region, booted beside its source).
 */
export function inSecondSandboxRegion(spec: Pick<ClusterSpec, "standby" | "restoreFrom">): boolean {
  return spec.standby !== undefined || spec.restoreFrom !== undefined;
}

/**
 * The sandbox's S3 server of a region, as a stack sees it: the stack's own region is served by
 * the first server (s3.sandbox.internal), except for a standby cluster, whose own region is the
 * second; the other region by the other server. So prod (eu-west-1) finds its copy in
 * eu-central-1 on the second, prod-dr (eu-central-1) its own bucket and prod's copy there, and a
 * cluster restored from prod (eu-west-1) prod's bucket on the first.
 */
export function sandboxS3HostOf(spec: Pick<ClusterSpec, "standby" | "region">, region: string): string {
  const own = spec.standby ? SANDBOX_NETWORK.s3SecondHost : SANDBOX_NETWORK.s3Host;
  const other = own === SANDBOX_NETWORK.s3Host ? SANDBOX_NETWORK.s3SecondHost : SANDBOX_NETWORK.s3Host;
  return region === spec.region ? own : other;
}

/** The first region's first HAProxy (lb1, .31): where a standby cluster's standby.host resolves in the sandbox. */
export const SANDBOX_PRIMARY_ENDPOINT_ADDRESS = sandboxHostAddress(31);

/**
 * Sandbox addresses: db 10.88.0.11+, etcd .21+, lb .31+, mon1 .51 (stable per node name; .41–.49
 * are scratch hosts); a standby cluster's nodes the same offsets in 10.88.1.0/24.
 */
export function sandboxAddress(spec: ClusterSpec, name: string): string {
  const node = spec.nodes.find((n) => n.name === name)!;
  const base = { postgres: 10, etcd: 20, haproxy: 30, monitor: 50 }[node.role];
  const prefix = inSecondSandboxRegion(spec) ? SANDBOX_SECOND_PREFIX : SANDBOX_PREFIX;
  return `${prefix}.${base + node.index}`;
}

function sandboxS3Access(endpoint: string, region: string): S3Access {
  return { endpoint, port: SANDBOX_NETWORK.s3Port, region, uriStyle: "path", credentials: "secret", caFile: `${SANDBOX_NETWORK.awsDir}/ca.pem`, sseKms: false };
}

export function sandboxLayout(spec: ClusterSpec): Layout {
  const second = otherRepositories(spec);
  // A standby cluster lives in the second region: its bucket (repo1, bundles) and its primary's
  // copy are behind the second region's S3 endpoint; the AWS API stand-ins stay on the first
  // bridge, reached through the router.
  const region2 = inSecondSandboxRegion(spec);
  const ownS3Host = sandboxS3HostOf(spec, spec.region);
  const addresses = Object.fromEntries(spec.nodes.map((n) => [n.name, sandboxAddress(spec, n.name)]));
  const lbs = nodesOf(spec, "haproxy");
  // Service names resolve to the first HAProxy node (on AWS: the NLB or the HAProxy nodes).
  const lbAddress = addresses[lbs[0]?.name ?? nodesOf(spec, "postgres")[0].name];
  return {
    kind: "sandbox",
    addresses,
    clientCidrs: [region2 ? SANDBOX_NETWORK.second.cidr : SANDBOX_NETWORK.cidr],
    aws: {
      region: spec.region,
      // moto serves every API but S3 on one endpoint: Secrets Manager, SNS (alerts), STS (the
      // account of the alert topic's ARN), CloudWatch (the monitoring node's heartbeat).
      endpoints: {
        s3: `https://${ownS3Host}`,
        secretsManager: `https://${SANDBOX_NETWORK.awsHost}`,
        sns: `https://${SANDBOX_NETWORK.awsHost}`,
        sts: `https://${SANDBOX_NETWORK.awsHost}`,
        cloudwatch: `https://${SANDBOX_NETWORK.awsHost}`,
      },
      caBundle: `${SANDBOX_NETWORK.awsDir}/ca.pem`,
      credentialsFile: `${SANDBOX_NETWORK.awsDir}/credentials`,
      configFile: `${SANDBOX_NETWORK.awsDir}/config`,
      hosts: [
        { name: SANDBOX_NETWORK.s3Host, address: SANDBOX_NETWORK.s3Address },
        { name: SANDBOX_NETWORK.awsHost, address: SANDBOX_NETWORK.awsAddress },
        ...(region2 ? [{ name: SANDBOX_NETWORK.s3SecondHost, address: SANDBOX_NETWORK.s3SecondAddress }] : []),
      ],
      requestChecksums: "when_required",
    },
    s3: sandboxS3Access(ownS3Host, spec.region),
    s3ByRegion: Object.fromEntries(second.map((r) => [r.region, sandboxS3Access(sandboxS3HostOf(spec, r.region), r.region)])),
    installPackages: false,
    extraHosts: [
      { name: spec.serviceNames.readWrite, address: lbAddress },
      { name: spec.serviceNames.readOnly, address: lbAddress },
      { name: SANDBOX_NETWORK.s3Host, address: SANDBOX_NETWORK.s3Address },
      { name: SANDBOX_NETWORK.awsHost, address: SANDBOX_NETWORK.awsAddress },
      ...(second.length || region2 ? [{ name: SANDBOX_NETWORK.s3SecondHost, address: SANDBOX_NETWORK.s3SecondAddress }] : []),
      ...(spec.standby ? [{ name: spec.standby.host, address: SANDBOX_PRIMARY_ENDPOINT_ADDRESS }] : []),
      ...spec.nodes.map((n) => ({ name: `${n.name}.${spec.clusterName}.${spec.network.domain}`, address: addresses[n.name] })),
    ],
  };
}

export { PORTS };
