// `pgha diff`: what a change does, offline — resources added, removed and changed between two
// plans (src/plan/plan.ts), a unified diff of every file the program delivers to each node
// (decoded from the bundle objects and the user-data each side's program registers: exactly
// what would be uploaded), and per node what the rollout converges live and what needs a
// restart (each changed file's onChange in the bundle manifest). The base is read with
// `git archive` into a temporary directory (works on a clean clone, leaves no worktree behind)
// and run with the working tree's harness and node_modules, so both sides meet the same mocks.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { createTwoFilesPatch } from "diff";
import YAML from "yaml";
import { decodeNodeBundle, decodeSoftware, isBucketObjectType, isRestartAction, objectBytes, parseBundleKey, parseDesiredPointer, type BundleObjectKey } from "../delivery/bundle-objects";
import { decodeUserData } from "../delivery/userdata";
import { rawStackConfig } from "./config";
import { loadStackConfig } from "../config/load";
import { buildPlan, sha256, type Plan, type PlanResource } from "./plan";
import { UNKNOWN, runProgram, type ModuleIsolation, type ProgramRun, type RecordedResource } from "./run";
import { costDelta, formatCostDelta, type CostDelta } from "../cost/format";
import { stackCost, type StackCost } from "../cost/stack";

// ---------------------------------------------------------------------------------------------
// The files each node gets, read back from what the program registers.

export interface DeliveredFile {
  content: string;
  /** What pgha-node does when the file changes on a running node (bundle files; [] otherwise). */
  onChange: string[];
  /** "bundle": the node's bundle object; "user-data": cloud-init, first boot only; "software": the node software. */
  source: "bundle" | "user-data" | "software";
}

export interface DeliveredNode {
  role?: string;
  /** The bundle the node's desired pointer names (sha256). */
  bundle?: string;
  /** The node software the pointer names (sha256). */
  software?: string;
  /** Why the node's bundle could not be read (then only its user-data files are here). */
  problem?: string;
  files: Record<string, DeliveredFile>;
}

/** node → what it gets; the node software (one artifact for every node) under SOFTWARE_NODE. */
export type DeliveredNodes = Record<string, DeliveredNode>;

export const SOFTWARE_NODE = "(node software)";
export const CLOUD_CONFIG_PSEUDO_PATH = "user-data: cloud-config (write_files listed by path)";

/**
 * Every node's files as the run delivers them: its user-data (write_files, and the rest of the
 * cloud-config as one pseudo-file) and the bundle its desired pointer names, decoded; plus the
 * node software. A tree whose nodes still get their files in user-data reads the same way.
 */
