// pgha plan | diff | check: the stack's program under mocks — what it would create, what a change
// does to it, and whether it keeps the policies — offline, in seconds, without the Pulumi CLI.
import * as fs from "fs";
import * as path from "path";
import type { Command } from "commander";
import { PROJECT_ROOT } from "../config/stack-file";

// The harness loads @pulumi/pulumi, @pulumi/policy and the policy pack (about a second): each
// command loads it when it runs, so `pgha --help` and the other commands do not wait for it.
const planModules = async () => ({
  ...(await import("../plan/check")),
  ...(await import("../plan/diff")),
  ...(await import("../plan/plan")),
  ...(await import("../plan/run")),
  ...(await import("../plan/config")),
});

class PlanCliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

const STACK_HELP = "stack name (dev, staging, prod) or path to a Pulumi.<stack>.yaml";

/** Waits until stdout has taken everything (the bin exits right after an error is thrown). */
function flushStdout(): Promise<void> {
  return new Promise((resolve) => process.stdout.write("", () => resolve()));
}

function write(out: string | undefined, text: string): void {
  if (!out) {
    process.stdout.write(text);
    return;
  }
  fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  fs.writeFileSync(out, text);
}

export function registerPlanCommands(program: Command): void {
  program
    .command("plan")
    .description("list every resource the stack would have (type, name, parent, key inputs, each node's files from its bundle object, the rollout) — under mocks, deterministic")
    .requiredOption("-s, --stack <stack>", STACK_HELP)
    .option("--json", "the whole plan as JSON (all inputs, secrets redacted)")
    .option("-o, --out <file>", "write to a file instead of stdout")
    .action(async (opts: { stack: string; json?: boolean; out?: string }) => {
      const { rawStackConfig, runProgram, buildPlan, planJson, formatPlanText } = await planModules();
      const source = rawStackConfig(PROJECT_ROOT, opts.stack);
      if (!fs.existsSync(source.file)) throw new PlanCliError(`no stack file ${source.file}`, 2);
      const run = await runProgram({ stack: source.stack, root: PROJECT_ROOT, config: source.config, preview: true, fakeOutputs: false });
      if (run.error) throw new PlanCliError(`the program failed for stack ${source.stack}:\n${run.error.message}`, 2);
      const plan = buildPlan(run);
      write(opts.out, opts.json ? planJson(plan) : formatPlanText(plan));
    });

  program
    .command("diff")
    .description("what the working tree changes against a git ref: resources added/removed/changed, per node what converges live and what needs a restart, and a unified diff of every node file")
    .requiredOption("-s, --stack <stack>", STACK_HELP)
    .requiredOption("-b, --base <ref>", "git ref to compare with (e.g. origin/main, HEAD~1)")
    .option("--json", "machine-readable output")
    .option("-o, --out <file>", "write to a file instead of stdout")
    .action(async (opts: { stack: string; base: string; json?: boolean; out?: string }) => {
      const { extractRef, planSide, baseStackArg, diffReport, diffReportJson, formatDiff } = await planModules();
      const base = extractRef(PROJECT_ROOT, opts.base);
      try {
        const before = await planSide(base.dir, baseStackArg(PROJECT_ROOT, base.dir, opts.stack), `${opts.base}`);
        const after = await planSide(PROJECT_ROOT, opts.stack, "working tree");
        if (after.error) throw new PlanCliError(`the working tree's program failed for stack ${opts.stack}:\n${after.error}`, 2);
        if (before.error && before.plan === undefined) throw new PlanCliError(`the program at ${opts.base} failed for stack ${opts.stack}:\n${before.error}`, 2);
        const report = diffReport(after.plan!.stack, { ref: opts.base, commit: base.commit }, before, after);
        const note = before.error ? `note: ${opts.base} has ${before.error}: every resource is new\n` : "";
        write(opts.out, opts.json ? JSON.stringify(diffReportJson(report), null, 2) + "\n" : note + formatDiff(report));
      } finally {
        base.cleanup();
      }
    });

  program
    .command("check")
    .description("evaluate every policy of policies/ against the stack's program under mocks; exits 1 on a mandatory violation")
    .requiredOption("-s, --stack <stack...>", `${STACK_HELP} (several allowed)`)
    .option("--policy-config <file>", "policy pack config (default: policies/config/<tier>.json)")
    .option("--preview", "leave provider outputs unknown, as `pulumi preview` does (rules that need them report that they cannot run)")
    .option("--json", "machine-readable results")
    .action(async (opts: { stack: string[]; policyConfig?: string; preview?: boolean; json?: boolean }) => {
      const { runCheck, checkReportJson, formatCheckReport } = await planModules();
      let failed = 0;
      let programFailed = false;
      const reports = [];
      for (const stack of opts.stack) {
        const report = await runCheck({ root: PROJECT_ROOT, stack, policyConfigFile: opts.policyConfig && path.resolve(opts.policyConfig), previewUnknowns: opts.preview });
        if (report.programError) programFailed = true;
        if (report.programError || (report.result?.blocking.length ?? 0) > 0) failed++;
        if (opts.json) reports.push(checkReportJson(report));
        else process.stdout.write((reports.length++ ? "\n" : "") + formatCheckReport(report));
      }
      if (opts.json) process.stdout.write(JSON.stringify(reports.length === 1 ? reports[0] : reports, null, 2) + "\n");
      await flushStdout();
      // 2: a program failed (an invalid stack config) — as `pgha render` reports config errors.
      if (failed) throw new PlanCliError(`${failed} of ${opts.stack.length} stack${opts.stack.length === 1 ? "" : "s"} failed the policy check`, programFailed ? 2 : 1);
    });
}
