// The config gate: stack config → validated StackConfig and ClusterSpec, before any resource
// exists. index.ts, the CLI and the sandbox all come through `loadAndValidate`.
//
// Input is the flat map Pulumi hands a program ("postgres-ha:patroni" → JSON text), or the same
// keys read from Pulumi.<stack>.yaml by the offline commands (stack-file.ts). Every problem is
// reported in one round: the schema's, the rules between keys (run on whatever passed the
// schema), and the rules on the derived cluster (validate-spec.ts), each with the key, the value,
// what is allowed and the command that fixes it.
import { z } from "zod";
import { configSchema, type Tier } from "./schema";
import { TIER_DEFAULTS, type StackConfig } from "./defaults";
import { docKeyOf, KEY_DOCS, keyDoc } from "./keys";
import { crossFieldProblems, type ConfigView } from "./cross-field";
import { validateSpec } from "./validate-spec";
import { MANAGED_PARAMETERS } from "./parameters";
import { closestName, ConfigError, keyOf, problem, type ConfigProblem, type PathSegment } from "./problems";
import { knownKeysAt, recordKeySchemaAt } from "./schema-walk";
import { buildSpec, type ClusterSpec } from "../spec";

export { ConfigError, formatProblems, keyOf, PROJECT, type ConfigProblem } from "./problems";
export { MANAGED_PARAMETERS } from "./parameters";
export { validateSpec } from "./validate-spec";

/** Parses one raw Pulumi config value: objects and lists arrive as JSON text. */
function parseRawValue(v: unknown): unknown {
  if (typeof v !== "string") return v;
  const t = v.trim();
  if ((t.startsWith("{") && t.endsWith("}")) || (t.startsWith("[") && t.endsWith("]"))) {
    try {
      return JSON.parse(t);
    } catch {
      return v;
    }
  }
  return v;
}

/**
 * Splits the raw config map into this project's keys and the aws:region.
 * Keys of other namespaces (aws:*, pulumi:*) are left alone, except aws:region which we need.
 */
export function projectConfigFromRaw(raw: Record<string, unknown>): { input: Record<string, unknown>; region?: string } {
  const input: Record<string, unknown> = {};
  let region: string | undefined;
  for (const [k, v] of Object.entries(raw)) {
    if (k === "aws:region") region = String(v);
    const m = /^postgres-ha:(?:config:)?(.+)$/.exec(k);
    if (m) input[m[1]] = parseRawValue(v);
  }
  return { input, region };
}

