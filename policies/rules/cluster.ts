// The cluster as built, read back from the resources (stack policies): the nodes and their
// roles, AZs and files (decoded from user-data), the Patroni dynamic configuration from every
// place it is delivered (each member's user-data and the day-2 command), pgBackRest settings,
// HAProxy check timing. This is what the "promise" and TLS rules compare with the stack's intent.
import { createHash } from "crypto";
import YAML from "yaml";
import { decodeUserData, type UserDataFile } from "../../src/delivery/userdata";
import { T, TAG, isTier, tagsOf, type PolicyResource, type Role, type Tier } from "./common";
import { statedTier } from "./intent";

/** Where the program puts each node's files (src/render/bundle.ts NODE_PATHS). */
export const FILES = {
  patroniConfig: "/etc/patroni/config.yml",
  dynamicFile: "/etc/patroni/dynamic.json",
  baseConf: "/etc/patroni/postgresql.base.conf",
  pgHbaReference: "/etc/patroni/pg_hba.conf",
  pgbackrestConf: "/etc/pgbackrest/pgbackrest.conf",
  etcdConfig: "/etc/etcd/pgha-etcd.yml",
  haproxyConfig: "/etc/haproxy/pgha.cfg",
  nodeEnv: "/etc/pgha/node.env",
} as const;

export interface NodeFacts {
  resource: PolicyResource;
  /** Node name (pgha:node tag) or the resource name. */
  name: string;
  /** From the pgha:role tag, else from the files the node gets; undefined when neither tells. */
  role: Role | undefined;
  files: Map<string, UserDataFile>;
  /** The instance's AZ: its own input, else its subnet's (a subnet of this stack). */
  availabilityZone: string | undefined;
}

/** Patroni's dynamic configuration (the DCS) as delivered somewhere. */
export interface DynamicConfigSeen {
  /** "db1: /etc/patroni/dynamic.json", "day-2 command orders-prod-apply", … */
  source: string;
  /** Who it is delivered to ("db1", "day-2 command orders-prod-apply") and where ("/etc/patroni/dynamic.json"). */
  owner: string;
  place: string;
  resource: PolicyResource;
  config: Record<string, any>;
}

export interface ClusterFacts {
  tier: Tier;
  /** "tags", "stack config" or "unknown (held to prod)". */
  tierSource: string;
  nodes: NodeFacts[];
  dynamicConfigs: DynamicConfigSeen[];
  /** Problems reading what the program delivered (a payload that does not match its hash, …). */
  readProblems: { resource: PolicyResource; message: string }[];
}

export function roleFromFiles(files: Map<string, UserDataFile>): Role | undefined {
  if (files.has(FILES.patroniConfig)) return "postgres";
  if (files.has(FILES.etcdConfig)) return "etcd";
  if (files.has(FILES.haproxyConfig)) return "haproxy";
  return undefined;
}

/** The files an instance's user-data writes, by path (empty when it has no cloud-config). */
export function instanceFiles(props: Record<string, any>): Map<string, UserDataFile> {
  const decoded = decodeUserData({ userDataBase64: props.userDataBase64, userData: props.userDataBase64 ? undefined : props.userData });
  return new Map((decoded?.files ?? []).map((f) => [f.path, f]));
}

export function roleOf(props: Record<string, any>, files?: Map<string, UserDataFile>): Role | undefined {
  const tag = tagsOf(props)[TAG.role];
  if (tag === "postgres" || tag === "etcd" || tag === "haproxy") return tag;
  return roleFromFiles(files ?? instanceFiles(props));
}

/**
 * The subnet of this stack the instance is in, and its AZ (an input, known at preview); only
 * without one is the instance's own `availabilityZone` read (an output: unknown at preview).
 */
function availabilityZoneOf(instance: PolicyResource): string | undefined {
  const subnet = (instance.propertyDependencies?.subnetId ?? []).find((d) => d.type === T.subnet);
  if (subnet) {
    const az = subnet.props.availabilityZone;
    if (typeof az === "string" && az) return az;
  }
  const own = instance.props.availabilityZone;
  return typeof own === "string" && own ? own : undefined;
}

