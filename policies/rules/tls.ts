// TLS everywhere (issue 6), read from what the nodes really get: pg_hba admits network
// connections only over TLS with scram-sha-256, and no hop is configured without TLS — PostgreSQL
// ssl, Patroni's etcd3/REST API/replication connections, etcd client and peer URLs, HAProxy's
// health checks, pgBackRest's S3 verification. Enforcement follows the environment: mandatory in
// prod (the pack config), advisory elsewhere — TLS is on by default in every tier.
import type { StackValidationPolicy } from "@pulumi/policy";
import { NODE_PATHS } from "../../src/node-paths";
import { Findings, type StackArgs } from "./common";
import { clusterFacts, hbaLines, nodesWithRole, parseEnvFile, parseIni, parsePostgresConf, parseYaml, type ClusterFacts } from "./cluster";

function requireCluster(args: StackArgs): ClusterFacts {
  const facts = clusterFacts(args.resources);
  if (!facts.nodes.some((n) => n.role)) args.notApplicable("no PostgreSQL, etcd or HAProxy node in the stack");
  return facts;
}

/** Authentication methods allowed on a TLS line (client certificates or SCRAM). */
const TLS_METHODS = ["scram-sha-256", "cert"];

/** What is wrong with one pg_hba line, or undefined. */
export function hbaLineProblem(line: string): string | undefined {
  const words = line.split(" ");
  const type = words[0]?.toLowerCase();
  if (type === "local") return undefined;
  const method = (type === "hostssl" || type === "hostnossl" || type === "host" || type === "hostgssenc" || type === "hostnogssenc" ? words[4] : undefined)?.toLowerCase();
  if (type === "hostnossl" || type === "hostnogssenc") return method === "reject" ? undefined : `"${line}" admits connections without TLS`;
  if (type === "host" || type === "hostgssenc") return method === "reject" ? undefined : `plain \`${type}\` line "${line}" admits connections without TLS (use hostssl)`;
  if (type === "hostssl") return method && TLS_METHODS.includes(method) ? undefined : `"${line}" uses ${method ?? "no method"}; only scram-sha-256 (or cert) is allowed`;
  return `unrecognised pg_hba line "${line}"`;
}

export const pgHbaHostsslOnly: StackValidationPolicy = {
  name: "pg-hba-hostssl-only",
  description: "pg_hba admits network connections only as hostssl with scram-sha-256 (no plain `host` lines); hostnossl only to reject.",
  severity: "critical",
  tags: ["tls"],
  remediationSteps: "Keep `tls.enabled: true` in the stack config (pg_hba is rendered with hostssl lines and a leading `hostnossl … reject`); never add host lines by hand.",
  validateStack: (args, report) => {
    const facts = requireCluster(args);
    const postgres = nodesWithRole(facts, "postgres");
    if (!postgres.length) args.notApplicable("no PostgreSQL node in the stack");
    for (const p of facts.readProblems) report(p.message, p.resource.urn);
    const findings = new Findings();
    for (const d of facts.dynamicConfigs) {
      const hba = d.config.postgresql?.pg_hba;
      if (!Array.isArray(hba) || !hba.length) {
        findings.add(d.resource.urn, `${d.owner}: `, "no postgresql.pg_hba: initdb's default pg_hba (plain host lines, trust) applies", d.place);
        continue;
      }
      for (const line of hbaLines(hba)) {
        const problem = hbaLineProblem(line);
        if (problem) findings.add(d.resource.urn, `${d.owner}: `, problem, d.place);
      }
    }
    for (const n of postgres) {
      const file = n.files.get(NODE_PATHS.pgHbaReference);
      if (!file) continue;
      for (const line of hbaLines(file.content)) {
        const problem = hbaLineProblem(line);
        if (problem) findings.add(n.resource.urn, `${n.name}: `, problem, NODE_PATHS.pgHbaReference);
      }
    }
    findings.report(report);
  },
};

const SSLMODE_USERS = ["superuser", "replication", "rewind"];

function offValue(v: unknown): boolean {
  return v === false || v === "off" || v === "false" || v === "no" || v === "0" || v === 0;
}

