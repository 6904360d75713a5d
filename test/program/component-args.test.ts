// Component arguments: every component but PostgresHaCluster takes narrow, documented args (no
// ClusterSpec), collects its argument problems and throws them once, before any child exists.
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { throwIfInvalid } from "../../components/common";
import { validateDnsArgs } from "../../components/dns";
import { validateEtcdMembersArgs } from "../../components/etcdMembers";
import { validateHaproxyNodesArgs } from "../../components/haproxyNodes";
import { createNodeGroup, mergeNodeGroups, validateNodeGroupArgs, type NodeGroupArgs } from "../../components/instance";
import { securityRules, validateNetworkArgs, type NetworkArgs } from "../../components/network";
import { validatePostgresNodesArgs } from "../../components/postgresNodes";
import { validateRolloutArgs } from "../../components/rollout";
import { validateSecretsArgs } from "../../components/secrets";
import { validateBackupBucketArgs, type BackupBucketArgs } from "../../components/backupBucket";
import { validateNodeBundlesArgs } from "../../components/nodeBundles";
import { validateNodeRolesArgs } from "../../components/nodeRoles";
import { validateAlarmsArgs, validateAlertTopicArgs, type AlertTopicArgs, type AlarmsArgs } from "../../components/alerting";
import { monitorRootVolumeGiB, validateMonitoringNodeArgs, MONITOR_ROOT_VOLUME_MIN_GIB } from "../../components/monitoringNode";
import { loadAndValidate } from "../../src/config/load";
import { nodesOf, type ClusterSpec, type Role } from "../../src/spec";
import { ROOT, runProgram, stackConfig } from "../helpers/mocks";

const COMPONENTS = path.join(ROOT, "components");
const spec: ClusterSpec = loadAndValidate(stackConfig("staging"), { stack: "staging" }).spec;

