// The stack's intent: which environment it is and what it promises (RPO, RTO, retention).
//
// What is *built* (archive_timeout, Patroni timing, the sync mode, pgBackRest retention, TLS) is
// always read from the resources themselves: the files of each node's bundle (the S3 objects the
// program uploads) and its user-data. What is *promised* comes, in this order, from:
//   1. the rule's policy config (a platform team's explicit word, e.g. policies/config/prod.json);
//   2. the stack's own config as the Pulumi engine hands it to a Node.js policy pack (the
//      PULUMI_CONFIG environment variable, resolved with the program's own loader and tier
//      defaults; `pgha check` passes the same map explicitly);
//   3. the published defaults of the tier (src/config/defaults.ts), the tier taken from the
//      resources' `pgha:tier` tags.
// The tier itself comes from the tags (what is built), then the stack config; a stack whose tier
// cannot be told is held to prod's promises (fail closed).
import { TIER_DEFAULTS, type StackConfig } from "../../src/config/defaults";
import { loadStackConfig } from "../../src/config/load";
import { isTier, type Tier } from "./common";

export interface StackContext {
  /** Stack name (PULUMI_STACK). */
  stack?: string;
  /** The raw stack config: "postgres-ha:tier" → "prod", objects as JSON text (PULUMI_CONFIG). */
  config?: Record<string, string>;
}

let explicitContext: StackContext | undefined;

/** Offline evaluation (`pgha check`, tests) sets the context the engine would give the pack. */
export function setStackContext(ctx: StackContext | undefined): void {
  explicitContext = ctx;
  resolved = undefined;
}

function contextFromEnvironment(): StackContext {
  let config: Record<string, string> | undefined;
  const raw = process.env.PULUMI_CONFIG;
  if (raw) {
    try {
      const parsed = JSON.parse(raw);
      if (parsed && typeof parsed === "object") config = parsed as Record<string, string>;
    } catch {
      config = undefined;
    }
  }
  return { stack: process.env.PULUMI_STACK || undefined, config };
}

export function stackContext(): StackContext {
  return explicitContext ?? contextFromEnvironment();
}

let resolved: { ctx: StackContext; stated: StackConfig | undefined } | undefined;

/** The stack's resolved config (tier defaults + its own values), when the context carries one. */
export function statedConfig(): StackConfig | undefined {
  const ctx = stackContext();
  if (resolved && resolved.ctx === ctx) return resolved.stated;
  let stated: StackConfig | undefined;
  if (ctx.config && Object.keys(ctx.config).some((k) => k.startsWith("postgres-ha:"))) {
    try {
      stated = loadStackConfig(ctx.config, { stack: ctx.stack ?? "stack", region: "eu-west-1" });
    } catch {
      stated = undefined; // the program refuses such a config itself; fall back to tier defaults
    }
  }
  resolved = { ctx, stated };
  return stated;
}

/** The tier the stack config states (postgres-ha:tier), or the stack's name when it is a tier. */
export function statedTier(): Tier | undefined {
  const ctx = stackContext();
  const fromConfig = ctx.config?.["postgres-ha:tier"];
  if (isTier(fromConfig)) return fromConfig;
  return isTier(ctx.stack) ? ctx.stack : undefined;
}

export type Objectives = StackConfig["objectives"];

export interface Stated<T> {
  value: T;
  /** Where the value comes from, for messages ("policy config", "stack config", "prod tier default"). */
  source: string;
}

/** The objectives that are numbers in every tier (the budget may be null: none stated). */
export type TimedObjective = Exclude<keyof Objectives, "monthlyBudgetUsd">;

/** One promised objective for a tier, from policy config, the stack config or the tier default. */
export function objective(tier: Tier, key: TimedObjective, fromPolicyConfig: number | undefined): Stated<number> {
  if (typeof fromPolicyConfig === "number") return { value: fromPolicyConfig, source: "policy config" };
  const stated = statedConfig();
  if (stated && stated.tier === tier) return { value: stated.objectives[key], source: `objectives.${key} in the stack config` };
  return { value: TIER_DEFAULTS[tier].objectives[key], source: `the ${tier} tier's default objectives.${key}` };
}

/** The tier's published default objectives (what a stack promises when it states nothing). */
export function tierObjectives(tier: Tier): Objectives {
  return { ...TIER_DEFAULTS[tier].objectives };
}
