// The config gate itself: the schema, the rules between keys and the rules on the derived cluster,
// run in one round; one ConfigError lists every problem, in the config reference's order.
import type { z } from "zod";
import { AWS_REGION_RE, configSchema, type Tier } from "../schema";
import { TIER_DEFAULTS, type StackConfig } from "../defaults";
import { docKeyOf, KEY_DOCS } from "../keys";
import { crossFieldProblems, type ConfigView } from "../cross-field";
import { validateSpec } from "../validate-spec";
import { MANAGED_PARAMETERS } from "../parameters";
import { ConfigError, problem, type ConfigProblem, type PathSegment } from "../problems";
import { buildSpec, type ClusterSpec } from "../../spec";
import { deleteAt, merge, setAt, startsWith, valueAt } from "./data-paths";
import { projectConfigFromRaw } from "./raw";
import { remainder, schemaProblems, type remainderSchema } from "./schema-problems";

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
  else if (!AWS_REGION_RE.test(region)) problems.push(problem(["aws:region"], region, "is not an AWS region name", "an AWS region like eu-west-1"));

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
  problems.push(...crossFieldProblems(view, failed, opts.stack));

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