/** Each `export interface XxxArgs … { … }` of components/*.ts: its name, file and field lines (with the line before each). */
function argsInterfaces(): { name: string; file: string; body: string; fields: { name: string; documented: boolean }[] }[] {
  const out: ReturnType<typeof argsInterfaces> = [];
  for (const file of fs.readdirSync(COMPONENTS).filter((f) => f.endsWith(".ts"))) {
    const lines = fs.readFileSync(path.join(COMPONENTS, file), "utf8").split("\n");
    lines.forEach((line, i) => {
      const m = /^export interface (\w+Args)\b.*\{$/.exec(line);
      if (!m) return;
      const end = lines.findIndex((l, j) => j > i && l === "}");
      const body = lines.slice(i + 1, end);
      const fields = body.flatMap((l, j) => {
        const f = /^ {2}(\w+)\??:/.exec(l);
        return f ? [{ name: f[1], documented: j > 0 && body[j - 1].trimEnd().endsWith("*/") }] : [];
      });
      out.push({ name: m[1], file, body: body.join("\n"), fields });
    });
  }
  return out;
}

describe("argument interfaces", () => {
  const interfaces = argsInterfaces();

  it("finds every component's args", () => {
    expect(interfaces.map((i) => i.name)).toEqual(
      expect.arrayContaining(["NetworkArgs", "SecretsArgs", "BackupBucketArgs", "NodeRolesArgs", "NodeBundlesArgs", "NodeGroupArgs", "PostgresNodesArgs", "HaproxyNodesArgs", "DnsArgs", "RolloutArgs", "PostgresHaClusterArgs", "AlertTopicArgs", "AlarmsArgs"]),
    );
  });

  it("only PostgresHaCluster takes the ClusterSpec (the docs may name its fields)", () => {
    const code = (body: string) => body.split("\n").filter((l) => !/^\s*(\/\*\*|\*|\/\/)/.test(l)).join("\n");
    expect(interfaces.filter((i) => /\bClusterSpec\b/.test(code(i.body))).map((i) => i.name)).toEqual(["PostgresHaClusterArgs"]);
  });

  it("every field has JSDoc", () => {
    const undocumented = interfaces.flatMap((i) => i.fields.filter((f) => !f.documented).map((f) => `${i.file}: ${i.name}.${f.name}`));
    expect(undocumented).toEqual([]);
  });
});

function groupArgs(role: Role, overrides: Partial<NodeGroupArgs> = {}): NodeGroupArgs {
  const nodes = nodesOf(spec, role);
  return {
    tags: spec.tags,
    nodes,
    subnets: spec.network.subnets.map((s) => ({ index: s.index, id: pulumi.output(`subnet-${s.index}`), cidr: s.cidr, availabilityZone: pulumi.output("eu-west-1a") })),
    securityGroupIds: { postgres: "sg-db", etcd: "sg-etcd", haproxy: "sg-lb", monitor: "sg-mon" },
    kmsKeyArn: "arn:key",
    instanceProfileNames: Object.fromEntries(nodes.map((n) => [n.name, `${n.name}-profile`])),
    bundles: Object.fromEntries(nodes.map((n) => [n.name, { hash: "h", userDataGzip: Buffer.from("") }])),
    ...overrides,
  };
}

describe("validation: every problem at once", () => {
  it("a node group reports each node without bundle, subnet or profile, and nodes of another role", () => {
    expect(validateNodeGroupArgs("etcd", groupArgs("etcd"))).toEqual([]);
    const problems = validateNodeGroupArgs("etcd", groupArgs("etcd", { nodes: [...nodesOf(spec, "etcd"), nodesOf(spec, "postgres")[0]], bundles: {}, subnets: [] }));
    expect(problems).toEqual(expect.arrayContaining(["nodes: db1 is a postgres node, not etcd", "bundles.etcd1: no rendered bundle for node etcd1", "subnets[0]: node etcd1: no subnet #0 in the network"]));
    expect(problems.filter((p) => p.startsWith("bundles."))).toHaveLength(4);
  });

  it("EtcdMembers needs an odd number of members; HaproxyNodes' NLB needs its group; PostgresNodes a sane volume", () => {
    expect(validateEtcdMembersArgs({ ...groupArgs("etcd", { nodes: nodesOf(spec, "etcd").slice(0, 2) }), region: "eu-west-1" })).toEqual(["nodes: needs an odd number of members (postgres-ha:etcd.nodes), got 2"]);
    expect(validateHaproxyNodesArgs({ ...groupArgs("haproxy"), vpcId: "vpc-1", networkLoadBalancer: true })).toEqual([expect.stringMatching(/^loadBalancerSecurityGroupId: /)]);
    expect(validateHaproxyNodesArgs({ ...groupArgs("haproxy"), vpcId: "vpc-1" })).toEqual([]);
    expect(validatePostgresNodesArgs({ ...groupArgs("postgres"), dataVolume: spec.postgres.dataVolume, region: "eu-west-1" })).toEqual([]);
    expect(validatePostgresNodesArgs({ ...groupArgs("postgres"), dataVolume: { sizeGiB: 0, iops: 3000, throughputMiBps: 1.5 }, region: "eu-west-1" })).toHaveLength(2);
    expect(validatePostgresNodesArgs({ ...groupArgs("postgres"), dataVolume: spec.postgres.dataVolume, region: "" })).toEqual([expect.stringMatching(/^region: /)]);
  });

  it("a node group needs its role's security group and a root volume of at least the usual size", () => {
    expect(validateNodeGroupArgs("etcd", groupArgs("etcd", { securityGroupIds: { postgres: "sg-db" } }))).toEqual(["securityGroupIds.etcd: no security group for etcd nodes"]);
    expect(validateNodeGroupArgs("etcd", groupArgs("etcd", { rootVolumeGiB: 8 }))).toEqual([expect.stringMatching(/^rootVolumeGiB: 8 is not an integer ≥ 20/)]);
  });

  it("MonitoringNode: exactly one monitor node; its root volume grows with the TSDB it keeps", () => {
    expect(validateMonitoringNodeArgs(groupArgs("monitor"))).toEqual([]);
    const mon1 = nodesOf(spec, "monitor")[0];
    const twice = groupArgs("monitor", { nodes: [mon1, { ...mon1, name: "mon2" }], bundles: { mon1: { hash: "h", userDataGzip: Buffer.from("") }, mon2: { hash: "h", userDataGzip: Buffer.from("") } }, instanceProfileNames: { mon1: "p", mon2: "p" } });
    expect(validateMonitoringNodeArgs(twice)).toEqual([expect.stringMatching(/^nodes: one monitoring node, got 2 \(mon1, mon2\)/)]);
    expect(validateMonitoringNodeArgs(groupArgs("monitor", { nodes: nodesOf(spec, "etcd").slice(0, 1), bundles: { etcd1: { hash: "h", userDataGzip: Buffer.from("") } }, instanceProfileNames: { etcd1: "p" } }))).toEqual(["nodes: etcd1 is a etcd node, not monitor"]);
    // The shipped defaults (15 s, 15 days) on prod's 9 nodes: 30 GiB; longer retention or faster scrapes: more.
    expect(monitorRootVolumeGiB({ nodes: 9, scrapeIntervalSeconds: 15, retentionDays: 15 })).toBe(MONITOR_ROOT_VOLUME_MIN_GIB);
    expect(monitorRootVolumeGiB({ nodes: 9, scrapeIntervalSeconds: 15, retentionDays: 90 })).toBe(60);
    expect(monitorRootVolumeGiB({ nodes: 9, scrapeIntervalSeconds: 5, retentionDays: 90 })).toBeGreaterThan(monitorRootVolumeGiB({ nodes: 9, scrapeIntervalSeconds: 15, retentionDays: 90 }));
  });

  it("AlertTopic and Alarms: names AWS accepts, no duplicate subscription, one alarm per instance, a custom heartbeat namespace", () => {
    const topic: AlertTopicArgs = { tags: {}, clusterName: "c", stack: "s", topicName: "pgha-c-s-alerts", kmsAliasName: "alias/pgha-c-s-alerts", alertEmails: ["a@example.com"], alertHttpsEndpoints: ["https://hooks.example.com/x"] };
    expect(validateAlertTopicArgs(topic)).toEqual([]);
    expect(validateAlertTopicArgs({ ...topic, topicName: "a.b", kmsAliasName: "alias/aws/sns", alertEmails: ["a@example.com", "a@example.com", "nobody"], alertHttpsEndpoints: ["http://hooks.example.com/x"] })).toEqual([
      expect.stringMatching(/^topicName: "a\.b" is not an SNS topic name/),
      expect.stringMatching(/^kmsAliasName: "alias\/aws\/sns" is not a customer KMS alias/),
      "alertEmails: a@example.com is listed twice",
      'alertEmails: "nobody" is not an email address',
      expect.stringMatching(/^alertHttpsEndpoints: "http:\/\/hooks\.example\.com\/x" is not an https:\/\/ URL/),
    ]);
    const alarms: AlarmsArgs = { tags: {}, topicArn: "arn:t", instances: [{ node: "db1", instanceId: "i-1" }], heartbeat: spec.monitoring.heartbeat };
    expect(validateAlarmsArgs(alarms)).toEqual([]);
    expect(validateAlarmsArgs({ ...alarms, instances: [], heartbeat: { namespace: "AWS/EC2", metricName: "", dimensions: {} } })).toEqual([
      "instances: at least one instance to watch",
      expect.stringMatching(/^heartbeat\.namespace: "AWS\/EC2" is not a custom namespace/),
      "heartbeat.metricName: empty",
    ]);
    expect(validateAlarmsArgs({ ...alarms, instances: [{ node: "db1", instanceId: "i-1" }, { node: "db1", instanceId: "i-2" }] })).toEqual(["nodes: db1 is listed twice"]);
  });

  it("Network: an existing VPC's subnets need ids and AZs", () => {
    const base: NetworkArgs = { tags: {}, clusterName: "c", stack: "s", region: "eu-west-1", vpcCidr: "10.0.0.0/16", subnets: spec.network.subnets, allowedClientCidrs: [], allowedClientSecurityGroupIds: [] };
    expect(validateNetworkArgs(base)).toEqual([]);
    expect(validateNetworkArgs({ ...base, vpcId: "vpc-1" })).toHaveLength(spec.network.subnets.length);
    expect(validateNetworkArgs({ ...base, subnets: [] })).toEqual(["subnets: at least one node subnet"]);
  });

  it("the security rules follow the args: clients go to the NLB's group with networkLoadBalancer", () => {
    const groupsOf = (nlb: boolean) => new Set(securityRules({ allowedClientCidrs: ["10.9.0.0/16"], allowedClientSecurityGroupIds: [], networkLoadBalancer: nlb }).filter((r) => r.peer.kind === "cidr" && r.peer.cidr === "10.9.0.0/16" && r.port === 5000).map((r) => r.group));
    expect(groupsOf(false)).toEqual(new Set(["haproxy"]));
    expect(groupsOf(true)).toEqual(new Set(["loadBalancer"]));
  });

  it("the security rules follow the args: the monitoring node's group and its scrape ports only with monitoring", () => {
    const base = { allowedClientCidrs: ["10.9.0.0/16"], allowedClientSecurityGroupIds: [] };
    const metricsPorts = [9100, 9187, 8405, 9090, 9093];
    expect(securityRules(base).filter((r) => r.group === "monitor" || (r.peer.kind === "group" && r.peer.role === "monitor") || metricsPorts.includes(r.port))).toEqual([]);
    const withMonitoring = securityRules({ ...base, monitoring: true });
    expect(new Set(withMonitoring.filter((r) => r.group === "monitor" && r.direction === "ingress").map((r) => r.port))).toEqual(new Set([9090, 9093, 19532]));
    expect(new Set(withMonitoring.filter((r) => r.group === "monitor" && r.direction === "egress").map((r) => r.port))).toEqual(new Set([9100, 9187, 8008, 2379, 8405, 443, 80]));
  });

  it("the other components", () => {
    const bucket: BackupBucketArgs = { tags: {}, bucketName: "b", kmsKeyArn: "k", repoPath: "/pgbackrest/c", logicalPrefix: "logical/c/", logicalRetentionWeeks: 12, noncurrentVersionRetentionDays: 30 };
    expect(validateBackupBucketArgs(bucket)).toEqual([]);
    expect(validateBackupBucketArgs({ ...bucket, logicalPrefix: "pgbackrest/" })).toEqual([expect.stringMatching(/^logicalPrefix: .*S3 would expire backups/)]);
    expect(validateBackupBucketArgs({ ...bucket, repoPath: "/" })).toEqual([expect.stringMatching(/^repoPath: /)]);
    expect(validateNodeBundlesArgs({ tags: {}, clusterName: "c", bundles: [], software: { tar: Buffer.from(""), sha256: "s" } as never, bucketName: "b", kmsKeyArn: "k", bucketReady: [] })).toEqual(["bundles: at least one node bundle"]);
    const alerting = { topicArn: "arn:t", topicKeyArn: "arn:k", heartbeatNamespace: "PostgresHa" };
    expect(validateNodeRolesArgs({ tags: {}, clusterName: "c", stack: "s", region: "r", nodes: spec.nodes, kmsKeyArn: "k", nodeSecretArns: {}, clusterSecretArn: "c", bucketArn: "b", repoPrefix: "p/", logicalPrefix: "l/", alerting })).toHaveLength(spec.nodes.length);
    // The monitoring node's role publishes alerts: without the topic it cannot be built.
    expect(validateNodeRolesArgs({ tags: {}, clusterName: "c", stack: "s", region: "r", nodes: spec.nodes, kmsKeyArn: "k", nodeSecretArns: Object.fromEntries(spec.nodes.map((n) => [n.name, "a"])), clusterSecretArn: "c", bucketArn: "b", repoPrefix: "p/", logicalPrefix: "l/" })).toEqual([
      "alerting: the monitoring node mon1 needs the alert topic, its key and the heartbeat namespace",
    ]);
    expect(validateNodeRolesArgs({ tags: {}, clusterName: "c", stack: "s", region: "r", nodes: spec.nodes, kmsKeyArn: "k", nodeSecretArns: Object.fromEntries(spec.nodes.map((n) => [n.name, "a"])), clusterSecretArn: "", bucketArn: "b", repoPrefix: "p/", logicalPrefix: "l/", alerting })).toEqual([
      "clusterSecretArn: PostgreSQL nodes' policies need the cluster secret",
    ]);
    expect(validateDnsArgs({ tags: {}, domain: "d.internal", clusterName: "c", stack: "s", region: "r", vpcId: "v", serviceNames: { readWrite: "rw.c.d.internal", readOnly: "ro.c.elsewhere" }, nodes: nodesOf(spec, "etcd") })).toEqual([
      expect.stringMatching(/^nodes: the service names need an NLB or HAProxy nodes/),
      "serviceNames.readOnly: ro.c.elsewhere is not inside the zone d.internal",
    ]);
    expect(validateRolloutArgs({ region: "r", nodes: [], dependsOn: [] })).toEqual(["nodes: a rollout needs at least one node"]);
    const secretsNode = (name: string) => ({ name, role: "etcd" as const, secretName: name, certificate: { name, commonName: name, dnsNames: [], ipAddresses: [], extendedKeyUsages: [], validityDays: 30 } });
    expect(validateSecretsArgs({ tags: {}, clusterName: "c", stack: "s", kmsAliasName: "alias/a", clusterSecretName: "c", caCommonName: "ca", nodes: [secretsNode("etcd1"), secretsNode("etcd1")], renewBeforeDays: 30 })).toEqual([
      "nodes: etcd1 is listed twice",
      expect.stringMatching(/^renewBeforeDays: 30 is not below etcd1's/),
      expect.stringMatching(/^renewBeforeDays: /),
    ]);
  });

  it("throwIfInvalid: nothing with no problem, one ResourceError listing them all otherwise", () => {
    const resource = {} as pulumi.Resource;
    expect(() => throwIfInvalid(resource, "X", [])).not.toThrow();
    expect(() => throwIfInvalid(resource, "X", ["a: one"])).toThrow("X: a: one");
    expect(() => throwIfInvalid(resource, "X", ["a: one", "b: two"])).toThrow("X: \n  - a: one\n  - b: two");
  });
});

describe("under the engine", () => {
  it("a component with bad args fails with every problem, and registers no child", async () => {
    const run = await runProgram({ stack: "dev", program: path.join(__dirname, "fixtures", "bad-etcd-members") });
    expect(run.error?.message).toContain("EtcdMembers:");
    for (const p of ["odd number of members", "bundles.etcd1:", "bundles.etcd2:", "subnets[0]:", "instanceProfileNames.etcd1:", "region:"]) expect(run.error?.message).toContain(p);
    expect(run.resources.map((r) => r.type)).toEqual(["postgres-ha:index:EtcdMembers"]);
  });

  it("createNodeGroup and mergeNodeGroups are what the node groups and the cluster use", () => {
    for (const file of ["etcdMembers.ts", "postgresNodes.ts", "haproxyNodes.ts", "monitoringNode.ts"]) {
      const text = fs.readFileSync(path.join(COMPONENTS, file), "utf8");
      expect(text).toContain("createNodeGroup(this, name, args");
      expect(text).not.toMatch(/for \(const \w+ of (args\.)?nodes\)/);
    }
    expect(fs.readFileSync(path.join(COMPONENTS, "cluster.ts"), "utf8")).toContain("mergeNodeGroups(postgres, etcd, haproxy, ...(monitor ? [monitor] : []))");
    expect(typeof createNodeGroup).toBe("function");
    expect(mergeNodeGroups({ instanceIds: {}, privateIps: { a: "1" }, bundleHashes: {}, resources: [] }, { instanceIds: {}, privateIps: { b: "2" }, bundleHashes: {}, resources: [] }).privateIps).toEqual({ a: "1", b: "2" });
  });
});
