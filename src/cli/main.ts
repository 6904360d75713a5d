// pgha: offline render/plan/check/diff of a stack, the local sandbox, and the benchmarks.
import * as fs from "fs";
import * as path from "path";
import { Command } from "commander";
import { loadStack, PROJECT_ROOT } from "../config/stack-file";
import { ec2Layout, sandboxLayout } from "../layout";
import { renderAll, sha256 } from "../render/bundle";
import { ConfigError } from "../config/load";
import { registerSandboxCommands } from "./sandbox";
import { registerBenchCommands } from "../../bench/commands";
import { registerPlanCommands } from "./plan";
import { registerCostCommand } from "./cost";
import { registerAlertsCommand } from "./alerts";
import { registerRolloutCommand } from "./rollout";
import { registerRestoreCommand } from "./restore";
import { registerPromoteStandbyCommand } from "./promote-standby";
import { registerRestartCommand } from "./restart";
import { registerLogsCommand } from "./logs";
import {
  PULUMI_YAML_BEGIN, PULUMI_YAML_END, README_BEGIN, README_END,
  referenceMarkdown, referenceYamlComments, replaceBetween,
} from "../config/reference";

export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

/** Writes every node's bundle under outDir/<node>/ and returns a manifest of hashes. */
export function writeRendered(stackOrPath: string, outDir: string, layoutKind: "ec2" | "sandbox") {
  const { stack, spec } = loadStack(stackOrPath);
  const layout = layoutKind === "ec2" ? ec2Layout(spec) : sandboxLayout(spec);
  const bundles = renderAll(spec, layout);
  fs.rmSync(outDir, { recursive: true, force: true });
  const manifest: Record<string, Record<string, string>> = {};
  for (const b of bundles) {
    manifest[b.node] = {};
    for (const f of b.files) {
      const target = path.join(outDir, b.node, f.path);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, f.content, { mode: parseInt(f.mode, 8) });
      manifest[b.node][f.path] = sha256(f.content);
    }
    fs.writeFileSync(path.join(outDir, b.node, "user-data.cloud-config.yaml"), b.cloudConfig);
    manifest[b.node]["user-data (gzip)"] = sha256(b.userDataGzip);
  }
  fs.writeFileSync(path.join(outDir, "MANIFEST.json"), JSON.stringify({ stack, layout: layoutKind, nodes: manifest }, null, 2) + "\n");
  return { stack, bundles, manifest };
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name("pgha")
    .description("postgres-ha: render and review a stack offline, run it on local hosts, measure it")
    .showHelpAfterError()
    .enablePositionalOptions()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  program
    .command("render")
    .description("write every node's files (exactly as the node gets them) and its user-data, for review")
    .requiredOption("-s, --stack <stack>", "stack name (dev, staging, prod) or path to a Pulumi.<stack>.yaml")
    .option("-o, --out <dir>", "output directory (default out/<stack>)")
    .option("--layout <kind>", "ec2 (what AWS nodes get) or sandbox (local hosts)", "ec2")
    .action((opts: { stack: string; out?: string; layout: string }) => {
      if (opts.layout !== "ec2" && opts.layout !== "sandbox") throw new CliError(`--layout must be ec2 or sandbox, not ${opts.layout}`, 2);
      const out = path.resolve(opts.out ?? path.join(PROJECT_ROOT, "out", opts.stack.replace(/.*Pulumi\.|\.ya?ml$/g, "")));
      const { stack, bundles } = writeRendered(opts.stack, out, opts.layout);
      const rows = bundles.map((b) => `  ${b.node.padEnd(6)} ${b.role.padEnd(8)} ${String(b.files.length).padStart(2)} files  user-data ${b.userDataGzip.length} B gzip (${b.cloudConfig.length} B)`);
      process.stdout.write(`rendered stack ${stack} (${opts.layout} layout) into ${path.relative(process.cwd(), out) || "."}:\n${rows.join("\n")}\n`);
    });

  program
    .command("config-reference")
    .description("print the config reference (markdown), or update it in README.md / Pulumi.yaml")
    .option("--readme", "rewrite the reference block in README.md")
    .option("--pulumi-yaml", "rewrite the reference comment block in Pulumi.yaml")
    .action((opts: { readme?: boolean; pulumiYaml?: boolean }) => {
      if (opts.readme) {
        const f = path.join(PROJECT_ROOT, "README.md");
        fs.writeFileSync(f, replaceBetween(fs.readFileSync(f, "utf8"), README_BEGIN, README_END, referenceMarkdown()));
      }
      if (opts.pulumiYaml) {
        const f = path.join(PROJECT_ROOT, "Pulumi.yaml");
        fs.writeFileSync(f, replaceBetween(fs.readFileSync(f, "utf8"), PULUMI_YAML_BEGIN, PULUMI_YAML_END, referenceYamlComments(), "  "));
      }
      if (!opts.readme && !opts.pulumiYaml) process.stdout.write(referenceMarkdown() + "\n");
    });

  registerSandboxCommands(program);
  registerBenchCommands(program);
  registerPlanCommands(program);
  registerCostCommand(program);
  registerAlertsCommand(program);
  registerRolloutCommand(program);
  registerRestoreCommand(program);
  registerPromoteStandbyCommand(program);
  registerRestartCommand(program);
  registerLogsCommand(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, 2);
    throw err;
  }
}
