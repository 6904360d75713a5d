// The sandbox cluster, day 2: converge the running sandbox to a (changed) stack file — what
// differs (drift), and `sandbox apply` (publish, then roll out over `sandbox exec`).
import * as path from "path";
import { loadStack, readStackFile } from "../../config/stack-file";
import { runRollout, type RolloutReport } from "../../rollout/rollout";
import { restartAfterRollout, type AfterRollout } from "../../rollout/restart";
import { sandboxLayout } from "../../layout";
import { renderAll, renderBundle } from "../../render/bundle";
import { ensureMaterial } from "../material";
import { publishStack, sandboxTransport } from "./provision";
import { changeMembership, membershipRefusal, type MembershipChange } from "./membership";
import { sandboxUserDataHash } from "./state";
import { writeState } from "./state";
import type { Sandbox, SandboxState } from "./types";

/** What differs between the stack file and what the sandbox runs (undefined: nothing). */
export interface Drift {
  stackFile: string;
  /** Nodes in the file but not booted, and booted but not in the file. */
  addedNodes: string[];
  removedNodes: string[];
  /** Nodes whose bundle would change. */
  changedNodes: string[];
}

export function drift(sb: Sandbox): Drift | undefined {
  const fileSpec = loadStack(sb.state.stackFile).spec;
  const booted = new Set(sb.spec.nodes.map((n) => n.name));
  const wanted = new Set(fileSpec.nodes.map((n) => n.name));
  const addedNodes = [...wanted].filter((n) => !booted.has(n));
  const removedNodes = [...booted].filter((n) => !wanted.has(n));
  const layout = sandboxLayout(fileSpec);
  const current = sb.state.bundleHashes ?? Object.fromEntries(renderAll(sb.spec, sb.layout).map((b) => [b.node, b.hash]));
  const changedNodes = fileSpec.nodes.filter((n) => booted.has(n.name) && renderBundle(fileSpec, n.name, layout).hash !== current[n.name]).map((n) => n.name);
  if (!addedNodes.length && !removedNodes.length && !changedNodes.length) return undefined;
  return { stackFile: sb.state.stackFile, addedNodes, removedNodes, changedNodes };
}

export function describeDrift(d: Drift): string {
  const parts = [
    d.changedNodes.length ? `${d.changedNodes.join(", ")} would get new files` : "",
    d.addedNodes.length ? `${d.addedNodes.join(", ")} would be added` : "",
    d.removedNodes.length ? `${d.removedNodes.join(", ")} would be removed` : "",
  ].filter(Boolean);
  return `${path.basename(d.stackFile)} differs from what the sandbox runs: ${parts.join("; ")} — \`npx pgha sandbox apply\` converges it`;
}

export interface ApplyResult {
  rollout: RolloutReport;
  /** What the rollout left pending, and whether the maintenance window let apply restart it. */
  afterRollout?: AfterRollout;
  drift: Drift | undefined;
  /** Set when PostgreSQL members were added or removed. */
  membership?: MembershipChange;
}

/**
 * `sandbox apply`: render the stack file, publish secrets and bundles to the sandbox's AWS (as
 * `pulumi up` does), then run the rollout over `sandbox exec`. A changed `postgres.nodes` or
 * `haproxy.nodes` adds or removes nodes (./membership.ts); adding or removing etcd members is
 * refused before anything changes.
 */
export async function apply(sb: Sandbox, opts: { stack?: string; log?: (l: string) => void } = {}): Promise<ApplyResult> {
  const log = opts.log ?? (() => undefined);
  const target = opts.stack ? loadStack(opts.stack) : loadStack(sb.state.stackFile);
  const stackFile = opts.stack ? target.file : sb.state.stackFile;
  if (target.stack !== sb.state.stack && path.resolve(stackFile) !== path.resolve(sb.state.stackFile)) {
    log(`applying ${path.basename(stackFile)} to the sandbox of stack ${sb.state.stack}`);
  }
  const d = drift({ ...sb, state: { ...sb.state, stackFile } });
  const membershipChanges = Boolean(d && (d.addedNodes.length || d.removedNodes.length));
  const refusal = membershipChanges ? membershipRefusal(sb, target.spec, d!.addedNodes, d!.removedNodes) : undefined;
  if (refusal) throw Object.assign(new Error(`${path.basename(stackFile)}: ${refusal}; nothing was changed`), { exitCode: 3 });
  const spec = target.spec;
  const layout = sandboxLayout(spec);
  const material = await ensureMaterial(spec, layout, sb.stateDir);
  let rollout: RolloutReport;
  let bundles: ReturnType<typeof renderAll>;
  let membership: MembershipChange | undefined;
  if (membershipChanges) {
    log(`membership: ${d!.addedNodes.length ? `adding ${d!.addedNodes.join(", ")}` : ""}${d!.addedNodes.length && d!.removedNodes.length ? "; " : ""}${d!.removedNodes.length ? `removing ${d!.removedNodes.join(", ")}` : ""}`);
    ({ rollout, bundles, membership } = await changeMembership(sb, { spec, layout, material }, { added: d!.addedNodes, removed: d!.removedNodes }, log));
  } else {
    log("publishing secrets and bundles to the sandbox's AWS");
    bundles = await publishStack(spec, layout, material);
    rollout = await runRollout({
      transport: sandboxTransport,
      nodes: spec.nodes.map((n) => ({ name: n.name, role: n.role, hash: bundles.find((b) => b.node === n.name)!.hash })),
      log,
    });
  }
  if (rollout.ok) {
    const state: SandboxState = {
      ...sb.state,
      stackFile,
      config: readStackFile(stackFile).raw,
      appliedAt: new Date().toISOString(),
      bundleHashes: Object.fromEntries(bundles.map((b) => [b.node, b.hash])),
      // The hosts that run now were booted with this user-data (the members' own never changes
      // with the count; new members just booted with theirs).
      ...(membershipChanges ? { userDataHash: sandboxUserDataHash(spec) } : {}),
    };
    writeState(state, sb.stateDir);
  }
  const afterRollout = rollout.ok ? await restartAfterRollout({ transport: sandboxTransport, nodes: spec.nodes, rollout, window: spec.maintenance.window, log }) : undefined;
  return { rollout, drift: d, membership, afterRollout };
}
