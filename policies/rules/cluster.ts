// The cluster as built, read back from the resources (stack policies): the nodes and their
// roles, AZs and files, the Patroni dynamic configuration as each member gets it, pgBackRest
// settings, HAProxy check timing. This is what the "promise" and TLS rules compare with the
// stack's intent.
//
// A node's files come from its bundle: the instance's `pgha:node` tag names the node, its
// desired pointer (`bundles/<cluster>/nodes/<node>/desired.json`, an S3 object the program
// uploads) names the bundle object (`…/nodes/<node>/<sha256>.tar`), whose content is decoded
// and checked the way the node checks it (sha256 = name, the manifest names this node). What
// the user-data writes (the bootstrap) is read too; a stack without bundle objects is read from
// its user-data alone.
import YAML from "yaml";
import type { BundleManifest, ChangeAction } from "../../src/bundle/format";
import {
  decodeNodeBundle, decodeSoftware, isBucketObjectType, objectBytes, parseBundleKey, parseDesiredPointer, pointerTargets, type BundleObjectKey,
} from "../../src/delivery/bundle-objects";
import { decodeUserData } from "../../src/delivery/userdata";
import { NODE_PATHS } from "../../src/node-paths";
import { T, TAG, isTier, tagsOf, type PolicyResource, type Role, type Tier } from "./common";
import { statedTier } from "./intent";

/** One file a node gets, and where it comes from. */
export interface NodeFile {
  path: string;
  mode: string;
  owner: string;
  content: string;
  /** "user-data" or "bundle <sha256 prefix>". */
  source: string;
  /** What pgha-node does when it changes (bundle files; empty for user-data, read at first boot only). */
  onChange: ChangeAction[];
}

/** A node's bundle as the stack delivers it. */
export interface NodeBundleSeen {
  pointer: PolicyResource;
  /** The bundle object the pointer names (undefined when there is none). */
  object?: PolicyResource;
  hash: string;
  software: string;
  manifest?: BundleManifest;
}

export interface NodeFacts {
  resource: PolicyResource;
  /** Node name (pgha:node tag) or the resource name. */
  name: string;
  /** From the pgha:role tag, else from the files the node gets; undefined when neither tells. */
  role: Role | undefined;
  files: Map<string, NodeFile>;
  /** The instance's AZ: its own input, else its subnet's (a subnet of this stack). */
  availabilityZone: string | undefined;
  bundle?: NodeBundleSeen;
}

/** Patroni's dynamic configuration (the DCS) as one member gets it. */
export interface DynamicConfigSeen {
  /** "db1: /etc/patroni/dynamic.json", … */
  source: string;
  /** Who it is delivered to ("db1") and where ("/etc/patroni/dynamic.json"). */
  owner: string;
  place: string;
  resource: PolicyResource;
  config: Record<string, any>;
}

export interface BundleObjectSeen {
  resource: PolicyResource;
  key: BundleObjectKey;
}

export interface ClusterFacts {
  tier: Tier;
  /** "tags", "stack config" or "unknown (held to prod)". */
  tierSource: string;
  nodes: NodeFacts[];
  dynamicConfigs: DynamicConfigSeen[];
  /** Why a node's files cannot be read or trusted (no pointer, a bundle that is not there or not its name, …). */
  readProblems: { resource: PolicyResource; message: string }[];
  /** What else breaks delivery without hiding the files (the software artifact, the order of writes). */
  deliveryProblems: { resource: PolicyResource; message: string }[];
  bundleObjects: BundleObjectSeen[];
}

export function roleFromFiles(files: Map<string, { content: string }>): Role | undefined {
  if (files.has(NODE_PATHS.patroniConfig)) return "postgres";
  if (files.has(NODE_PATHS.etcdConfig)) return "etcd";
  if (files.has(NODE_PATHS.haproxyConfig)) return "haproxy";
  if (files.has(NODE_PATHS.prometheusConfig)) return "monitor";
  return undefined;
}

/** The files an instance's user-data writes, by path (empty when it has no cloud-config). */
export function instanceFiles(props: Record<string, any>): Map<string, NodeFile> {
  const decoded = decodeUserData({ userDataBase64: props.userDataBase64, userData: props.userDataBase64 ? undefined : props.userData });
  return new Map((decoded?.files ?? []).map((f) => [f.path, { ...f, source: "user-data", onChange: [] }]));
}

