// The AWS side of the monitoring node (issue 12), under mocks: with monitoring.enabled (prod, with
// two alert emails and a pager's HTTPS endpoint from test/program/fixtures/monitoring-alerts.ts)
// the stack has a KMS-encrypted SNS topic and its subscriptions, a StatusCheckFailed alarm per
// instance and the dead man's switch on the monitoring node's heartbeat, the monitoring node
// itself with its own security group (the only source of scrapes) and an instance role that may
// publish alerts and put the heartbeat, and nothing more. dev (monitoring off) has none of it.
import { PORTS, nodesOf, type ClusterSpec } from "../../src/spec";
import { TYPES, policyOf, runProgram, specOf, type ProgramRun, type RecordedResource } from "../helpers/mocks";
import { ALERT_EMAILS, ALERT_HTTPS_ENDPOINTS, MONITORING_OVERRIDES } from "./fixtures/monitoring-alerts";

const T = {
  topic: "aws:sns/topic:Topic",
  topicPolicy: "aws:sns/topicPolicy:TopicPolicy",
  subscription: "aws:sns/topicSubscription:TopicSubscription",
  alarm: "aws:cloudwatch/metricAlarm:MetricAlarm",
} as const;

const LABEL: Record<string, string> = { postgres: "db", etcd: "etcd", haproxy: "lb", monitor: "mon", loadBalancer: "nlb" };
/** Ports only the monitoring node may reach (metrics), or that only the clients reach on it (its UIs). */
const METRICS_PORTS = [PORTS.nodeExporter, PORTS.postgresExporter, PORTS.haproxyMetrics, PORTS.prometheus, PORTS.alertmanager];

const nodeOf = (r: RecordedResource) => r.inputs.tags?.["pgha:node"] as string;
const roleOf = (r: RecordedResource) => r.inputs.tags?.["pgha:role"] as string;
const inAlertTopic = (r: RecordedResource) => r.urn.includes("postgres-ha:index:AlertTopic");

