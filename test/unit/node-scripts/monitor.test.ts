// The monitoring node's scripts against a fake node: pgha-setup monitoring (every file checked by
// promtool and amtool before a daemon sees it, the alert topic's account from STS) and
// pgha-monitor (the dead man's switch puts a heartbeat only while the monitoring works).
import { fakeNodes, type FakeNode } from "./harness";
import { asDevNode, devMonitored, nodeEnvValue, renderedFile } from "./fixtures";
import { NODE_PATHS } from "../../../src/node-paths";

jest.setTimeout(120_000); // real processes: seconds each on a busy machine
const node = fakeNodes();
const ACCOUNT = "210987654321";
const PROMETHEUS = "prometheus.service";
const ALERTMANAGER = "prometheus-alertmanager.service";

/** mon1 of the monitored dev stack with its bundle's monitoring files installed. */
function mon1(): FakeNode {
  const n = asDevNode(node(), "mon1");
  for (const p of [NODE_PATHS.prometheusConfig, NODE_PATHS.prometheusRules, NODE_PATHS.alertmanagerTemplate]) n.write(p, renderedFile("mon1", p));
  return n.awsAccount(ACCOUNT);
}

describe("pgha-setup monitoring", () => {
  it("checks both configurations, fills the topic ARN's account from STS, then restarts Prometheus and Alertmanager and starts the heartbeat", () => {
    const n = mon1();
    const r = n.run("pgha-setup", ["monitoring"]);
    expect([r.status, r.stderr]).toEqual([0, expect.stringContaining(`topic account ${ACCOUNT}`)]);
    expect(n.calls("promtool")).toEqual([["check", "config", n.path(NODE_PATHS.prometheusConfig)]]);
    const config = n.read(NODE_PATHS.alertmanagerConfig);
    const topic = devMonitored().spec.monitoring.topicName;
    expect(config).toContain(`topic_arn: arn:aws:sns:eu-west-1:${ACCOUNT}:${topic}`);
    expect(config).not.toContain("@AWS_ACCOUNT_ID@");
    expect(`${n.mode(NODE_PATHS.alertmanagerConfig)} ${n.owner(NODE_PATHS.alertmanagerConfig)}`).toBe("0640 root:prometheus");
    // amtool checked the file before it took the configuration's place.
    expect(n.calls("amtool")).toHaveLength(1);
    expect(n.calls("amtool")[0].slice(0, 1)).toEqual(["check-config"]);
    expect(n.calls("amtool")[0][1]).not.toBe(n.path(NODE_PATHS.alertmanagerConfig));
    expect(n.callLines("systemctl")).toEqual([
      `systemctl --no-reload enable ${PROMETHEUS} ${ALERTMANAGER} pgha-heartbeat.timer`,
      "systemctl daemon-reload",
      `systemctl restart ${PROMETHEUS} ${ALERTMANAGER}`,
      "systemctl start pgha-heartbeat.timer",
    ]);
    expect(n.leftInTmp()).toEqual([]);
  });

  it("a Prometheus configuration promtool refuses, or an Alertmanager one amtool refuses: a failure, nothing restarted, the running configuration kept", () => {
    const p = mon1();
    p.answer("promtool", 'echo "FAILED: parsing YAML file" >&2; exit 1');
    const rp = p.run("pgha-setup", ["monitoring"]);
    expect([rp.status, rp.stderr]).toEqual([1, expect.stringContaining(`promtool refuses ${NODE_PATHS.prometheusConfig}: Prometheus keeps its configuration`)]);
    expect(p.callLines("systemctl")).toEqual([]);

    const a = mon1().write(NODE_PATHS.alertmanagerConfig, "# the running one\n", 0o640);
    a.answer("amtool", 'echo "Checking failed" >&2; exit 1');
    const ra = a.run("pgha-setup", ["monitoring"]);
    expect([ra.status, ra.stderr]).toEqual([1, expect.stringContaining("amtool refuses the Alertmanager configuration: Alertmanager keeps its configuration")]);
    expect(a.read(NODE_PATHS.alertmanagerConfig)).toBe("# the running one\n");
    expect(a.callLines("systemctl")).toEqual([]);
    expect(a.list(NODE_PATHS.alertmanagerConfig.replace(/\/[^/]+$/, "")).filter((f) => f.startsWith("alertmanager-pgha.yml."))).toEqual([]);
  });

  it("without credentials STS names no account: retried, then a failure that says the topic's ARN is unknown", () => {
    const n = mon1().awsAccount(undefined);
    const r = n.run("pgha-setup", ["monitoring"]);
    expect([r.status, r.stderr]).toEqual([1, expect.stringContaining("STS did not name this node's AWS account (sts get-caller-identity): the alert topic's ARN is unknown")]);
    expect(n.calls("sleep").length).toBeGreaterThan(2);
    expect(n.exists(NODE_PATHS.alertmanagerConfig)).toBe(false);
    expect(n.callLines("systemctl")).toEqual([]);
  });

  it("on any other role: nothing to do", () => {
    const n = asDevNode(node(), "db1");
    expect(n.run("pgha-setup", ["monitoring"]).status).toBe(0);
    expect(n.calls("promtool")).toEqual([]);
    expect(n.callLines("systemctl")).toEqual([]);
  });
});