/** The role of an instance from its own inputs: the pgha:role tag, else the files its user-data writes. */
export function roleOf(props: Record<string, any>, files?: Map<string, { content: string }>): Role | undefined {
  const tag = tagsOf(props)[TAG.role];
  if (tag === "postgres" || tag === "etcd" || tag === "haproxy" || tag === "monitor") return tag;
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

const objectsCache = new WeakMap<PolicyResource[], BundleObjectSeen[]>();

/** The stack's S3 objects whose keys are bundle keys (only `key` is read: an input, known at preview). */
export function bundleObjects(resources: PolicyResource[]): BundleObjectSeen[] {
  const cached = objectsCache.get(resources);
  if (cached) return cached;
  const out: BundleObjectSeen[] = [];
  for (const r of resources) {
    if (!isBucketObjectType(r.type)) continue;
    const key = parseBundleKey(r.props.key);
    if (key) out.push({ resource: r, key });
  }
  objectsCache.set(resources, out);
  return out;
}

const short = (hash: string) => `${hash.slice(0, 12)}…`;
const dependsOn = (r: PolicyResource, target: PolicyResource) => (r.dependencies ?? []).some((d) => d === target || d.urn === target.urn);

/** Reads the node's bundle through its pointer; problems go to the lists, files only from a bundle the node would accept. */
function readNodeBundle(
  instance: PolicyResource,
  name: string,
  objects: BundleObjectSeen[],
  problems: Pick<ClusterFacts, "readProblems" | "deliveryProblems">,
  softwareChecked: Set<PolicyResource>,
): { bundle?: NodeBundleSeen; files: NodeFile[] } {
  // What hides the node's files is a read problem (the content rules cannot verify it) and a delivery problem.
  const read = (message: string) => {
    problems.readProblems.push({ resource: instance, message: `${name}: ${message}` });
    problems.deliveryProblems.push({ resource: instance, message: `${name}: ${message}` });
  };
  const deliver = (resource: PolicyResource, message: string) => problems.deliveryProblems.push({ resource, message: `${name}: ${message}` });
  const cluster = tagsOf(instance.props)[TAG.cluster];
  let pointers = objects.filter((o) => o.key.kind === "desired" && o.key.node === name && (typeof cluster !== "string" || o.key.cluster === cluster));
  if (pointers.length > 1) {
    const waitedFor = pointers.filter((p) => dependsOn(instance, p.resource));
    if (waitedFor.length) pointers = waitedFor;
  }
  if (pointers.length === 0) {
    read(`no desired pointer bundles/${typeof cluster === "string" ? cluster : "<cluster>"}/nodes/${name}/desired.json among the stack's bundle objects: the node boots nothing, and what it would run cannot be verified`);
    return { files: [] };
  }
  if (pointers.length > 1) {
    read(`${pointers.length} desired pointers (${pointers.map((p) => p.key.key).join(", ")}): which bundle the node runs cannot be told`);
    return { files: [] };
  }
  const pointer = pointers[0];
  const pointerBytes = objectBytes(pointer.resource.props);
  if (!pointerBytes) {
    read(`the desired pointer ${pointer.key.key} has no content`);
    return { files: [] };
  }
  let target;
  try {
    target = parseDesiredPointer(pointerBytes.toString("utf8"));
  } catch (e) {
    read(`the desired pointer ${pointer.key.key} ${(e as Error).message}`);
    return { files: [] };
  }
  const keys = pointerTargets(pointer.key.cluster, name, target);
  const seen: NodeBundleSeen = { pointer: pointer.resource, hash: target.bundle, software: target.software };
  if (!dependsOn(instance, pointer.resource)) deliver(instance, `the instance does not wait for its desired pointer ${pointer.key.key} (dependsOn): its bootstrap may run before the pointer exists`);
  const software = objects.find((o) => o.key.key === keys.software);
  if (!software) deliver(pointer.resource, `the desired pointer names node software ${short(target.software)}, but the stack uploads no ${keys.software}`);
  else {
    if (!dependsOn(pointer.resource, software.resource)) deliver(pointer.resource, `the desired pointer ${pointer.key.key} is not written after the software object ${keys.software} (dependsOn)`);
    if (!softwareChecked.has(software.resource)) {
      softwareChecked.add(software.resource);
      const bytes = objectBytes(software.resource.props);
      let problem: string | undefined;
      try {
        const actual = bytes && decodeSoftware(bytes).sha256;
        if (!actual) problem = "has no content";
        else if (actual !== target.software) problem = `is not what its name says (sha256 ${short(actual)}): every node refuses it`;
      } catch (e) {
        problem = `is not a tar archive (${(e as Error).message})`;
      }
      // One object for every node: reported once, without a node's name.
      if (problem) problems.deliveryProblems.push({ resource: software.resource, message: `the node software object ${keys.software} ${problem}` });
    }
  }
  const object = objects.find((o) => o.key.key === keys.bundle);
  if (!object) {
    read(`the desired pointer names bundle ${short(target.bundle)}, but the stack uploads no ${keys.bundle}: the node cannot fetch it`);
    return { bundle: seen, files: [] };
  }
  seen.object = object.resource;
  if (!dependsOn(pointer.resource, object.resource)) deliver(pointer.resource, `the desired pointer ${pointer.key.key} is not written after its bundle ${keys.bundle} (dependsOn)`);
  const bytes = objectBytes(object.resource.props);
  if (!bytes) {
    read(`the bundle object ${keys.bundle} has no content`);
    return { bundle: seen, files: [] };
  }
  let decoded;
  try {
    decoded = decodeNodeBundle(bytes);
  } catch (e) {
    read(`the bundle object ${keys.bundle} cannot be read: ${(e as Error).message}`);
    return { bundle: seen, files: [] };
  }
  if (decoded.sha256 !== target.bundle) {
    read(`the bundle object ${keys.bundle} has sha256 ${short(decoded.sha256)}, not the ${short(target.bundle)} it is named by: the node refuses it`);
    return { bundle: seen, files: [] };
  }
  if (decoded.manifest.node !== name) {
    read(`the bundle ${keys.bundle} is node ${decoded.manifest.node}'s (its manifest says so): the node refuses it`);
    return { bundle: seen, files: [] };
  }
  seen.manifest = decoded.manifest;
  if (decoded.manifest.software?.sha256 !== target.software) {
    deliver(pointer.resource, `the bundle's manifest names node software ${short(String(decoded.manifest.software?.sha256))}, the pointer ${short(target.software)}`);
  }
  const source = `bundle ${short(decoded.sha256)}`;
  return { bundle: seen, files: [...decoded.files.values()].map((f) => ({ path: f.path, mode: f.mode, owner: f.owner, content: f.content, source, onChange: f.onChange })) };
}

const cache = new WeakMap<PolicyResource[], ClusterFacts>();

export function clusterFacts(resources: PolicyResource[]): ClusterFacts {
  const cached = cache.get(resources);
  if (cached) return cached;
  const { tier, source } = stackTier(resources);
  const objects = bundleObjects(resources);
  const facts: ClusterFacts = { tier, tierSource: source, nodes: [], dynamicConfigs: [], readProblems: [], deliveryProblems: [], bundleObjects: objects };
  const softwareChecked = new Set<PolicyResource>();
  for (const r of resources) {
    if (r.type !== T.instance) continue;
    const tags = tagsOf(r.props);
    const name = typeof tags[TAG.node] === "string" ? (tags[TAG.node] as string) : r.name;
    const files = instanceFiles(r.props);
    let bundle: NodeBundleSeen | undefined;
    // A stack that uploads bundles delivers every node's files through them.
    if (objects.length) {
      const read = readNodeBundle(r, name, objects, facts, softwareChecked);
      bundle = read.bundle;
      for (const f of read.files) files.set(f.path, f);
    }
    const node: NodeFacts = { resource: r, name, role: roleOf(r.props, files), files, availabilityZone: availabilityZoneOf(r), bundle };
    facts.nodes.push(node);
    if (node.role !== "postgres") continue;
    const dyn = files.get(NODE_PATHS.dynamicFile);
    if (dyn) {
      try {
        facts.dynamicConfigs.push({ source: `${name}: ${NODE_PATHS.dynamicFile}`, owner: name, place: NODE_PATHS.dynamicFile, resource: r, config: JSON.parse(dyn.content) });
      } catch {
        facts.readProblems.push({ resource: r, message: `${name}: ${NODE_PATHS.dynamicFile} is not valid JSON` });
      }
    }
    const patroni = files.get(NODE_PATHS.patroniConfig);
    if (patroni) {
      const dcs = parseYaml(patroni.content)?.bootstrap?.dcs;
      if (dcs && typeof dcs === "object") facts.dynamicConfigs.push({ source: `${name}: ${NODE_PATHS.patroniConfig} (bootstrap.dcs)`, owner: name, place: `${NODE_PATHS.patroniConfig} bootstrap.dcs`, resource: r, config: dcs });
    }
  }
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