export function deliveredNodes(run: Pick<ProgramRun, "resources">): DeliveredNodes {
  const objects = new Map<string, { r: RecordedResource; key: BundleObjectKey }>();
  for (const r of run.resources) {
    const key = isBucketObjectType(r.type) ? parseBundleKey(r.inputs.key) : undefined;
    if (key) objects.set(key.key, { r, key });
  }
  const out: DeliveredNodes = {};
  const softwareNamed = new Set<string>();
  for (const r of run.resources) {
    if (r.type !== "aws:ec2/instance:Instance") continue;
    const tags = r.inputs.tags ?? {};
    const name = typeof tags["pgha:node"] === "string" ? tags["pgha:node"] : r.name;
    const node: DeliveredNode = { role: typeof tags["pgha:role"] === "string" ? tags["pgha:role"] : undefined, files: {} };
    out[name] = node;
    const userData = decodeUserData({ userDataBase64: r.inputs.userDataBase64, userData: r.inputs.userDataBase64 ? undefined : r.inputs.userData });
    for (const f of userData?.files ?? []) node.files[f.path] = { content: f.content, onChange: [], source: "user-data" };
    if (userData?.cloudConfig) {
      const doc = { ...userData.cloudConfig };
      if (Array.isArray(doc.write_files)) doc.write_files = (doc.write_files as { path: string; permissions?: string; owner?: string }[]).map((f) => `${f.permissions ?? ""} ${f.owner ?? ""} ${f.path}`);
      node.files[CLOUD_CONFIG_PSEUDO_PATH] = { content: YAML.stringify(doc, { lineWidth: 0 }), onChange: [], source: "user-data" };
    }
    const pointer = [...objects.values()].find((o) => o.key.kind === "desired" && o.key.node === name && (typeof tags["pgha:cluster"] !== "string" || o.key.cluster === tags["pgha:cluster"]));
    if (!pointer) {
      if (objects.size) node.problem = "no desired pointer";
      continue;
    }
    try {
      const bytes = pointer.r.inputs.content === UNKNOWN ? undefined : objectBytes(pointer.r.inputs);
      if (!bytes) throw new Error(`the desired pointer ${pointer.key.key} has no known content`);
      const target = parseDesiredPointer(bytes.toString("utf8"));
      node.bundle = target.bundle;
      node.software = target.software;
      softwareNamed.add(`${pointer.key.cluster}/${target.software}`);
      const key = `bundles/${pointer.key.cluster}/nodes/${name}/${target.bundle}.tar`;
      const object = objects.get(key);
      if (!object) throw new Error(`no object ${key}`);
      const content = object.r.inputs.contentBase64 === UNKNOWN ? undefined : objectBytes(object.r.inputs);
      if (!content) throw new Error(`${key} has no known content`);
      const decoded = decodeNodeBundle(content);
      if (decoded.sha256 !== target.bundle) throw new Error(`${key} has sha256 ${decoded.sha256.slice(0, 12)}: the node refuses it`);
      node.role = decoded.manifest.role;
      for (const f of decoded.files.values()) node.files[f.path] = { content: f.content, onChange: [...f.onChange], source: "bundle" };
    } catch (e) {
      node.problem = (e as Error).message;
    }
  }
  for (const id of [...softwareNamed].sort()) {
    const [cluster, hash] = id.split("/");
    const object = objects.get(`bundles/${cluster}/software/${hash}.tar`);
    const bytes = object && object.r.inputs.contentBase64 !== UNKNOWN ? objectBytes(object.r.inputs) : undefined;
    const node: DeliveredNode = { software: hash, files: {} };
    try {
      if (!bytes) throw new Error(`no object bundles/${cluster}/software/${hash}.tar with known content`);
      for (const f of decodeSoftware(bytes).files) node.files[f.path] = { content: f.content, onChange: [], source: "software" };
    } catch (e) {
      node.problem = (e as Error).message;
    }
    out[softwareNamed.size > 1 ? `${SOFTWARE_NODE} ${hash.slice(0, 12)}` : SOFTWARE_NODE] = node;
  }
  return out;
}

export interface FileDiff {
  node: string;
  path: string;
  change: "added" | "removed" | "changed";
  source: DeliveredFile["source"];
  /** What pgha-node does for this change (the head's onChange; the base's for a removed file). */
  onChange: string[];
  patch: string;
}

export function diffDeliveredFiles(base: DeliveredNodes, head: DeliveredNodes): FileDiff[] {
  const out: FileDiff[] = [];
  const nodes = [...new Set([...Object.keys(base), ...Object.keys(head)])].sort(nodeOrder);
  for (const node of nodes) {
    const b = base[node]?.files ?? {};
    const h = head[node]?.files ?? {};
    for (const file of [...new Set([...Object.keys(b), ...Object.keys(h)])].sort()) {
      const before = b[file];
      const after = h[file];
      if (before?.content === after?.content) continue;
      const change = before === undefined ? "added" : after === undefined ? "removed" : "changed";
      const label = file.startsWith("/") ? `${node}${file}` : `${node}/${file}`;
      const patch = createTwoFilesPatch(`a/${label}`, `b/${label}`, before?.content ?? "", after?.content ?? "", undefined, undefined, { context: 3 });
      const f = (after ?? before)!;
      out.push({ node, path: file, change, source: f.source, onChange: [...f.onChange], patch: patch.replace(/^=+\n/, "") });
    }
  }
  return out;
}

/** What the rollout does on one node for a change: from the changed files' onChange. */
export interface NodeConvergence {
  node: string;
  bundle: { before?: string; after?: string };
  software: { before?: string; after?: string };
  /** Applied while the node runs (reloads, the DCS, cron, timers, …): action → the files that trigger it. */
  live: { action: string; paths: string[] }[];
  /** Installed, but only a restart applies them: pgha-node reports them pending and restarts nothing. */
  restart: { action: string; paths: string[] }[];
  /** User-data files: read by cloud-init at first boot only (ignored after creation). */
  firstBootOnly: string[];
  problems: string[];
}