/** The tier the resources carry (pgha:tier tags), else the stack config's, else prod. */
export function stackTier(resources: PolicyResource[]): { tier: Tier; source: string } {
  const counts = new Map<Tier, number>();
  for (const r of resources) {
    if (!r.type.startsWith("aws:")) continue;
    if (r.props.tags === undefined) continue;
    const t = tagsOf(r.props)[TAG.tier];
    if (isTier(t)) counts.set(t, (counts.get(t) ?? 0) + 1);
  }
  if (counts.size) {
    // Several tiers in one stack would be a tagging error; hold the stack to the strictest one seen.
    for (const t of ["prod", "staging", "dev"] as Tier[]) if (counts.has(t)) return { tier: t, source: "the pgha:tier tags" };
  }
  const stated = statedTier();
  if (stated) return { tier: stated, source: "the stack config" };
  return { tier: "prod", source: "nothing (no pgha:tier tag, no stack config): held to prod" };
}

/** `echo '<base64>' | base64 -d | … apply -` in the SSM commands: the JSON the day-2 command applies. */
export function dayTwoPayload(ssmParameters: string): string | undefined {
  let params: { commands?: unknown };
  try {
    params = JSON.parse(ssmParameters);
  } catch {
    return undefined;
  }
  const commands = Array.isArray(params.commands) ? params.commands.map(String) : [];
  for (const c of commands) {
    const m = /echo\s+'([A-Za-z0-9+/=]+)'\s*\|\s*base64\s+-d/.exec(c);
    if (m) return Buffer.from(m[1], "base64").toString("utf8");
  }
  return undefined;
}

/** True for the day-2 command (a local command that carries the dynamic configuration). */
function isDayTwoCommand(r: PolicyResource): boolean {
  if (r.type !== T.localCommand) return false;
  const env = r.props.environment;
  return !!env && typeof env === "object" && "PGHA_SSM_PARAMETERS" in env;
}

const cache = new WeakMap<PolicyResource[], ClusterFacts>();

export function clusterFacts(resources: PolicyResource[]): ClusterFacts {
  const cached = cache.get(resources);
  if (cached) return cached;
  const { tier, source } = stackTier(resources);
  const nodes: NodeFacts[] = [];
  const dynamicConfigs: DynamicConfigSeen[] = [];
  const readProblems: ClusterFacts["readProblems"] = [];
  for (const r of resources) {
    if (r.type !== T.instance) continue;
    const files = instanceFiles(r.props);
    const tags = tagsOf(r.props);
    const name = typeof tags[TAG.node] === "string" ? (tags[TAG.node] as string) : r.name;
    const node: NodeFacts = { resource: r, name, role: roleOf(r.props, files), files, availabilityZone: availabilityZoneOf(r) };
    nodes.push(node);
    if (node.role !== "postgres") continue;
    const dyn = files.get(FILES.dynamicFile);
    if (dyn) {
      try {
        dynamicConfigs.push({ source: `${name}: ${FILES.dynamicFile}`, owner: name, place: FILES.dynamicFile, resource: r, config: JSON.parse(dyn.content) });
      } catch {
        readProblems.push({ resource: r, message: `${name}: ${FILES.dynamicFile} is not valid JSON` });
      }
    }
    const patroni = files.get(FILES.patroniConfig);
    if (patroni) {
      const dcs = parseYaml(patroni.content)?.bootstrap?.dcs;
      if (dcs && typeof dcs === "object") dynamicConfigs.push({ source: `${name}: ${FILES.patroniConfig} (bootstrap.dcs)`, owner: name, place: `${FILES.patroniConfig} bootstrap.dcs`, resource: r, config: dcs });
    }
  }
  for (const r of resources) {
    if (!isDayTwoCommand(r)) continue;
    const env = r.props.environment;
    const payload = dayTwoPayload(String(env.PGHA_SSM_PARAMETERS));
    if (payload === undefined) {
      readProblems.push({ resource: r, message: `day-2 command ${r.name}: no dynamic configuration found in PGHA_SSM_PARAMETERS` });
      continue;
    }
    const hash = createHash("sha256").update(payload).digest("hex");
    const declared = env.PGHA_CONFIG_HASH;
    if (typeof declared === "string" && declared !== hash) {
      readProblems.push({ resource: r, message: `day-2 command ${r.name}: the payload's sha256 ${hash.slice(0, 12)}… differs from PGHA_CONFIG_HASH ${declared.slice(0, 12)}…` });
    }
    try {
      dynamicConfigs.push({ source: `day-2 command ${r.name}`, owner: `day-2 command ${r.name}`, place: "PGHA_SSM_PARAMETERS", resource: r, config: JSON.parse(payload) });
    } catch {
      readProblems.push({ resource: r, message: `day-2 command ${r.name}: the dynamic configuration is not valid JSON` });
    }
  }
  const facts = { tier, tierSource: source, nodes, dynamicConfigs, readProblems };
  cache.set(resources, facts);
  return facts;
}