describe("pgha-monitor", () => {
  const prometheus = new URL(nodeEnvValue("mon1", "PGHA_PROMETHEUS_URL"));
  const evaluated = (ageSeconds: number) => ({ status: "success", data: { resultType: "vector", result: [{ metric: {}, value: [1_700_000_000, String(ageSeconds)] }] } });

  it("heartbeat: Prometheus evaluated its rules recently and Alertmanager is ready → one datapoint of the stack's heartbeat metric", () => {
    const n = mon1().http("POST", "/api/v1/query", evaluated(12.5)).http("GET", "/-/ready", "OK");
    const r = n.run("pgha-monitor", ["heartbeat"]);
    expect([r.status, r.stderr]).toEqual([0, ""]);
    const h = devMonitored().spec.monitoring.heartbeat;
    expect(n.metricData()).toEqual([`--namespace ${h.namespace} --metric-name ${h.metricName} --dimensions Stack=dev,Cluster=main --value 1 --unit Count`]);
    // The query asked for the age of the newest rule evaluation, over TLS with the node's certificate.
    expect(decodeURIComponent(n.httpRequest("POST", "/api/v1/query")!)).toBe("query=time() - max(prometheus_rule_group_last_evaluation_timestamp_seconds)");
    expect(n.calls("curl")[0]).toEqual(expect.arrayContaining(["--cert", n.path("/etc/pgha/tls/node.crt"), `${prometheus.origin}/api/v1/query`]));
  });

  it("no heartbeat when the rules were last evaluated more than three scrape intervals ago, when Alertmanager is not ready, or when Prometheus does not answer — each said", () => {
    const interval = Number(nodeEnvValue("mon1", "PGHA_SCRAPE_INTERVAL_SECONDS"));
    const cases: [FakeNode, string][] = [
      [mon1().http("POST", "/api/v1/query", evaluated(3 * interval + 1)).http("GET", "/-/ready", "OK"), `Prometheus evaluated its rules ${3 * interval + 1} s ago (more than ${3 * interval} s: three scrape intervals)`],
      [mon1().http("POST", "/api/v1/query", evaluated(1)).http("GET", "/-/ready", "not ready", 503), "Alertmanager is not ready"],
      [mon1().http("GET", "/-/ready", "OK"), "Prometheus does not answer"],
      [mon1().http("POST", "/api/v1/query", { status: "success", data: { result: [] } }).http("GET", "/-/ready", "OK"), "Prometheus has evaluated no rule group yet"],
    ];
    for (const [n, why] of cases) {
      const r = n.run("pgha-monitor", ["heartbeat"]);
      expect([r.status, r.stderr]).toEqual([1, expect.stringContaining(`no heartbeat: ${why}`)]);
      expect(n.metricData()).toEqual([]);
    }
  });

  it("check prints the state; CloudWatch refusing the metric fails the heartbeat naming the permission; another role is refused", () => {
    const n = mon1().http("POST", "/api/v1/query", evaluated(3)).http("GET", "/-/ready", "OK");
    const c = n.run("pgha-monitor", ["check"]);
    expect([c.status, c.stdout.trim()]).toEqual([0, "Prometheus evaluated its rules 3 s ago; Alertmanager is ready"]);
    n.write("/../aws/cloudwatch-refuses", ""); // beside the fake node's root: the fake AWS's switch
    const r = n.run("pgha-monitor", ["heartbeat"]);
    expect([r.status, r.stderr]).toEqual([1, expect.stringContaining("CloudWatch refused the heartbeat (instance role: cloudwatch:PutMetricData on PostgresHa)")]);
    const db = asDevNode(node(), "db1");
    const d = db.run("pgha-monitor", ["heartbeat"]);
    expect([d.status, d.stderr]).toEqual([2, expect.stringContaining("this is a postgres node: pgha-monitor runs on the monitoring node")]);
  });
});