/** Per node whose delivery changes, what a rollout converges live and what needs a restart. */
export function nodeConvergence(base: DeliveredNodes, head: DeliveredNodes, files: FileDiff[]): NodeConvergence[] {
  const out: NodeConvergence[] = [];
  const nodes = [...new Set([...Object.keys(base), ...Object.keys(head)])].filter((n) => !n.startsWith(SOFTWARE_NODE)).sort(nodeOrder);
  for (const node of nodes) {
    const b = base[node];
    const h = head[node];
    const mine = files.filter((f) => f.node === node);
    const softwareChanged = b?.software !== h?.software;
    if (!mine.length && b?.bundle === h?.bundle && !softwareChanged && b?.problem === h?.problem) continue;
    const group = (list: FileDiff[]) => {
      const by = new Map<string, string[]>();
      for (const f of list) for (const a of f.onChange.length ? f.onChange : ["installed (read at next use)"]) by.set(a, [...(by.get(a) ?? []), f.path]);
      return [...by.entries()].map(([action, paths]) => ({ action, paths }));
    };
    const fromBundle = mine.filter((f) => f.source === "bundle");
    const live = group(fromBundle).filter((g) => !isRestartAction(g.action));
    if (softwareChanged && h?.software) live.push({ action: "node software installed", paths: [`${b?.software?.slice(0, 12) ?? "(none)"} → ${h.software.slice(0, 12)}`] });
    out.push({
      node,
      bundle: { before: b?.bundle, after: h?.bundle },
      software: { before: b?.software, after: h?.software },
      live,
      restart: group(fromBundle.filter((f) => f.onChange.some(isRestartAction))).filter((g) => isRestartAction(g.action)),
      firstBootOnly: mine.filter((f) => f.source === "user-data").map((f) => f.path),
      problems: [h?.problem && `${h.problem}`].filter((p): p is string => !!p),
    });
  }
  return out;
}