export function nodesWithRole(facts: ClusterFacts, role: Role): NodeFacts[] {
  return facts.nodes.filter((n) => n.role === role);
}

// ---------------------------------------------------------------------------------------------
// Reading the config files a node gets.

export function parseYaml(text: string): any {
  try {
    return YAML.parse(text, { version: "1.1" });
  } catch {
    return undefined;
  }
}

/** pgbackrest.conf → { section → { key → value } } (keys before any section under "global"). */
export function parseIni(text: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = { global: {} };
  let section = "global";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) {
      section = s[1];
      out[section] ??= {};
      continue;
    }
    const i = line.indexOf("=");
    if (i > 0) out[section][line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

/** postgresql.conf → { name → value } (quotes removed, trailing comments dropped). */
export function parsePostgresConf(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\s+#.*$/, "").trim();
    if (!line || line.startsWith("#")) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_.]*)\s*=?\s*(.*)$/.exec(line);
    if (m) out[m[1].toLowerCase()] = m[2].trim().replace(/^'(.*)'$/, "$1");
  }
  return out;
}

/** KEY=VALUE lines (node.env). */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const i = line.indexOf("=");
    if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim().replace(/^"(.*)"$/, "$1");
  }
  return out;
}

/** A PostgreSQL time setting in seconds ("60s", "1min", "300" → seconds by default). */
export function postgresSeconds(value: unknown, defaultUnit: "s" | "ms" = "s"): number | undefined {
  if (typeof value === "number") return defaultUnit === "s" ? value : value / 1000;
  if (typeof value !== "string") return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?\s*$/.exec(value);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? defaultUnit;
  const factor: Record<string, number> = { us: 1e-6, ms: 1e-3, s: 1, min: 60, h: 3600, d: 86400 };
  return n * factor[unit];
}

/** An HAProxy time ("1000ms", "2s", "1m", a bare number is ms) in milliseconds. */
export function haproxyMillis(value: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(us|ms|s|m|h|d)?$/.exec(value.trim());
  if (!m) return undefined;
  const factor: Record<string, number> = { us: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  return Number(m[1]) * factor[m[2] ?? "ms"];
}

export interface HaproxyTiming {
  /** The slowest check interval and fall count any backend server has (defaults applied). */
  interMs: number;
  fall: number;
  /** interMs × fall: how long HAProxy may keep routing to a dead leader. */
  detectionMs: number;
}

/** Check timing from haproxy.cfg: `default-server` settings, overridden per `server` line. */
export function haproxyTiming(text: string): HaproxyTiming {
  // HAProxy's built-in defaults: inter 2s, fall 3.
  let defInter = 2000;
  let defFall = 3;
  const token = (words: string[], key: string) => {
    const i = words.indexOf(key);
    return i >= 0 && i + 1 < words.length ? words[i + 1] : undefined;
  };
  const servers: string[][] = [];
  for (const raw of text.split("\n")) {
    const words = raw.replace(/#.*$/, "").trim().split(/\s+/).filter(Boolean);
    if (words[0] === "default-server") {
      const inter = token(words, "inter");
      const fall = token(words, "fall");
      if (inter !== undefined) defInter = haproxyMillis(inter) ?? defInter;
      if (fall !== undefined && /^\d+$/.test(fall)) defFall = Number(fall);
    } else if (words[0] === "server") {
      servers.push(words);
    }
  }
  let interMs = defInter;
  let fall = defFall;
  let detectionMs = defInter * defFall;
  for (const words of servers) {
    const i = token(words, "inter");
    const f = token(words, "fall");
    const si = i !== undefined ? haproxyMillis(i) ?? defInter : defInter;
    const sf = f !== undefined && /^\d+$/.test(f) ? Number(f) : defFall;
    if (si * sf > detectionMs) {
      interMs = si;
      fall = sf;
      detectionMs = si * sf;
    }
  }
  return { interMs, fall, detectionMs };
}

/** The pg_hba lines without comments and blank lines, columns single-spaced. */
export function hbaLines(text: string | string[]): string[] {
  const lines = Array.isArray(text) ? text.map(String) : text.split("\n");
  return lines.map((l) => l.replace(/#.*$/, "").trim()).filter(Boolean).map((l) => l.split(/\s+/).join(" "));
}
