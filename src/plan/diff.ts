// `pgha diff`: what a change does, offline — resources added, removed and changed between two
// plans (src/plan/plan.ts), and a unified diff of every rendered node file (the render path, ec2
// layout) between a base git ref and the working tree. The base is read with `git archive` into a
// temporary directory (works on a clean clone, leaves no worktree behind) and run with the working
// tree's harness and node_modules, so both sides meet the same mocks.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { createTwoFilesPatch } from "diff";
import YAML from "yaml";
import { rawStackConfig, type RawConfig } from "./config";
import { buildPlan, sha256, type Plan, type PlanResource } from "./plan";
import { codeTree, runProgram, type ModuleIsolation } from "./run";

// ---------------------------------------------------------------------------------------------
// Rendered node files, through the render path of a given tree.

/** node → file path → content (plus the cloud-config without write_files, as `user-data: cloud-config`). */
export type RenderedNodes = Record<string, Record<string, string>>;

export const CLOUD_CONFIG_PSEUDO_PATH = "user-data: cloud-config (write_files listed by path)";

/**
 * Renders every node of a stack with the render path of the tree at `root` (its own
 * src/config, src/spec, src/layout, src/render): exactly what its program would put in user-data.
 */
export function renderTree(root: string, stack: string, config: RawConfig): RenderedNodes {
  const code = codeTree(root);
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { loadStackConfig } = require(path.join(code, "src/config/load"));
  const { buildSpec } = require(path.join(code, "src/spec"));
  const { ec2Layout } = require(path.join(code, "src/layout"));
  const { renderAll } = require(path.join(code, "src/render/bundle"));
  /* eslint-enable @typescript-eslint/no-require-imports */
  const spec = buildSpec(loadStackConfig(config, { stack }), stack);
  const out: RenderedNodes = {};
  for (const bundle of renderAll(spec, ec2Layout(spec)) as { node: string; files: { path: string; content: string; mode: string; owner: string }[]; cloudConfig: string }[]) {
    const files: Record<string, string> = {};
    for (const f of bundle.files) files[f.path] = f.content;
    const doc = YAML.parse(bundle.cloudConfig, { version: "1.1" }) as Record<string, unknown>;
    if (Array.isArray(doc?.write_files)) doc.write_files = (doc.write_files as { path: string; permissions?: string; owner?: string }[]).map((f) => `${f.permissions ?? ""} ${f.owner ?? ""} ${f.path}`);
    files[CLOUD_CONFIG_PSEUDO_PATH] = YAML.stringify(doc, { lineWidth: 0 });
    out[bundle.node] = files;
  }
  return out;
}

export interface FileDiff {
  node: string;
  path: string;
  change: "added" | "removed" | "changed";
  patch: string;
}

export function diffRenderedFiles(base: RenderedNodes, head: RenderedNodes): FileDiff[] {
  const out: FileDiff[] = [];
  const nodes = [...new Set([...Object.keys(base), ...Object.keys(head)])].sort(nodeOrder);
  for (const node of nodes) {
    const b = base[node] ?? {};
    const h = head[node] ?? {};
    for (const file of [...new Set([...Object.keys(b), ...Object.keys(h)])].sort()) {
      if (b[file] === h[file]) continue;
      const change = b[file] === undefined ? "added" : h[file] === undefined ? "removed" : "changed";
      const label = file.startsWith("/") ? `${node}${file}` : `${node}/${file}`;
      const patch = createTwoFilesPatch(`a/${label}`, `b/${label}`, b[file] ?? "", h[file] ?? "", undefined, undefined, { context: 3 });
      out.push({ node, path: file, change, patch: patch.replace(/^=+\n/, "") });
    }
  }
  return out;
}

/** db1, db2, …, etcd1, …, lb1 …: roles in cluster order, then by number. */
function nodeOrder(a: string, b: string): number {
  const rank = (n: string) => (n.startsWith("db") ? 0 : n.startsWith("etcd") ? 1 : n.startsWith("lb") ? 2 : 3);
  const num = (n: string) => Number(/\d+$/.exec(n)?.[0] ?? 0);
  return rank(a) - rank(b) || num(a) - num(b) || a.localeCompare(b);
}

// ---------------------------------------------------------------------------------------------
// Resources

export interface ValueChange {
  path: string;
  before: unknown;
  after: unknown;
}

export interface ResourceChange {
  urn: string;
  type: string;
  name: string;
  /** Input leaves that differ (user-data is compared file by file instead). */
  inputs: ValueChange[];
  options: ValueChange[];
  /** Files of the decoded user-data that differ: path → change. */
  userDataFiles: { path: string; change: "added" | "removed" | "changed" }[];
  /** Leaves of the day-2 command's dynamic configuration that differ. */
  dynamicConfig: ValueChange[];
  /** A changed input the resource replaces itself on (replaceOnChanges). */
  replaces: boolean;
  /** Changed inputs the program ignores after creation (ignoreChanges). */
  ignored: string[];
}