/** The non-TLS settings in one node's files. */
export function nodeTlsProblems(role: string | undefined, files: Map<string, { content: string }>): string[] {
  const out: string[] = [];
  const env = files.get(NODE_PATHS.nodeEnv);
  if (env && parseEnvFile(env.content).PGHA_TLS === "false") out.push(`${NODE_PATHS.nodeEnv}: PGHA_TLS=false`);
  if (role === "postgres") {
    const base = files.get(NODE_PATHS.baseConf);
    const ssl = base ? parsePostgresConf(base.content).ssl : undefined;
    if (!base || ssl === undefined) out.push(`${NODE_PATHS.baseConf}: ssl is not set (PostgreSQL's default is off)`);
    else if (offValue(ssl)) out.push(`${NODE_PATHS.baseConf}: ssl = ${ssl}`);
    const patroniFile = files.get(NODE_PATHS.patroniConfig);
    const patroni = patroniFile ? parseYaml(patroniFile.content) : undefined;
    if (!patroni) out.push(`${NODE_PATHS.patroniConfig}: missing or not YAML`);
    else {
      const etcd = patroni.etcd3 ?? patroni.etcd ?? {};
      const hosts = [etcd.hosts, etcd.host, etcd.url, etcd.urls].flat().filter(Boolean).map(String).join(",");
      if (etcd.protocol !== "https" && !/https:\/\//.test(hosts)) out.push(`${NODE_PATHS.patroniConfig}: Patroni talks to etcd over ${etcd.protocol ?? "http"}`);
      if (/http:\/\//.test(hosts)) out.push(`${NODE_PATHS.patroniConfig}: etcd hosts use http://`);
      if (!patroni.restapi?.certfile) out.push(`${NODE_PATHS.patroniConfig}: the REST API has no certfile (plain HTTP, basic auth in clear text)`);
      if (patroni.ctl?.insecure === true) out.push(`${NODE_PATHS.patroniConfig}: ctl.insecure is true (patronictl skips certificate verification)`);
      for (const user of SSLMODE_USERS) {
        const mode = patroni.postgresql?.authentication?.[user]?.sslmode;
        if (mode !== "verify-full") out.push(`${NODE_PATHS.patroniConfig}: postgresql.authentication.${user}.sslmode is ${mode ?? "unset (prefer)"}, not verify-full`);
      }
      const params = patroni.postgresql?.parameters ?? {};
      if (offValue(params.ssl)) out.push(`${NODE_PATHS.patroniConfig}: postgresql.parameters.ssl = ${params.ssl}`);
    }
    const backrest = files.get(NODE_PATHS.pgbackrestConf);
    if (backrest) {
      const g = parseIni(backrest.content).global ?? {};
      for (const k of ["repo1-storage-verify-tls", "repo1-s3-verify-tls", "repo1-s3-verify-ssl"]) {
        if (g[k] !== undefined && ["n", "no", "false", "0"].includes(g[k].toLowerCase())) out.push(`${NODE_PATHS.pgbackrestConf}: ${k}=${g[k]} (S3 certificate not verified)`);
      }
    }
  }
  if (role === "etcd") {
    const file = files.get(NODE_PATHS.etcdConfig);
    const etcd = file ? parseYaml(file.content) : undefined;
    if (!etcd) out.push(`${NODE_PATHS.etcdConfig}: missing or not YAML`);
    else {
      for (const key of ["listen-client-urls", "advertise-client-urls", "listen-peer-urls", "initial-advertise-peer-urls", "initial-cluster"]) {
        if (/http:\/\//.test(String(etcd[key] ?? ""))) out.push(`${NODE_PATHS.etcdConfig}: ${key} uses http://`);
      }
      if (etcd["client-transport-security"]?.["client-cert-auth"] !== true) out.push(`${NODE_PATHS.etcdConfig}: client-transport-security.client-cert-auth is not true`);
      if (etcd["peer-transport-security"]?.["client-cert-auth"] !== true) out.push(`${NODE_PATHS.etcdConfig}: peer-transport-security.client-cert-auth is not true`);
    }
  }
  if (role === "haproxy") {
    const file = files.get(NODE_PATHS.haproxyConfig);
    if (!file) out.push(`${NODE_PATHS.haproxyConfig}: missing`);
    else {
      for (const raw of file.content.split("\n")) {
        const line = raw.replace(/#.*$/, "").trim();
        const words = line.split(/\s+/);
        if (words[0] !== "server" || !words.includes("check")) continue;
        if (!words.includes("check-ssl") || !/\bverify required\b/.test(line)) out.push(`${NODE_PATHS.haproxyConfig}: "${line}" checks Patroni's REST API without verified TLS`);
      }
    }
  }
  return out;
}

export const tlsEverywhere: StackValidationPolicy = {
  name: "tls-everywhere",
  description: "No hop is configured without TLS: PostgreSQL ssl on, Patroni → etcd over https, replication/rewind/superuser connections verify-full, REST API and HAProxy checks over verified TLS, etcd client and peer TLS with client certificates.",
  severity: "critical",
  tags: ["tls"],
  remediationSteps: "Keep `tls.enabled: true` (the default in every tier): the program then renders every hop with TLS and issues node certificates from the cluster CA.",
  validateStack: (args, report) => {
    const facts = requireCluster(args);
    for (const p of facts.readProblems) report(p.message, p.resource.urn);
    for (const n of facts.nodes) {
      if (!n.role) continue;
      for (const problem of nodeTlsProblems(n.role, n.files)) report(`${n.name}: ${problem}.`, n.resource.urn);
    }
    const findings = new Findings();
    for (const d of facts.dynamicConfigs) {
      const ssl = d.config.postgresql?.parameters?.ssl;
      if (offValue(ssl)) findings.add(d.resource.urn, `${d.owner}: `, `postgresql.parameters.ssl = ${ssl}`, d.place);
    }
    findings.report(report);
  },
};