describe("pgha-setup logs (central logs)", () => {
  const UPLOAD = "systemd-journal-upload.service";
  const REMOTE = ["systemd-journal-remote.service", "systemd-journal-remote.socket", "pgha-journal-vacuum.timer"];
  const USERS = "root postgres etcd haproxy prometheus systemd-journal-upload systemd-journal-remote";
  const monitoredFile = (n: string, p: string) => devMonitored().bundles.find((b) => b.node === n)!.files.find((f) => f.path === p)!.content;
  /** A node of the monitored dev stack with its bundle's log files, its users and key copies. */
  function withLogs(name: string): FakeNode {
    const n = node().write(NODE_PATHS.nodeEnv, monitoredFile(name, NODE_PATHS.nodeEnv)).awsEnv();
    const paths = [NODE_PATHS.journalUploadConf, NODE_PATHS.journalUploadDropIn, ...(name === "mon1" ? [NODE_PATHS.journalRemoteConf, NODE_PATHS.journalRemoteSocketDropIn] : [])];
    for (const p of paths) n.write(p, monitoredFile(name, p));
    n.write("/etc/passwd", "root:x:0:0::/root:/bin/bash\nsystemd-journal-upload:x:990:990::/nonexistent:/usr/sbin/nologin\n");
    n.write(NODE_PATHS.journalUploadKey, "key\n", 0o600);
    if (name === "mon1") n.write(NODE_PATHS.journalRemoteKey, "key\n", 0o600);
    return n;
  }
  const changes = (n: FakeNode) => n.callLines("systemctl").filter((c) => !c.includes(" is-"));

  it("a node with the upload configuration: journal-upload enabled and restarted; the receiver's units, which the package installs everywhere, stopped", () => {
    const n = withLogs("db1");
    n.unitActive("systemd-journal-remote.socket");
    const r = n.run("pgha-setup", ["logs"], { env: { PGHA_TEST_USERS: USERS } });
    expect([r.status, r.stderr]).toEqual([0, expect.stringContaining("journal-upload sending this node's journal to the monitoring node")]);
    expect(changes(n)).toEqual(["systemctl --no-reload disable --now systemd-journal-remote.socket", `systemctl --no-reload enable ${UPLOAD}`, "systemctl daemon-reload", `systemctl restart ${UPLOAD}`]);
    expect(n.calls("useradd")).toEqual([]);
  });

  it("mon1: journal-remote's socket restarted on its private address (the service stopped first, started after), the vacuum timer on, the directory journal-remote's", () => {
    const n = withLogs("mon1");
    const r = n.run("pgha-setup", ["logs"], { env: { PGHA_TEST_USERS: USERS } });
    expect([r.status, r.stderr]).toEqual([0, expect.stringContaining(`journal-remote receiving every node's journal on ${nodeEnvValue("mon1", "PGHA_ADDRESS")}:19532`)]);
    expect(changes(n)).toEqual([
      `systemctl --no-reload enable systemd-journal-remote.socket pgha-journal-vacuum.timer`,
      "systemctl daemon-reload",
      "systemctl stop systemd-journal-remote.socket systemd-journal-remote.service",
      "systemctl start systemd-journal-remote.socket",
      "systemctl start systemd-journal-remote.service pgha-journal-vacuum.timer",
      `systemctl --no-reload enable ${UPLOAD}`,
      "systemctl daemon-reload",
      `systemctl restart ${UPLOAD}`,
    ]);
    expect(`${n.mode(NODE_PATHS.journalRemoteDir)} ${n.owner(NODE_PATHS.journalRemoteDir)}`).toBe("0755 systemd-journal-remote:systemd-journal-remote");
    // Without the package's user journal-remote cannot run: said, and a failure.
    const none = withLogs("mon1");
    const f = none.run("pgha-setup", ["logs"], { env: { PGHA_TEST_USERS: "root prometheus systemd-journal-upload" } });
    expect([f.status, f.stderr]).toEqual([1, expect.stringContaining("no systemd-journal-remote user: the systemd-journal-remote package is not installed")]);
  });

  it("no static systemd-journal-upload user (Debian's unit makes it a DynamicUser): created, so the key copy can be its own", () => {
    const n = withLogs("lb1").write("/etc/passwd", "root:x:0:0::/root:/bin/bash\n");
    expect(n.run("pgha-setup", ["logs"], { env: { PGHA_TEST_USERS: USERS } }).status).toBe(0);
    expect(n.calls("useradd")).toEqual([["--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", "systemd-journal-upload"]]);
  });

  it("a bundle without central logs (no monitoring node): every unit of the package stopped and disabled, then nothing the second time", () => {
    const n = asDevNode(node(), "db1");
    for (const u of [UPLOAD, ...REMOTE]) n.unitActive(u);
    expect(n.run("pgha-setup", ["logs"]).status).toBe(0);
    expect(changes(n)).toEqual([UPLOAD, ...REMOTE].map((u) => `systemctl --no-reload disable --now ${u}`).concat("systemctl daemon-reload"));
    n.clearCalls();
    expect(n.run("pgha-setup", ["logs"]).status).toBe(0);
    expect(changes(n)).toEqual([]);
  });
});