export interface PlanDiff {
  added: PlanResource[];
  removed: PlanResource[];
  changed: ResourceChange[];
  unchanged: number;
  outputs: ValueChange[];
}

/** Leaf differences between two canonical values (objects by key, arrays by index). */
export function leafChanges(before: unknown, after: unknown, prefix = ""): ValueChange[] {
  if (JSON.stringify(before) === JSON.stringify(after)) return [];
  const isObj = (v: unknown) => v !== null && typeof v === "object";
  if (isObj(before) && isObj(after) && Array.isArray(before) === Array.isArray(after)) {
    const keys = Array.isArray(before)
      ? Array.from({ length: Math.max((before as unknown[]).length, (after as unknown[]).length) }, (_, i) => String(i))
      : [...new Set([...Object.keys(before as object), ...Object.keys(after as object)])].sort();
    return keys.flatMap((k) => {
      const p = Array.isArray(before) ? `${prefix}[${k}]` : prefix ? `${prefix}.${k}` : k;
      return leafChanges((before as Record<string, unknown>)[k], (after as Record<string, unknown>)[k], p);
    });
  }
  return [{ path: prefix, before, after }];
}

function topKey(p: string): string {
  return p.split(/[.[]/)[0];
}

export function diffPlans(base: Plan, head: Plan): PlanDiff {
  const b = new Map(base.resources.map((r) => [r.urn, r]));
  const h = new Map(head.resources.map((r) => [r.urn, r]));
  const added = head.resources.filter((r) => !b.has(r.urn));
  const removed = base.resources.filter((r) => !h.has(r.urn));
  const changed: ResourceChange[] = [];
  let unchanged = 0;
  for (const after of head.resources) {
    const before = b.get(after.urn);
    if (!before) continue;
    const inputs = leafChanges(before.inputs, after.inputs).filter((c) => !(after.userData && /^userData(Base64)?$/.test(topKey(c.path))));
    const options = leafChanges(before.options, after.options);
    const beforeFiles = new Map((before.userData?.files ?? []).map((f) => [f.path, f]));
    const afterFiles = new Map((after.userData?.files ?? []).map((f) => [f.path, f]));
    const userDataFiles: ResourceChange["userDataFiles"] = [];
    for (const p of [...new Set([...beforeFiles.keys(), ...afterFiles.keys()])].sort()) {
      const x = beforeFiles.get(p);
      const y = afterFiles.get(p);
      if (!x) userDataFiles.push({ path: p, change: "added" });
      else if (!y) userDataFiles.push({ path: p, change: "removed" });
      else if (JSON.stringify(x) !== JSON.stringify(y)) userDataFiles.push({ path: p, change: "changed" });
    }
    if (before.userData && after.userData && !userDataFiles.length && before.userData.sha256 !== after.userData.sha256) {
      userDataFiles.push({ path: "(cloud-config outside write_files)", change: "changed" });
    }
    const dynamicConfig = leafChanges(before.dynamicConfig ?? {}, after.dynamicConfig ?? {});
    if (!inputs.length && !options.length && !userDataFiles.length && !dynamicConfig.length && JSON.stringify(before.dependencies) === JSON.stringify(after.dependencies)) {
      unchanged++;
      continue;
    }
    const changedKeys = new Set([...inputs.map((c) => topKey(c.path)), ...(userDataFiles.length ? ["userDataBase64"] : [])]);
    const replaceKeys = (after.options.replaceOnChanges ?? []).map(topKey);
    changed.push({
      urn: after.urn,
      type: after.type,
      name: after.name,
      inputs,
      options,
      userDataFiles,
      dynamicConfig,
      replaces: [...changedKeys].some((k) => replaceKeys.includes(k)),
      ignored: [...changedKeys].filter((k) => (after.options.ignoreChanges ?? []).includes(k)),
    });
  }
  return { added, removed, changed, unchanged, outputs: leafChanges(base.outputs, head.outputs) };
}

// ---------------------------------------------------------------------------------------------
// Base ref → a directory

/** Extracts `ref` of the repository at `root` into a new temporary directory (git archive). */
export function extractRef(root: string, ref: string): { dir: string; commit: string; cleanup: () => void } {
  let commit: string;
  try {
    commit = execFileSync("git", ["-C", root, "rev-parse", "--verify", "--quiet", `${ref}^{commit}`], { encoding: "utf8" }).trim();
  } catch {
    throw new Error(`--base ${ref}: no such commit in ${root} (a shallow clone may lack it: fetch it, e.g. \`git fetch origin main\`, or check out with fetch-depth: 0)`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-diff-base-"));
  const cleanup = () => fs.rmSync(dir, { recursive: true, force: true });
  try {
    const tar = execFileSync("git", ["-C", root, "archive", "--format=tar", commit], { maxBuffer: 1 << 30 });
    execFileSync("tar", ["-x", "-C", dir], { input: tar });
    // The base runs with the working tree's dependencies (the same SDKs, hence the same mocks).
    fs.rmSync(path.join(dir, "node_modules"), { recursive: true, force: true });
    fs.symlinkSync(path.join(root, "node_modules"), path.join(dir, "node_modules"), "dir");
  } catch (e) {
    cleanup();
    throw e;
  }
  return { dir, commit, cleanup };
}

/** The base side's stack: the same name, or the same path relative to the repository. */
export function baseStackArg(root: string, baseDir: string, stack: string): string {
  if (!(stack.endsWith(".yaml") || stack.endsWith(".yml") || stack.includes("/"))) return stack;
  const abs = path.resolve(stack);
  const rel = path.relative(root, abs);
  return rel.startsWith("..") || path.isAbsolute(rel) ? abs : path.join(baseDir, rel);
}

export interface StackSide {
  label: string;
  plan?: Plan;
  files?: RenderedNodes;
  /** Why this side could not be planned (no stack file at the base, invalid config, …). */
  error?: string;
}

export async function planSide(root: string, stack: string, label: string, isolation?: ModuleIsolation, overrides?: Record<string, unknown>): Promise<StackSide> {
  const source = rawStackConfig(root, stack, overrides);
  if (!fs.existsSync(source.file)) return { label, error: `no stack file ${path.basename(source.file)}`, plan: emptyPlan(source.stack), files: {} };
  const run = await runProgram({ stack: source.stack, root, config: source.config, preview: true, fakeOutputs: false, isolation });
  if (run.error) return { label, error: run.error.message };
  return { label, plan: buildPlan(run), files: renderTree(root, source.stack, source.config) };
}

function emptyPlan(stack: string): Plan {
  return { format: "pgha-plan/1", project: "postgres-ha", stack, resourceCount: 0, byType: {}, resources: [], outputs: {} };
}

// ---------------------------------------------------------------------------------------------
// Output

function brief(v: unknown): string {
  if (v === undefined) return "(none)";
  const s = typeof v === "string" ? v : JSON.stringify(v);
  if (s.length <= 72) return typeof v === "string" ? JSON.stringify(v) : s;
  return `<${s.length} chars, sha256 ${sha256(s).slice(0, 12)}>`;
}

export interface DiffReport {
  stack: string;
  base: { ref: string; commit: string };
  plans: PlanDiff;
  files: FileDiff[];
}

export function formatDiff(report: DiffReport): string {
  const { plans, files } = report;
  const lines: string[] = [];
  const total = plans.added.length + plans.removed.length + plans.changed.length + plans.unchanged;
  lines.push(`pgha diff: stack ${report.stack}, ${report.base.ref} (${report.base.commit.slice(0, 12)}) → working tree; planned under mocks, no cloud`);
  lines.push("", `Resources: ${plans.added.length} to add, ${plans.changed.length} to change, ${plans.removed.length} to delete, ${plans.unchanged} unchanged (of ${total})`);
  for (const r of plans.added) lines.push(`  + ${r.type}  ${r.name}`);
  for (const r of plans.removed) lines.push(`  - ${r.type}  ${r.name}${r.options.protect ? "  [protected: the update stops here]" : ""}`);
  for (const c of plans.changed) {
    const tags = [c.replaces && "replace", c.ignored.length && `ignored after creation: ${c.ignored.join(", ")}`].filter(Boolean);
    lines.push(`  ~ ${c.type}  ${c.name}${tags.length ? `  [${tags.join("; ")}]` : ""}`);
    for (const v of c.inputs) lines.push(`      ${v.path}: ${brief(v.before)} → ${brief(v.after)}`);
    for (const v of c.options) lines.push(`      option ${v.path}: ${brief(v.before)} → ${brief(v.after)}`);
    if (c.userDataFiles.length) lines.push(`      user-data files: ${c.userDataFiles.map((f) => `${f.path}${f.change === "changed" ? "" : ` (${f.change})`}`).join(", ")}`);
    for (const v of c.dynamicConfig) lines.push(`      dynamic config ${v.path}: ${brief(v.before)} → ${brief(v.after)}`);
  }
  if (plans.outputs.length) {
    lines.push("", `Outputs: ${plans.outputs.length} changed`);
    for (const v of plans.outputs) lines.push(`  ~ ${v.path}: ${brief(v.before)} → ${brief(v.after)}`);
  }
  const nodes = new Set(files.map((f) => f.node));
  lines.push("", `Rendered node files (ec2 layout): ${files.length} changed on ${nodes.size} node${nodes.size === 1 ? "" : "s"}${files.length ? "" : " — none"}`);
  for (const f of files) lines.push("", f.patch.trimEnd());
  return lines.join("\n") + "\n";
}

export function diffReportJson(report: DiffReport) {
  return {
    stack: report.stack,
    base: report.base,
    resources: {
      added: report.plans.added.map((r) => ({ urn: r.urn, type: r.type, name: r.name })),
      removed: report.plans.removed.map((r) => ({ urn: r.urn, type: r.type, name: r.name, protect: !!r.options.protect })),
      changed: report.plans.changed,
      unchanged: report.plans.unchanged,
    },
    outputs: report.plans.outputs,
    files: report.files,
  };
}
