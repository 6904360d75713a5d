// `pgha check`: the stack's program under mocks, every policy of the pack evaluated over what it
// registered (src/plan/policy-engine.ts), with the enforcement levels of the stack's environment.
// Seconds, no Pulumi CLI, no credentials.
import * as fs from "fs";
import * as path from "path";
import type { EnforcementLevel, Policies } from "@pulumi/policy";
import { ConfigError, loadStackConfig } from "../config/load";
import { enforcementForTier, policies as packPolicies } from "../../policies/rules";
import { rawStackConfig } from "./config";
import { evaluatePolicies, policyConfigProblems, type Diagnostic, type EvaluationResult, type PolicyConfigFile, type PolicyOutcome } from "./policy-engine";
import { runProgram, type ModuleIsolation, type ProgramRun, type ResourceOverride } from "./run";

export interface CheckOptions {
  root: string;
  /** Stack name or path to a Pulumi.<stack>.yaml. */
  stack: string;
  overrides?: Record<string, unknown>;
  /** A policy config file; default: <root>/policies/config/<tier>.json when it exists. */
  policyConfigFile?: string;
  /**
   * false (default): the mocks answer like a finished `pulumi up` (fake ids, ARNs, generated
   * values), so every rule can run. true: provider-computed values stay unknown, as during
   * `pulumi preview`; rules that need one report "can't run during preview" (advisory).
   */
  previewUnknowns?: boolean;
  override?: ResourceOverride;
  isolation?: ModuleIsolation;
  policies?: Policies;
  /** Transform the recorded resources before evaluation (tests construct topologies with it). */
  mutate?: (run: ProgramRun) => void;
}

export interface CheckReport {
  stack: string;
  stackFile: string;
  tier?: string;
  resources: number;
  programMillis: number;
  /** The program failed (e.g. a config error): nothing was evaluated. */
  programError?: Error;
  policyConfig: { file?: string; packEnforcement: EnforcementLevel };
  previewUnknowns: boolean;
  result?: EvaluationResult;
  run?: ProgramRun;
}

/** policies/config/<tier>.json of the project, when it exists. */
export function defaultPolicyConfigFile(root: string, tier: string | undefined): string | undefined {
  if (!tier) return undefined;
  const file = path.join(root, "policies", "config", `${tier}.json`);
  return fs.existsSync(file) ? file : undefined;
}

export function readPolicyConfig(file: string, policies: Policies): PolicyConfigFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(`policy config ${file}: ${(e as Error).message}`);
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error(`policy config ${file}: expected a JSON object`);
  const problems = policyConfigProblems(parsed as PolicyConfigFile, policies);
  if (problems.length) throw new Error(`policy config ${file}:\n  ${problems.join("\n  ")}`);
  return parsed as PolicyConfigFile;
}

export async function runCheck(opts: CheckOptions): Promise<CheckReport> {
  const source = rawStackConfig(opts.root, opts.stack, opts.overrides);
  const started = Date.now();
  const run = await runProgram({
    stack: source.stack,
    root: opts.root,
    config: source.config,
    preview: true,
    fakeOutputs: !opts.previewUnknowns,
    override: opts.override,
    isolation: opts.isolation,
  });
  return checkRun(run, { ...opts, stackFile: source.file, programMillis: Date.now() - started });
}

/** The tier a raw stack config states (undefined when the config is invalid: the program says why). */
export function tierOfConfig(config: Record<string, string>, stack: string): string | undefined {
  try {
    return loadStackConfig(config, { stack }).tier;
  } catch (e) {
    if (e instanceof ConfigError) return undefined;
    throw e;
  }
}

/** Evaluates the pack over a finished run (tests evaluate several mutated copies of one run). */
export async function checkRun(
  run: ProgramRun,
  opts: Pick<CheckOptions, "root" | "policyConfigFile" | "previewUnknowns" | "policies" | "mutate"> & { stackFile?: string; programMillis?: number },
): Promise<CheckReport> {
  const policies = opts.policies ?? packPolicies;
  const tier = tierOfConfig(run.config, run.stack);
  const packEnforcement = enforcementForTier(tier === "dev" || tier === "staging" || tier === "prod" ? tier : undefined);
  const file = opts.policyConfigFile ?? defaultPolicyConfigFile(opts.root, tier);
  const report: CheckReport = {
    stack: run.stack,
    stackFile: opts.stackFile ?? `Pulumi.${run.stack}.yaml`,
    tier,
    resources: run.resources.length,
    programMillis: opts.programMillis ?? 0,
    policyConfig: { file, packEnforcement },
    previewUnknowns: !!opts.previewUnknowns,
    run,
  };
  if (run.error) {
    report.programError = run.error;
    return report;
  }
  opts.mutate?.(run);
  const config = file ? readPolicyConfig(file, policies) : {};
  const all = run.stackResource ? [run.stackResource, ...run.resources] : run.resources;
  report.result = await evaluatePolicies({
    resources: all,
    policies,
    config,
    packEnforcement,
    stackContext: { stack: run.stack, config: run.config },
  });
  return report;
}

// ---------------------------------------------------------------------------------------------
// Output