describe("prod with monitoring and alert subscriptions", () => {
  let run: ProgramRun;
  let spec: ClusterSpec;
  let topic: RecordedResource;
  let alertKey: RecordedResource;
  let instances: RecordedResource[];

  beforeAll(async () => {
    run = await runProgram({ stack: "prod", overrides: MONITORING_OVERRIDES });
    if (run.error) throw run.error;
    spec = specOf(run);
    const topics = run.ofType(T.topic);
    expect(topics).toHaveLength(1);
    topic = topics[0];
    const keys = run.ofType(TYPES.kmsKey).filter(inAlertTopic);
    expect(keys).toHaveLength(1);
    alertKey = keys[0];
    instances = run.ofType(TYPES.instance);
  });

  it("the spec has the monitoring node and the fixture's subscribers", () => {
    expect(spec.monitoring).toMatchObject({ enabled: true, alertEmails: ALERT_EMAILS, alertHttpsEndpoints: ALERT_HTTPS_ENDPOINTS });
    expect(nodesOf(spec, "monitor").map((n) => n.name)).toEqual(["mon1"]);
  });

  it("the topic: named as the spec says (the node builds its ARN from the name), encrypted with its own rotating KMS key", () => {
    expect(topic.inputs.name).toBe(spec.monitoring.topicName);
    expect(topic.inputs.name).toBe(`pgha-${spec.names.prefix}-alerts`);
    expect(topic.inputs.kmsMasterKeyId).toBe(alertKey.state.arn);
    expect(alertKey.inputs.enableKeyRotation).toBe(true);
    // Not the cluster key: CloudWatch may use this one, never the one of the secrets and backups.
    const clusterKey = run.ofType(TYPES.kmsKey).find((k) => k.urn.includes("postgres-ha:index:Secrets"))!;
    expect(alertKey.state.arn).not.toBe(clusterKey.state.arn);
    expect(clusterKey.inputs.policy).toBeUndefined();
    // prod keeps it: a key scheduled for deletion would silently stop every alert.
    expect(alertKey.options.protect).toBe(true);
    expect(alertKey.inputs.deletionWindowInDays).toBe(30);
    const alias = run.ofType(TYPES.kmsAlias).filter(inAlertTopic);
    expect(alias.map((a) => [a.inputs.name, a.inputs.targetKeyId])).toEqual([[`alias/${spec.monitoring.topicName}`, alertKey.state.keyId]]);
  });

  it("the key policy: the account administers it, CloudWatch (alarms → the encrypted topic) may decrypt and generate data keys", () => {
    expect(policyOf(alertKey.inputs.policy).Statement).toEqual([
      { Sid: "AccountAdministers", Effect: "Allow", Principal: { AWS: "arn:aws:iam::123456789012:root" }, Action: "kms:*", Resource: "*" },
      { Sid: "CloudWatchAlarmsPublish", Effect: "Allow", Principal: { Service: "cloudwatch.amazonaws.com" }, Action: ["kms:Decrypt", "kms:GenerateDataKey*"], Resource: "*" },
    ]);
  });

  it("the topic policy: CloudWatch alarms of this account only may publish", () => {
    const policies = run.ofType(T.topicPolicy);
    expect(policies).toHaveLength(1);
    expect(policies[0].inputs.arn).toBe(topic.state.arn);
    expect(policies[0].parent).toBe(topic.urn);
    expect(policyOf(policies[0].inputs.policy).Statement).toEqual([
      {
        Sid: "CloudWatchAlarmsPublish",
        Effect: "Allow",
        Principal: { Service: "cloudwatch.amazonaws.com" },
        Action: "sns:Publish",
        Resource: topic.state.arn,
        Condition: { StringEquals: { "aws:SourceAccount": "123456789012" } },
      },
    ]);
  });

  it("one subscription per configured email (email) and HTTPS endpoint (https), on the topic", () => {
    const subscriptions = run.ofType(T.subscription);
    expect(subscriptions.map((s) => [s.inputs.protocol, s.inputs.endpoint]).sort()).toEqual(
      [...ALERT_EMAILS.map((e) => ["email", e]), ...ALERT_HTTPS_ENDPOINTS.map((u) => ["https", u])].sort(),
    );
    for (const s of subscriptions) {
      expect(s.inputs.topic).toBe(topic.state.arn);
      expect(s.parent).toBe(topic.urn);
    }
    // Named by the endpoint, not its position: removing one address leaves the others' URNs alone.
    expect(new Set(subscriptions.map((s) => s.name)).size).toBe(3);
  });

  it("without subscribers (prod as shipped) the topic has none — and nothing else changes", async () => {
    const shipped = await runProgram({ stack: "prod" });
    expect(shipped.ofType(T.subscription)).toHaveLength(0);
    const urns = (r: ProgramRun) => r.resources.filter((x) => x.type !== T.subscription).map((x) => x.urn).sort();
    expect(urns(shipped)).toEqual(urns(run));
  });

  it("a StatusCheckFailed alarm per instance, the monitoring node's included, paging through the topic on ALARM and OK", () => {
    const alarms = run.ofType(T.alarm).filter((a) => a.inputs.namespace === "AWS/EC2");
    expect(instances.map(nodeOf).sort()).toEqual(spec.nodes.map((n) => n.name).sort());
    expect(instances.map(nodeOf)).toContain("mon1");
    expect(alarms).toHaveLength(instances.length);
    for (const i of instances) {
      const mine = alarms.filter((a) => a.inputs.dimensions?.InstanceId === i.id);
      expect([nodeOf(i), mine.length]).toEqual([nodeOf(i), 1]);
      expect(mine[0].inputs).toMatchObject({
        name: `${spec.names.prefix}-${nodeOf(i)}-status-check`,
        namespace: "AWS/EC2",
        metricName: "StatusCheckFailed",
        dimensions: { InstanceId: i.id },
        statistic: "Maximum",
        period: 60,
        evaluationPeriods: 2,
        threshold: 1,
        comparisonOperator: "GreaterThanOrEqualToThreshold",
        alarmActions: [topic.state.arn],
        okActions: [topic.state.arn],
      });
      expect(mine[0].inputs.tags).toMatchObject({ "pgha:cluster": spec.clusterName, "pgha:stack": spec.stack, "pgha:node": nodeOf(i) });
    }
  });

  it("the dead man's switch: no heartbeat (Sum < 1) for 5 one-minute periods, missing data breaching → the topic", () => {
    const heartbeat = run.ofType(T.alarm).filter((a) => a.inputs.namespace === spec.monitoring.heartbeat.namespace);
    expect(heartbeat).toHaveLength(1);
    const h = spec.monitoring.heartbeat;
    expect(h).toEqual({ namespace: "PostgresHa", metricName: "MonitoringHeartbeat", dimensions: { Stack: "prod", Cluster: "orders" } });
    expect(heartbeat[0].inputs).toMatchObject({
      namespace: h.namespace,
      metricName: h.metricName,
      dimensions: h.dimensions,
      statistic: "Sum",
      period: 60,
      evaluationPeriods: 5,
      threshold: 1,
      comparisonOperator: "LessThanThreshold",
      treatMissingData: "breaching",
      alarmActions: [topic.state.arn],
      okActions: [topic.state.arn],
    });
    // Created once the monitoring node exists (it starts in ALARM until the node's first heartbeat).
    const mon1 = instances.find((i) => nodeOf(i) === "mon1")!;
    expect(heartbeat[0].options.dependencies).toContain(mon1.urn);
  });

  it("the monitoring node: its own group only, a 30 GiB encrypted root volume for the TSDB, no data volume, boots after its pointer, in the rollout", () => {
    const mon1 = instances.find((i) => nodeOf(i) === "mon1")!;
    const node = nodesOf(spec, "monitor")[0];
    expect(roleOf(mon1)).toBe("monitor");
    expect(mon1.urn).toContain("postgres-ha:index:MonitoringNode");
    expect(mon1.inputs).toMatchObject({ instanceType: "t4g.small", privateIp: node.privateIp, associatePublicIpAddress: false, monitoring: true });
    expect(node.privateIp).toMatch(/\.50$/);
    expect(mon1.inputs.rootBlockDevice).toMatchObject({ volumeType: "gp3", volumeSize: 30, encrypted: true });
    const groups = new Map(run.ofType(TYPES.securityGroup).map((g) => [g.id, LABEL[g.inputs.tags["pgha:role"]]]));
    expect(mon1.inputs.vpcSecurityGroupIds.map((id: string) => groups.get(id))).toEqual(["mon"]);
    expect(run.ofType(TYPES.volumeAttachment).filter((a) => a.inputs.instanceId === mon1.id)).toEqual([]);
    const pointer = run.ofType(TYPES.bucketObject).find((o) => o.inputs.key.endsWith("/nodes/mon1/desired.json"))!;
    expect(mon1.options.dependencies).toContain(pointer.urn);
    const rollout = run.ofType(TYPES.localCommand)[0];
    expect(JSON.parse(rollout.inputs.environment.PGHA_ROLLOUT_PLAN).nodes).toContainEqual(expect.objectContaining({ name: "mon1", role: "monitor", instanceId: mon1.id }));
    expect(rollout.options.dependencies).toContain(mon1.urn);
  });

  it("the monitoring node's security group: exactly its scrapes out, its UIs in from the clients, every node's journal upload in, the internet as every node", () => {
    const groups = run.ofType(TYPES.securityGroup);
    const label = new Map(groups.map((g) => [g.id, LABEL[g.inputs.tags["pgha:role"]]]));
    const mon = groups.find((g) => g.inputs.tags["pgha:role"] === "monitor")!;
    expect(mon.inputs.description).toContain("monitoring node");
    const rule = (r: RecordedResource, dir: "in" | "out") => `${dir} ${r.inputs.fromPort} ${dir === "in" ? "from" : "to"} ${r.inputs.cidrIpv4 ?? label.get(r.inputs.referencedSecurityGroupId) ?? r.inputs.referencedSecurityGroupId}`;
    const of = (type: string, dir: "in" | "out") => run.ofType(type).filter((r) => r.inputs.securityGroupId === mon.id).map((r) => rule(r, dir));
    const c = spec.network.allowedClientCidrs[0];
    expect(spec.network.allowedClientCidrs).toEqual([c]);
    expect([...of(TYPES.ingress, "in"), ...of(TYPES.egress, "out")].sort()).toEqual(
      [
        `in 9090 from ${c}`, `in 9093 from ${c}`,
        "in 19532 from db", "in 19532 from etcd", "in 19532 from lb",
        "out 9100 to db", "out 9187 to db", "out 8008 to db",
        "out 9100 to etcd", "out 2379 to etcd",
        "out 9100 to lb", "out 8405 to lb",
        "out 443 to 0.0.0.0/0", "out 80 to 0.0.0.0/0",
      ].sort(),
    );
    for (const r of [...run.ofType(TYPES.ingress), ...run.ofType(TYPES.egress)]) {
      expect(r.inputs.fromPort).toBe(r.inputs.toPort);
      expect(r.inputs.ipProtocol).toBe("tcp");
    }
  });

  it("no other group admits a metrics port (9100, 9187, 8405) but from mon, nor mon's UIs (9090, 9093) but from the clients", () => {
    const groups = run.ofType(TYPES.securityGroup);
    const label = new Map(groups.map((g) => [g.id, LABEL[g.inputs.tags["pgha:role"]]]));
    const clients = new Set(spec.network.allowedClientCidrs);
    const covers = (r: RecordedResource, port: number) => r.inputs.fromPort <= port && port <= r.inputs.toPort;
    for (const r of run.ofType(TYPES.ingress)) {
      const group = label.get(r.inputs.securityGroupId);
      const from = r.inputs.cidrIpv4 ?? label.get(r.inputs.referencedSecurityGroupId) ?? r.inputs.referencedSecurityGroupId;
      for (const port of METRICS_PORTS.filter((p) => covers(r, p))) {
        if (port === PORTS.prometheus || port === PORTS.alertmanager) expect([group, port, clients.has(from)]).toEqual(["mon", port, true]);
        else expect([group, port, from]).toEqual([group, port, "mon"]);
      }
    }
    const fromMon = run.ofType(TYPES.ingress).filter((r) => label.get(r.inputs.referencedSecurityGroupId) === "mon").map((r) => `${label.get(r.inputs.securityGroupId)} ${r.inputs.fromPort}`);
    expect(fromMon.sort()).toEqual(["db 9100", "db 9187", "db 8008", "etcd 9100", "etcd 2379", "lb 9100", "lb 8405"].sort());
  });

  it("central logs: every node group may send to mon on 19532 (egress there, ingress on mon), and nothing else admits 19532", () => {
    const groups = run.ofType(TYPES.securityGroup);
    const label = new Map(groups.map((g) => [g.id, LABEL[g.inputs.tags["pgha:role"]]]));
    const peer = (r: RecordedResource) => r.inputs.cidrIpv4 ?? label.get(r.inputs.referencedSecurityGroupId) ?? r.inputs.referencedSecurityGroupId;
    const on = (type: string) => run.ofType(type).filter((r) => r.inputs.fromPort <= PORTS.journalRemote && PORTS.journalRemote <= r.inputs.toPort).map((r) => `${label.get(r.inputs.securityGroupId)} ${peer(r)}`);
    expect(PORTS.journalRemote).toBe(19532);
    expect(on(TYPES.ingress).sort()).toEqual(["mon db", "mon etcd", "mon lb"]);
    expect(on(TYPES.egress).sort()).toEqual(["db mon", "etcd mon", "lb mon"]);
  });

  it("the monitoring node's role: its bundles, its node secret, SSM — plus publishing to the topic, its key through SNS, the heartbeat's namespace; nothing else", () => {
    const role = run.ofType(TYPES.role).find((r) => r.inputs.tags["pgha:node"] === "mon1")!;
    const attachments = run.ofType(TYPES.rolePolicyAttachment).filter((a) => a.parent === role.urn);
    expect(attachments.map((a) => a.inputs.policyArn)).toEqual(["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"]);
    const policies = run.ofType(TYPES.rolePolicy).filter((p) => p.parent === role.urn);
    expect(policies).toHaveLength(1);
    const bucketArn = run.ofType(TYPES.bucket).find((b) => !b.urn.includes("SecondRegionRepository"))!.state.arn;
    const nodeSecretArn = run.ofType(TYPES.secret).find((s) => s.inputs.name === spec.names.nodeSecret.mon1)!.state.arn;
    const clusterKeyArn = run.ofType(TYPES.kmsKey).find((k) => k.urn.includes("postgres-ha:index:Secrets"))!.state.arn;
    const r = spec.region;
    expect(policyOf(policies[0].inputs.policy).Statement).toEqual([
      { Sid: "ReadOwnSecrets", Effect: "Allow", Action: ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"], Resource: [nodeSecretArn] },
      { Sid: "UseClusterKey", Effect: "Allow", Action: ["kms:Decrypt"], Resource: clusterKeyArn, Condition: { StringEquals: { "kms:ViaService": [`secretsmanager.${r}.amazonaws.com`, `s3.${r}.amazonaws.com`] } } },
      { Sid: "ReadOwnBundles", Effect: "Allow", Action: ["s3:GetObject"], Resource: [`${bucketArn}/bundles/${spec.clusterName}/nodes/mon1/*`, `${bucketArn}/bundles/${spec.clusterName}/software/*`] },
      { Sid: "PublishAlerts", Effect: "Allow", Action: ["sns:Publish"], Resource: topic.state.arn },
      { Sid: "UseAlertTopicKey", Effect: "Allow", Action: ["kms:GenerateDataKey*", "kms:Decrypt"], Resource: alertKey.state.arn, Condition: { StringEquals: { "kms:ViaService": [`sns.${r}.amazonaws.com`] } } },
      { Sid: "PutHeartbeat", Effect: "Allow", Action: ["cloudwatch:PutMetricData"], Resource: "*", Condition: { StringEquals: { "cloudwatch:namespace": "PostgresHa" } } },
    ]);
    // The node boots once that policy exists (Alertmanager publishes from its first minute).
    const mon1 = instances.find((i) => nodeOf(i) === "mon1")!;
    expect(mon1.options.dependencies).toContain(policies[0].urn);
  });

  it("no other node's role may publish alerts, use the topic's key or put metrics", () => {
    for (const p of run.ofType(TYPES.rolePolicy)) {
      const role = run.byUrn(p.parent!)!;
      if (role.inputs.tags["pgha:node"] === "mon1") continue;
      const doc = policyOf(p.inputs.policy);
      for (const s of doc.Statement) {
        for (const a of [s.Action].flat() as string[]) expect([role.name, a]).toEqual([role.name, expect.not.stringMatching(/^(sns|cloudwatch):/)]);
        for (const res of [s.Resource].flat() as string[]) expect([role.name, res]).not.toEqual([role.name, alertKey.state.arn]);
      }
    }
  });

  it("every new resource carries the stack's tags", () => {
    for (const r of [alertKey, topic, ...run.ofType(T.alarm), ...instances.filter((i) => nodeOf(i) === "mon1")]) {
      expect([r.name, r.inputs.tags]).toEqual([r.name, expect.objectContaining({ Name: expect.any(String), "pgha:cluster": "orders", "pgha:stack": "prod", "pgha:tier": "prod" })]);
    }
  });

  it("outputs: the topic's ARN, Prometheus's and Alertmanager's URLs on the monitoring node", () => {
    const ip = nodesOf(spec, "monitor")[0].privateIp;
    expect(run.outputs.alertTopicArn).toBe(topic.state.arn);
    expect(run.outputs.monitoring).toEqual({ prometheusUrl: `https://${ip}:9090`, alertmanagerUrl: `https://${ip}:9093` });
  });
});

describe("dev (monitoring off)", () => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram({ stack: "dev" });
    if (run.error) throw run.error;
  });

  it("has no monitoring node, topic, subscription, alarm, alert key or mon group", () => {
    const spec = specOf(run);
    expect(spec.monitoring.enabled).toBe(false);
    expect(nodesOf(spec, "monitor")).toEqual([]);
    expect(run.ofType(TYPES.instance).map(roleOf).sort()).toEqual(["etcd", "haproxy", "postgres"]);
    for (const type of Object.values(T)) expect([type, run.ofType(type)]).toEqual([type, []]);
    expect(run.ofType(TYPES.kmsKey)).toHaveLength(1);
    expect(run.ofType(TYPES.securityGroup).map((g) => g.inputs.tags["pgha:role"]).sort()).toEqual(["etcd", "haproxy", "postgres"]);
    for (const t of ["AlertTopic", "Alarms", "MonitoringNode"]) expect(run.resources.filter((r) => r.type === `postgres-ha:index:${t}`)).toEqual([]);
    for (const r of run.ofType(TYPES.ingress)) expect(METRICS_PORTS).not.toContain(r.inputs.fromPort);
    for (const p of run.ofType(TYPES.rolePolicy)) for (const s of policyOf(p.inputs.policy).Statement) for (const a of [s.Action].flat() as string[]) expect(a).not.toMatch(/^(sns|cloudwatch):/);
  });

  it("outputs the topic and monitoring URLs as null", () => {
    expect(run.outputs.alertTopicArn).toBeNull();
    expect(run.outputs.monitoring).toBeNull();
  });
});
