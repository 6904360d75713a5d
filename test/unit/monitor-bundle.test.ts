// The monitoring node in the spec and in its bundle (issue 12): mon1 exists exactly when
// monitoring.enabled, and its files run Prometheus and Alertmanager on its private address only,
// with the stack's rules, retention and topic — the same on EC2 and in the sandbox but for the
// SNS endpoint.
import YAML from "yaml";
import { loadStackConfig } from "../../src/config/load";
import { buildSpec, nodesOf, PORTS, type ClusterSpec } from "../../src/spec";
import { ec2Layout, sandboxLayout } from "../../src/layout";
import { renderNodeFiles } from "../../src/render/bundle/node-files";
import { NODE_PATHS } from "../../src/node-paths";
import { alertRules } from "../../src/monitoring/alerts";
import { metricsTargets } from "../../src/metrics/targets";
import { nodeCertificateProfiles } from "../../src/tls/profile";

function specFor(tier: string, monitoring?: object): ClusterSpec {
  const raw: Record<string, string> = { "aws:region": "eu-west-1", "postgres-ha:tier": tier };
  if (monitoring) raw["postgres-ha:monitoring"] = JSON.stringify(monitoring);
  return buildSpec(loadStackConfig(raw, { stack: tier }), tier);
}

describe("the monitoring node in the spec", () => {
  it("staging and prod have mon1 (offset .50 of the first subnet); dev only when monitoring.enabled", () => {
    for (const tier of ["staging", "prod"]) {
      const s = specFor(tier);
      expect(nodesOf(s, "monitor").map((n) => [n.name, n.privateIp, n.instanceType])).toEqual([["mon1", "10.20.0.50", "t4g.small"]]);
    }
    expect(nodesOf(specFor("dev"), "monitor")).toEqual([]);
    const on = specFor("dev", { enabled: true, instanceType: "t4g.medium", retentionDays: 30 });
    expect(nodesOf(on, "monitor").map((n) => n.instanceType)).toEqual(["t4g.medium"]);
    expect(on.monitoring).toMatchObject({ topicName: "pgha-main-dev-alerts", retentionDays: 30, heartbeat: { dimensions: { Stack: "dev", Cluster: "main" } } });
  });

  it("mon1's certificate names mon1 only: not the rw/ro service names the PostgreSQL and HAProxy nodes answer for", () => {
    const s = specFor("prod");
    const p = nodeCertificateProfiles(s, ec2Layout(s)).find((x) => x.name === "mon1")!;
    expect(p.dnsNames).toEqual(["mon1", `mon1.${s.clusterName}.${s.network.domain}`, "localhost"]);
    expect(p.ipAddresses).toEqual(["10.20.0.50", "127.0.0.1"]);
  });

  it("bad monitoring input is refused naming the key, the value and what is allowed", () => {
    const bad = (m: object) => () => specFor("prod", m);
    expect(bad({ scrapeIntervalSeconds: 1 })).toThrow(/monitoring\.scrapeIntervalSeconds.*1.*an integer 5–300/s);
    expect(bad({ alertEmails: ["not-an-address"] })).toThrow(/monitoring\.alertEmails.*not-an-address.*email addresses/s);
    expect(bad({ alertHttpsEndpoints: ["http://pager.example.com/hook"] })).toThrow(/monitoring\.alertHttpsEndpoints.*http:\/\/pager.*https:\/\/ URLs/s);
  });
});

describe("mon1's bundle", () => {
  const spec = specFor("prod", { retentionDays: 21 });
  for (const layout of [ec2Layout(spec), sandboxLayout(spec)]) {
    describe(`${layout.kind} layout`, () => {
      const files = renderNodeFiles(spec, "mon1", layout);
      const content = (p: string) => files.find((f) => f.path === p)!.content;
      const address = layout.addresses.mon1;

      it("carries Prometheus's configuration, the rules, Alertmanager's template, both drop-ins and the heartbeat; a change runs pgha-setup monitoring", () => {
        for (const p of [NODE_PATHS.prometheusConfig, NODE_PATHS.prometheusRules, NODE_PATHS.alertmanagerTemplate, NODE_PATHS.prometheusDropIn, NODE_PATHS.alertmanagerDropIn]) {
          expect([p, files.find((f) => f.path === p)?.onChange.includes("monitoring")]).toEqual([p, true]);
        }
        expect(files.map((f) => f.path)).toEqual(expect.arrayContaining([NODE_PATHS.heartbeatService, NODE_PATHS.heartbeatTimer, NODE_PATHS.nodeExporterDropIn]));
        const rules = YAML.parse(content(NODE_PATHS.prometheusRules)) as { groups: { rules: { alert: string }[] }[] };
        expect(rules.groups[0].rules.map((r) => r.alert)).toEqual(alertRules(spec).map((r) => r.name));
        const prom = YAML.parse(content(NODE_PATHS.prometheusConfig)) as { rule_files: string[]; scrape_configs: { static_configs: unknown[] }[]; alerting: { alertmanagers: { scheme: string; static_configs: { targets: string[] }[] }[] } };
        expect(prom.rule_files).toEqual([NODE_PATHS.prometheusRules]);
        expect(prom.scrape_configs.reduce((n, j) => n + j.static_configs.length, 0)).toBe(metricsTargets(spec, layout).length);
        expect(prom.alerting.alertmanagers).toEqual([expect.objectContaining({ scheme: "https", static_configs: [{ targets: [`${address}:${PORTS.alertmanager}`] }] })]);
        // No other node gets them.
        for (const n of spec.nodes.filter((x) => x.role !== "monitor")) {
          expect([n.name, renderNodeFiles(spec, n.name, layout).filter((f) => f.onChange.includes("monitoring")).map((f) => f.path)]).toEqual([n.name, []]);
        }
      });

      it("both daemons listen on the private address only, over TLS with client certificates; Alertmanager without gossip; Prometheus keeps monitoring.retentionDays", () => {
        const prom = content(NODE_PATHS.prometheusDropIn);
        const am = content(NODE_PATHS.alertmanagerDropIn);
        expect(prom).toContain(`--web.listen-address=${address}:${PORTS.prometheus} --web.config.file=${NODE_PATHS.exporterWebConfig}`);
        expect(prom).toContain("--storage.tsdb.retention.time=21d");
        expect(am).toContain(`--web.listen-address=${address}:${PORTS.alertmanager} --web.config.file=${NODE_PATHS.exporterWebConfig}`);
        expect(am).toMatch(/--cluster\.listen-address=$/m);
        expect(am).toContain(`--config.file=${NODE_PATHS.alertmanagerConfig}`);
        for (const text of [prom, am]) expect(text).not.toMatch(/0\.0\.0\.0|:\d+ .*--web.listen-address=:/);
        expect(content(NODE_PATHS.exporterWebConfig)).toContain("client_auth_type: RequireAndVerifyClientCert");
      });

      it("Alertmanager's template names the stack's topic with the account left to STS; the SNS endpoint is AWS's own on EC2 and moto's in the sandbox", () => {
        const am = YAML.parse(content(NODE_PATHS.alertmanagerTemplate)) as { receivers: { sns_configs: { topic_arn: string; api_url?: string; sigv4: { region: string } }[] }[] };
        const sns = am.receivers[0].sns_configs[0];
        expect(sns.topic_arn).toBe(`arn:aws:sns:eu-west-1:@AWS_ACCOUNT_ID@:${spec.monitoring.topicName}`);
        expect(sns.sigv4).toEqual({ region: "eu-west-1" });
        expect(sns.api_url).toBe(layout.kind === "ec2" ? undefined : "https://aws.sandbox.internal");
      });
    });
  }
});
