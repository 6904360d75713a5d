// The shipped stacks' costs (every Pulumi.<stack>.yaml of the project), for the README block.
import * as fs from "fs";
import * as path from "path";
import { replaceBetween } from "../config/reference";
import { rawStackConfig } from "../plan/config";
import { runProgram, type ModuleIsolation } from "../plan/run";
import { COST_BEGIN, COST_END, costReadmeBlock } from "./format";
import { PRICES } from "./prices";
import { stackCost, type StackCost } from "./stack";

const TIER_ORDER = ["dev", "staging", "prod"];

/** The stacks the project ships: Pulumi.<stack>.yaml beside Pulumi.yaml, tiers in their order. */
export function shippedStacks(root: string): string[] {
  const names = fs.readdirSync(root).flatMap((f) => (/^Pulumi\.([^.]+)\.ya?ml$/.exec(f)?.[1] ? [/^Pulumi\.([^.]+)\.ya?ml$/.exec(f)![1]] : []));
  const rank = (s: string) => (TIER_ORDER.includes(s) ? TIER_ORDER.indexOf(s) : TIER_ORDER.length);
  return names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** A stack's region (aws:region of its file, or Pulumi.yaml's). */
function stackRegion(root: string, stack: string): string {
  return String(rawStackConfig(root, stack).config["aws:region"] ?? "");
}

/**
 * The shipped stacks the README's cost table shows: those in a region src/cost/prices.ts prices.
 * The others (unpricedShippedStacks: prod-dr, in eu-central-1) are left out, and named, rather
 * than priced with made-up figures; adding the region's prices brings them in.
 */
export function pricedShippedStacks(root: string): string[] {
  return shippedStacks(root).filter((s) => stackRegion(root, s) in PRICES);
}

/** The shipped stacks left out of the cost table, with their unpriced region. */
export function unpricedShippedStacks(root: string): { stack: string; region: string }[] {
  return shippedStacks(root).filter((s) => !(stackRegion(root, s) in PRICES)).map((stack) => ({ stack, region: stackRegion(root, stack) }));
}

/** Runs one stack's program under the mocks (as `pgha plan` does) and prices what it registers. */
export async function costOfStack(root: string, stack: string, isolation?: ModuleIsolation, overrides?: Record<string, unknown>): Promise<StackCost> {
  const source = rawStackConfig(root, stack, overrides);
  if (!fs.existsSync(source.file)) throw new Error(`no stack file ${source.file}`);
  const run = await runProgram({ stack: source.stack, root, config: source.config, preview: true, fakeOutputs: false, isolation });
  if (run.error) throw new Error(`the program failed for stack ${source.stack}:\n${run.error.message}`);
  return stackCost(run);
}

export async function shippedCosts(root: string, isolation?: ModuleIsolation): Promise<StackCost[]> {
  const out: StackCost[] = [];
  for (const stack of pricedShippedStacks(root)) out.push(await costOfStack(root, stack, isolation));
  return out;
}

/** README.md with its cost block regenerated from the shipped stacks. */
export function readmeWithCostTable(readme: string, costs: StackCost[]): string {
  return replaceBetween(readme, COST_BEGIN, COST_END, costReadmeBlock(costs));
}

export function readmePath(root: string): string {
  return path.join(root, "README.md");
}