/** db1, db2, …, etcd1, …, lb1 …: roles in cluster order, then by number; the node software last. */
function nodeOrder(a: string, b: string): number {
  const rank = (n: string) => (n.startsWith("db") ? 0 : n.startsWith("etcd") ? 1 : n.startsWith("lb") ? 2 : n.startsWith(SOFTWARE_NODE) ? 4 : 3);
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
  /** Files of a decoded bundle object (a node's bundle, the node software) that differ. */
  bundleFiles: { path: string; change: "added" | "removed" | "changed" }[];
  /** What a desired pointer names, before and after. */
  pointer: ValueChange[];
  /** The rollout command's description (nodes, bundles, trigger), leaf by leaf. */
  rollout: ValueChange[];
  /** A command whose triggers changed: the provider replaces it, so it runs again. */
  runs: boolean;
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

/** Files (by path) added, removed or changed (mode, owner or content) between two listings. */
function fileChanges<F extends { path: string }>(before: F[], after: F[]): { path: string; change: "added" | "removed" | "changed" }[] {
  const b = new Map(before.map((f) => [f.path, f]));
  const a = new Map(after.map((f) => [f.path, f]));
  const out: { path: string; change: "added" | "removed" | "changed" }[] = [];
  for (const p of [...new Set([...b.keys(), ...a.keys()])].sort()) {
    const x = b.get(p);
    const y = a.get(p);
    if (!x) out.push({ path: p, change: "added" });
    else if (!y) out.push({ path: p, change: "removed" });
    else if (JSON.stringify(x) !== JSON.stringify(y)) out.push({ path: p, change: "changed" });
  }
  return out;
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
    const decodedInput = (key: string) =>
      (after.userData && /^userData(Base64)?$/.test(key)) ||
      (key === "contentBase64" && before.bundle && after.bundle && before.bundle.kind !== "unreadable" && after.bundle.kind !== "unreadable") ||
      (key === "content" && before.bundle?.kind === "desired" && after.bundle?.kind === "desired");
    const inputs = leafChanges(before.inputs, after.inputs).filter((c) => !decodedInput(topKey(c.path)));
    const options = leafChanges(before.options, after.options);
    const userDataFiles = fileChanges(before.userData?.files ?? [], after.userData?.files ?? []);
    if (before.userData && after.userData && !userDataFiles.length && before.userData.sha256 !== after.userData.sha256) {
      userDataFiles.push({ path: "(cloud-config outside write_files)", change: "changed" });
    }
    const filesOf = (r: PlanResource) => (r.bundle && (r.bundle.kind === "node-bundle" || r.bundle.kind === "software") ? r.bundle.files : []);
    const bundleFiles = fileChanges(filesOf(before), filesOf(after));
    const pointerOf = (r: PlanResource) => (r.bundle?.kind === "desired" ? { bundle: r.bundle.bundle, software: r.bundle.software } : {});
    const pointer = leafChanges(pointerOf(before), pointerOf(after));
    // The trigger itself shows as the `triggers` input.
    const describeRollout = (r: PlanResource) => (r.rollout ? { ...r.rollout, trigger: undefined } : {});
    const rollout = leafChanges(describeRollout(before), describeRollout(after)).filter((c) => c.before !== undefined || c.after !== undefined);
    const changedKeys = new Set([...inputs.map((c) => topKey(c.path)), ...(userDataFiles.length ? ["userDataBase64"] : [])]);
    const sameDependencies = JSON.stringify(before.dependencies) === JSON.stringify(after.dependencies);
    if (!inputs.length && !options.length && !userDataFiles.length && !bundleFiles.length && !pointer.length && !rollout.length && sameDependencies) {
      unchanged++;
      continue;
    }
    const replaceKeys = (after.options.replaceOnChanges ?? []).map(topKey);
    changed.push({
      urn: after.urn,
      type: after.type,
      name: after.name,
      inputs,
      options,
      userDataFiles,
      bundleFiles,
      pointer,
      rollout,
      // @pulumi/command replaces a command whose `triggers` change: that is what makes it run again.
      runs: after.type === "command:local:Command" && changedKeys.has("triggers"),
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
  /** Every node's files as the program delivers them (decoded bundle objects and user-data). */
  files?: DeliveredNodes;
  /** Why this side could not be planned (no stack file at the base, invalid config, …). */
  error?: string;
  /** The side's monthly cost (src/cost, this tree's prices), when it could be estimated. */
  cost?: StackCost;
  /** Why it could not (e.g. an instance type without a price). */
  costError?: string;
  /** maintenance.window of this side's config: whether the rollout restarts what is pending. */
  maintenanceWindow?: string | null;
}

function costOfSide(run: ProgramRun): { cost?: StackCost; costError?: string } {
  try {
    return { cost: stackCost(run) };
  } catch (e) {
    return { costError: (e as Error).message };
  }
}

export async function planSide(root: string, stack: string, label: string, isolation?: ModuleIsolation, overrides?: Record<string, unknown>): Promise<StackSide> {
  const source = rawStackConfig(root, stack, overrides);
  if (!fs.existsSync(source.file)) return { label, error: `no stack file ${path.basename(source.file)}`, plan: emptyPlan(source.stack), files: {} };
  const run = await runProgram({ stack: source.stack, root, config: source.config, preview: true, fakeOutputs: false, isolation });
  if (run.error) return { label, error: run.error.message };
  return { label, plan: buildPlan(run), files: deliveredNodes(run), ...costOfSide(run), maintenanceWindow: loadStackConfig(source.config, { stack: source.stack }).maintenance.window };
}

function emptyPlan(stack: string): Plan {
  return { format: "pgha-plan/1", project: "postgres-ha", stack, resourceCount: 0, byType: {}, resources: [], outputs: {} };
}

// ---------------------------------------------------------------------------------------------
// Output

function brief(v: unknown): string {
  if (v === undefined) return "(none)";
  const s = typeof v === "string" ? v : JSON.stringify(v);
  // Long enough for an object key (bundles/<cluster>/nodes/<node>/<sha256>.tar) or a sha256.
  if (s.length <= 120) return typeof v === "string" ? JSON.stringify(v) : s;
  return `<${s.length} chars, sha256 ${sha256(s).slice(0, 12)}>`;
}

export interface DiffReport {
  stack: string;
  base: { ref: string; commit: string };
  plans: PlanDiff;
  files: FileDiff[];
  /** Per node: what the rollout converges live, what needs a restart. */
  nodes: NodeConvergence[];
  /** The monthly cost before and after, line by line (both at this tree's prices). */
  cost: CostDelta;
  /** The working tree's maintenance.window (null: restarts are an operator's). */
  maintenanceWindow: string | null;
}

/** What happens to a pending restart under `window`, in words for the diff. */
export function pendingRestartWords(window: string | null): string {
  if (window === null) return "reported pending by pgha-node; no maintenance.window, so nothing restarts until an operator runs `pgha restart --pending`";
  if (window === "always") return "restarted by the rollout once it converged (maintenance.window always: one node at a time, one switchover)";
  return `restarted by the rollout if it runs inside maintenance.window ${window} (UTC), else reported pending until an update in the window`;
}

/** The report of two planned sides (the CLI's `pgha diff`, and the tests). */
export function diffReport(stack: string, base: DiffReport["base"], before: StackSide, after: StackSide): DiffReport {
  const files = diffDeliveredFiles(before.files ?? {}, after.files ?? {});
  const costProblem = after.costError ? `the working tree: ${after.costError}` : before.costError ? `${before.label}: ${before.costError}` : undefined;
  return {
    stack,
    base,
    plans: diffPlans(before.plan!, after.plan!),
    files,
    nodes: nodeConvergence(before.files ?? {}, after.files ?? {}, files),
    cost: costDelta(before.cost, after.cost, costProblem),
    maintenanceWindow: after.maintenanceWindow ?? null,
  };
}

const short = (hash: string | undefined) => (hash ? hash.slice(0, 12) : "(none)");

export function formatDiff(report: DiffReport): string {
  const { plans, files } = report;
  const lines: string[] = [];
  const total = plans.added.length + plans.removed.length + plans.changed.length + plans.unchanged;
  lines.push(`pgha diff: stack ${report.stack}, ${report.base.ref} (${report.base.commit.slice(0, 12)}) → working tree; planned under mocks, no cloud`);
  lines.push("", formatCostDelta(report.cost).trimEnd());
  lines.push("", `Resources: ${plans.added.length} to add, ${plans.changed.length} to change, ${plans.removed.length} to delete, ${plans.unchanged} unchanged (of ${total})`);
  for (const r of plans.added) lines.push(`  + ${r.type}  ${r.name}`);
  for (const r of plans.removed) lines.push(`  - ${r.type}  ${r.name}${r.options.protect ? "  [protected: the update stops here]" : ""}`);
  for (const c of plans.changed) {
    const tags = [c.replaces && "replace", c.runs && "runs again: its trigger changed", c.ignored.length && `ignored after creation: ${c.ignored.join(", ")}`].filter(Boolean);
    lines.push(`  ~ ${c.type}  ${c.name}${tags.length ? `  [${tags.join("; ")}]` : ""}`);
    for (const v of c.inputs) lines.push(`      ${v.path}: ${brief(v.before)} → ${brief(v.after)}`);
    for (const v of c.options) lines.push(`      option ${v.path}: ${brief(v.before)} → ${brief(v.after)}`);
    if (c.userDataFiles.length) lines.push(`      user-data files: ${c.userDataFiles.map((f) => `${f.path}${f.change === "changed" ? "" : ` (${f.change})`}`).join(", ")}`);
    if (c.bundleFiles.length) lines.push(`      bundle files: ${c.bundleFiles.map((f) => `${f.path}${f.change === "changed" ? "" : ` (${f.change})`}`).join(", ")}`);
    for (const v of c.pointer) lines.push(`      points to ${v.path}: ${short(v.before as string)} → ${short(v.after as string)}`);
    for (const v of c.rollout) lines.push(`      rollout ${v.path}: ${brief(v.before)} → ${brief(v.after)}`);
  }
  if (plans.outputs.length) {
    lines.push("", `Outputs: ${plans.outputs.length} changed`);
    for (const v of plans.outputs) lines.push(`  ~ ${v.path}: ${brief(v.before)} → ${brief(v.after)}`);
  }
  lines.push("", `Nodes: ${report.nodes.length ? `${report.nodes.length} converge when \`pulumi up\` runs the rollout (what each changed file's onChange does on the running node)` : "none changes"}`);
  for (const n of report.nodes) {
    lines.push(`  ${n.node}  bundle ${short(n.bundle.before)} → ${short(n.bundle.after)}`);
    const list = (groups: { action: string; paths: string[] }[]) => groups.map((g) => `${g.action} (${g.paths.join(", ")})`).join("; ");
    lines.push(`      live: ${n.live.length ? list(n.live) : "nothing"}`);
    lines.push(`      needs a restart: ${n.restart.length ? `${list(n.restart)} — ${pendingRestartWords(report.maintenanceWindow)}` : "nothing"}`);
    if (n.firstBootOnly.length) lines.push(`      user-data (first boot only, ignored on a running node): ${n.firstBootOnly.join(", ")}`);
    for (const p of n.problems) lines.push(`      ✗ ${p}`);
  }
  if (report.nodes.some((n) => n.live.some((g) => g.action === "patroni-dynamic"))) {
    lines.push(`  note: a PostgreSQL parameter that applies only at server start is then pending restart in Patroni (pgha-node status, \`pgha-patronictl list\`): ${pendingRestartWords(report.maintenanceWindow)}.`);
  }
  const nodes = new Set(files.map((f) => f.node));
  lines.push("", `Node files (bundles and user-data, ec2 layout): ${files.length} changed on ${nodes.size} node${nodes.size === 1 ? "" : "s"}${files.length ? "" : " — none"}`);
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
    nodes: report.nodes,
    files: report.files,
    cost: report.cost,
  };
}