// ---------------------------------------------------------------------------------------------
// Paths into plain data.

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function valueAt(obj: unknown, path: PathSegment[]): unknown {
  let cur: unknown = obj;
  for (const p of path) {
    if (cur == null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

function deleteAt(obj: unknown, path: PathSegment[]): void {
  if (path.length === 0) return;
  const parent = valueAt(obj, path.slice(0, -1));
  if (parent && typeof parent === "object") delete (parent as Record<PropertyKey, unknown>)[path[path.length - 1]];
}

function setAt(obj: Record<string, unknown>, path: PathSegment[], value: unknown): void {
  let cur: Record<PropertyKey, unknown> = obj;
  for (const seg of path.slice(0, -1)) {
    if (!isPlainObject(cur[seg])) cur[seg] = {};
    cur = cur[seg] as Record<PropertyKey, unknown>;
  }
  cur[path[path.length - 1]] = value;
}

/** The outermost list on `path` in `obj` (its path), when the path passes through one. */
function listOn(obj: unknown, path: PathSegment[]): PathSegment[] | undefined {
  let cur: unknown = obj;
  for (let i = 0; i < path.length; i++) {
    if (Array.isArray(cur)) return path.slice(0, i);
    if (cur == null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[path[i]];
  }
  return undefined;
}

const startsWith = (a: PathSegment[], b: PathSegment[]) => b.length <= a.length && b.every((s, i) => a[i] === s);

/** Deep merge: objects merge key by key; lists, scalars and null replace. */
function merge<T>(base: T, over: unknown): T {
  if (!isPlainObject(base) || !isPlainObject(over)) return (over === undefined ? base : over) as T;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in out ? merge(out[k], v) : v;
  return out as T;
}

// ---------------------------------------------------------------------------------------------
// Schema problems.

/** What a key of each map may look like (the schema's key patterns, in words). */
const RECORD_KEY_ALLOWED: Record<string, string> = {
  "postgres.parameters": "a PostgreSQL parameter name: lower-case letters, digits, '_' and '.', e.g. max_connections",
  "postgres.members": "a member name like db1 (lower-case letters, digits and '-', starting with a letter)",
  tags: "a tag name of 1–128 letters, digits, spaces and _ . : / = + @ -",
};

function schemaProblems(err: z.ZodError, input: unknown): { problems: ConfigProblem[]; failed: PathSegment[][] } {
  const problems: ConfigProblem[] = [];
  const failed: PathSegment[][] = [];
  for (const issue of err.issues) {
    const at = issue.path as PathSegment[];
    if (issue.code === "unrecognized_keys") {
      const parent = at.length ? keyOf(at) : undefined;
      const known = knownKeysAt(at);
      for (const k of issue.keys) {
        const full = [...at, k];
        failed.push(full);
        const near = closestName(k, known);
        problems.push(
          problem(
            full,
            valueAt(input, full),
            "unknown key (misspelt, or not a setting of this program)",
            `${parent ? `the keys of ${parent}` : "the top-level keys"}: ${known.join(", ")} (README.md, "Config reference")`,
            { fix: "remove", didYouMean: near === undefined ? undefined : keyOf([...at, near]) },
          ),
        );
      }
      continue;
    }
    failed.push(at);
    const value = valueAt(input, at);
    if (issue.code === "invalid_key") {
      // A bad name in a map (postgres.parameters.Max-Connections): remove it; guess the name meant.
      const name = String(at[at.length - 1]);
      const keySchema = recordKeySchemaAt(at.slice(0, -1));
      const fixed = [name.toLowerCase(), name.toLowerCase().replace(/-/g, "_")].find((c) => c !== name && keySchema?.safeParse(c).success);
      problems.push(
        problem(at, value, "is not an allowed name", RECORD_KEY_ALLOWED[keyOf(at.slice(0, -1))] ?? issue.message, {
          fix: "remove",
          didYouMean: fixed === undefined ? undefined : keyOf([...at.slice(0, -1), fixed]),
        }),
      );
      continue;
    }
    const doc = keyDoc(at);
    let reason: string;
    switch (issue.code) {
      case "invalid_type":
        reason = value === undefined ? "is required" : `has the wrong type (expected ${issue.expected})`;
        break;
      case "too_small":
      case "too_big":
        // zod's own wording ("Too small: expected number to be >=1"), or the schema's reason.
        reason = /^Too (small|big)/.test(issue.message)
          ? issue.message.replace(/^Too (?:small|big): expected \w+ to (be|have) /, "must $1 ").replace(/>=\s*/, "≥ ").replace(/<=\s*/, "≤ ")
          : issue.message;
        break;
      case "invalid_value": {
        const near = closestName(String(value), issue.values.map(String));
        reason = `is not one of the allowed values${near ? ` (did you mean "${near}"?)` : ""}`;
        break;
      }
      case "invalid_format":
        reason = "does not have the expected form";
        break;
      default:
        reason = "is not valid";
    }
    problems.push(problem(at, value, reason, doc?.allowed ?? issue.message));
  }
  return { problems, failed };
}

// The schema as used to read what is left once the refused values are taken out: the tier may be
// missing (its problem is already reported), everything else is as strict as ever.
const remainderSchema = configSchema.partial({ tier: true });

interface Remainder {
  /** What passed the schema (refused values and lists with a refused element taken out). */
  data: z.infer<typeof remainderSchema>;
  /** Lists taken out because an element was refused: cross-field rules see them as written. */
  lists: PathSegment[][];
}

function remainder(input: Record<string, unknown>, failed: PathSegment[][]): Remainder {
  const pruned = structuredClone(input);
  const lists: PathSegment[][] = [];
  for (const path of failed) {
    const list = listOn(input, path);
    if (list) {
      if (!lists.some((l) => startsWith(list, l))) lists.push(list);
      deleteAt(pruned, list);
    } else deleteAt(pruned, path);
  }
  // What is left normally parses; if not (a value refused only in combination), drop whole keys.
  for (let round = 0; round < 3; round++) {
    const parsed = remainderSchema.safeParse(pruned);
    if (parsed.success) return { data: parsed.data, lists };
    for (const issue of parsed.error.issues) {
      const top = issue.path[0] ?? (issue.code === "unrecognized_keys" ? issue.keys[0] : undefined);
      if (top !== undefined) delete pruned[top as string];
    }
  }
  return { data: {}, lists };
}

// ---------------------------------------------------------------------------------------------
// The gate.

export interface LoadOptions {
  stack: string;
  /** aws:region when the raw map does not carry it. */
  region?: string;
}

/** Where a problem's key sits in the config reference, so the report reads in the reference's order. */
function referenceOrder(p: ConfigProblem): number {
  if (p.key.startsWith("aws:")) return -1;
  const docs = Object.keys(KEY_DOCS);
  const key = docKeyOf(p.path);
  if (key !== undefined) return docs.indexOf(key);
  // An unknown key: next to its section (patroni.tll with patroni), unknown sections last.
  const section = docs.findIndex((k) => k.startsWith(`${String(p.path[0])}.`));
  return section >= 0 ? section : docs.length;
}

/**
 * Validates a raw config map (what Pulumi hands the program, or a stack file read offline) and
 * derives the cluster: returns both, or throws one ConfigError listing every problem.
 */
export function loadAndValidate(raw: Record<string, unknown>, opts: LoadOptions): { config: StackConfig; spec: ClusterSpec } {
  const { input, region: rawRegion } = projectConfigFromRaw(raw);
  return validateInput(input, { ...opts, region: rawRegion ?? opts.region });
}

/** Validates a raw config map and returns the resolved config, or throws ConfigError (the same gate). */
export function loadStackConfig(raw: Record<string, unknown>, opts: LoadOptions): StackConfig {
  return loadAndValidate(raw, opts).config;
}

/** Validates the project's config object (keys without the prefix) and merges tier defaults. */
export function resolveConfig(input: Record<string, unknown>, opts: LoadOptions): StackConfig {
  return validateInput(input, opts).config;
}

function validateInput(input: Record<string, unknown>, opts: LoadOptions): { config: StackConfig; spec: ClusterSpec } {
  const problems: ConfigProblem[] = [];
  const region = opts.region;
  if (!region) problems.push(problem(["aws:region"], undefined, "is required", "an AWS region like eu-west-1"));
  else if (!/^[a-z]{2}(-gov)?-[a-z]+-\d$/.test(region)) problems.push(problem(["aws:region"], region, "is not an AWS region name", "an AWS region like eu-west-1"));

  // 1. The schema: every problem, and which values it refused.
  const parsed = configSchema.safeParse(input);
  const failedPaths: PathSegment[][] = [];
  let valid: z.infer<typeof remainderSchema>;
  let lists: PathSegment[][] = [];
  if (parsed.success) valid = parsed.data;
  else {
    const found = schemaProblems(parsed.error, input);
    problems.push(...found.problems);
    failedPaths.push(...found.failed);
    ({ data: valid, lists } = remainder(input, failedPaths));
  }
  const failed = (path: PathSegment[]) => failedPaths.some((f) => startsWith(f, path) || startsWith(path, f));

  // 2. What passed, over the tier's defaults: the config (refused values fall back to the
  //    defaults there, so the cluster can still be derived) and the view the rules between keys
  //    see (refused values taken out).
  const { tier, clusterName, ...rest } = valid;
  const resolve = (t: Tier): StackConfig => {
    const merged = merge(structuredClone(TIER_DEFAULTS[t]), rest) as StackConfig;
    const cfg: StackConfig = { ...merged, tier: t, clusterName: clusterName ?? "main", region: region ?? "" };
    // Client CIDRs default to the VPC itself (created or brought).
    if (!valid.network?.allowedClientCidrs && !failed(["network", "allowedClientCidrs"]))
      cfg.network.allowedClientCidrs = cfg.network.vpcId && cfg.network.subnets ? cfg.network.subnets.map((s) => s.cidr) : [cfg.network.vpcCidr];
    return cfg;
  };
  const config = tier ? resolve(tier) : undefined;
  const view = (config ? structuredClone(config) : { ...rest, clusterName, region }) as ConfigView & Record<string, unknown>;
  for (const list of lists) setAt(view, list, structuredClone(valueAt(input, list)));
  for (const path of failedPaths) if (!lists.some((l) => startsWith(path, l))) deleteAt(view, path);
  problems.push(...crossFieldProblems(view, failed));

  // 3. The derived cluster: checked as a whole (parameters the tier, the instance size and the
  //    overrides produced together). A problem already reported for the same key is not repeated.
  let spec: ClusterSpec | undefined;
  if (config) {
    // Managed parameters are refused above; the cluster is derived without them, so a refused
    // `archive_timeout: null` is not blamed on backup.archiveTimeoutSeconds as well.
    const parameters = Object.fromEntries(Object.entries(config.postgres.parameters).filter(([name]) => !MANAGED_PARAMETERS[name]));
    const derivable: StackConfig = { ...config, postgres: { ...config.postgres, parameters } };
    try {
      spec = buildSpec(derivable, opts.stack);
    } catch (err) {
      if (problems.length === 0) throw err;
      // A network with problems (subnets refused, a VPC id without subnets) cannot be laid out;
      // the rest of the cluster can still be derived and checked over the tier's own network.
      try {
        spec = buildSpec({ ...derivable, network: structuredClone(TIER_DEFAULTS[config.tier].network) }, opts.stack);
      } catch {
        spec = undefined;
      }
    }
  }
  if (spec) {
    const reported = new Set(problems.map((p) => p.key));
    for (const p of validateSpec(spec)) if (!failed(p.path) && !reported.has(p.key)) problems.push(p);
  }

  if (problems.length) {
    const order = new Map(problems.map((p) => [p, referenceOrder(p)]));
    throw new ConfigError([...problems].sort((a, b) => order.get(a)! - order.get(b)!), opts.stack);
  }
  return { config: config!, spec: spec! };
}