function status(o: PolicyOutcome): "violated" | "passed" | "not-applicable" | "disabled" {
  if (o.enforcementLevel === "disabled") return "disabled";
  if (o.diagnostics.length) return "violated";
  if (o.notApplicable) return "not-applicable";
  return "passed";
}

/** A JSON-friendly summary (no secrets: messages never echo values). */
export function checkReportJson(report: CheckReport) {
  return {
    stack: report.stack,
    stackFile: report.stackFile,
    tier: report.tier ?? null,
    resources: report.resources,
    policyConfig: report.policyConfig.file ?? null,
    packEnforcement: report.policyConfig.packEnforcement,
    programError: report.programError?.message ?? null,
    passed: !report.programError && (report.result?.blocking.length ?? 0) === 0,
    policies: (report.result?.outcomes ?? []).map((o) => ({
      name: o.policy.name,
      scope: o.scope,
      enforcementLevel: o.enforcementLevel,
      status: status(o),
      notApplicable: o.notApplicable ?? null,
      remediation: o.policy.remediationSteps ?? null,
      diagnostics: o.diagnostics.map((d) => ({ kind: d.kind, enforcementLevel: d.enforcementLevel, message: d.message, resource: d.resourceName ?? null, type: d.resourceType ?? null, urn: d.urn ?? null })),
    })),
  };
}

function plural(n: number, word: string): string {
  if (n === 1) return `${n} ${word}`;
  return `${n} ${word.endsWith("y") ? `${word.slice(0, -1)}ies` : `${word}s`}`;
}

function groupByResource(diagnostics: Diagnostic[]): Map<string, Diagnostic[]> {
  const out = new Map<string, Diagnostic[]>();
  for (const d of diagnostics) {
    const key = d.resourceName ? `${d.resourceName} (${d.resourceType})` : "(stack)";
    if (!out.has(key)) out.set(key, []);
    out.get(key)!.push(d);
  }
  return out;
}

export function formatCheckReport(report: CheckReport, cwd = process.cwd()): string {
  const rel = (f: string) => path.relative(cwd, f) || f;
  const lines: string[] = [];
  lines.push(`pgha check: stack ${report.stack}${report.tier ? ` (tier ${report.tier})` : ""}, ${rel(report.stackFile)}`);
  if (report.programError) {
    lines.push("", "✗ the program failed before any policy could run:", ...report.programError.message.split("\n").map((l) => `  ${l}`));
    return lines.join("\n") + "\n";
  }
  const result = report.result!;
  const cfg = report.policyConfig.file ? rel(report.policyConfig.file) : "none";
  const mode = report.previewUnknowns ? "as at preview: provider outputs unknown" : "as after `up`: provider outputs faked";
  lines.push(`  ${report.resources} resources under mocks (${mode}; ${(report.programMillis / 1000).toFixed(1)} s), ${result.outcomes.length} policies; policy config: ${cfg}; pack default: ${report.policyConfig.packEnforcement}`);
  const ordered = [...result.outcomes].sort((a, b) => {
    const rank = (o: PolicyOutcome) => (o.diagnostics.some((d) => d.kind === "error") ? 0 : o.diagnostics.some((d) => d.kind === "violation" && d.enforcementLevel === "mandatory") ? 1 : o.diagnostics.length ? 2 : 3);
    return rank(a) - rank(b) || a.policy.name.localeCompare(b.policy.name);
  });
  for (const o of ordered) {
    if (!o.diagnostics.length) continue;
    const violations = o.diagnostics.filter((d) => d.kind === "violation");
    const mark = o.diagnostics.some((d) => d.kind === "error") ? "✗ ERROR    " : violations.length && o.enforcementLevel === "mandatory" ? "✗ mandatory" : "! advisory ";
    const counts = [violations.length && plural(violations.length, "violation"), o.diagnostics.length - violations.length && `${o.diagnostics.length - violations.length} not evaluated`].filter(Boolean).join(", ");
    lines.push("", `${mark} ${o.policy.name} — ${o.policy.description} (${counts})`);
    for (const [resource, ds] of groupByResource(o.diagnostics)) {
      lines.push(`    ${resource}`);
      for (const d of ds) lines.push(`      - ${d.kind === "violation" ? "" : `[${d.kind}] `}${d.message}`);
    }
    if (o.policy.remediationSteps) lines.push(`    fix: ${o.policy.remediationSteps}`);
  }
  const passed = ordered.filter((o) => status(o) === "passed").map((o) => o.policy.name);
  const na = ordered.filter((o) => status(o) === "not-applicable" || status(o) === "disabled").map((o) => `${o.policy.name} (${o.notApplicable})`);
  lines.push("", `✓ ${plural(passed.length, "policy")} passed: ${passed.join(", ") || "none"}`);
  if (na.length) lines.push(`– not applicable: ${na.join(", ")}`);
  const blocking = result.blocking.length;
  const advisory = result.diagnostics.length - blocking;
  lines.push(
    "",
    blocking
      ? `FAILED: ${plural(blocking, "mandatory violation")}${advisory ? ` and ${advisory} advisory` : ""} — \`pulumi up\` would be refused. Fix them (see "fix:" above) and run pgha check again.`
      : `PASSED: no mandatory violation${advisory ? ` (${advisory} advisory finding${advisory === 1 ? "" : "s"})` : ""}.`,
  );
  return lines.join("\n") + "\n";
}
