// The sandbox cluster: where it keeps its state (state.json under PGHA_ROOT), whether a running
// sandbox can be reused for a stack, and opening the running sandbox for a command.
import * as fs from "fs";
import * as path from "path";
import { createHash } from "crypto";
import { loadStack } from "../../config/stack-file";
import { loadStackConfig } from "../../config/load";
import { buildSpec, type ClusterSpec } from "../../spec";
import { sandboxLayout } from "../../layout";
import { renderBundle } from "../../render/bundle";
import { ensureMaterial } from "../material";
import { SandboxClient } from "../client";
import type { Sandbox, SandboxState } from "./types";

export const PGHA_ROOT = process.env.PGHA_ROOT ?? "/var/lib/pgha";
export const STATE_DIR = path.join(PGHA_ROOT, "sandbox");
export const IMAGES_DIR = path.join(PGHA_ROOT, "images");

/** sha256 over the user-data of every node of the stack (sandbox layout). */
export function sandboxUserDataHash(spec: ClusterSpec): string {
  const layout = sandboxLayout(spec);
  const h = createHash("sha256");
  for (const n of spec.nodes) h.update(n.name).update(renderBundle(spec, n.name, layout).userDataGzip);
  return h.digest("hex");
}

/** Why a running sandbox cannot be reused for `stack` (another stack, or changed user-data). */
export function staleReason(stack: string, stateDir = STATE_DIR): string | undefined {
  const state = readState(stateDir);
  if (!state) return undefined;
  const { file, spec } = loadStack(stack);
  if (state.stackFile !== file) return `it runs stack ${state.stack}`;
  if (state.userDataHash !== sandboxUserDataHash(spec))
    return "the stack's rendered user-data changed since its hosts booted (like EC2, a host applies user-data only at its first boot)";
  return undefined;
}

export function stateFile(stateDir = STATE_DIR): string {
  return path.join(stateDir, "state.json");
}

export function readState(stateDir = STATE_DIR): SandboxState | undefined {
  try {
    return JSON.parse(fs.readFileSync(stateFile(stateDir), "utf8")) as SandboxState;
  } catch {
    return undefined;
  }
}

/** The spec the running sandbox was brought to (the recorded config, else the stack file). */
export function bootedSpec(state: SandboxState): ClusterSpec {
  if (!state.config) return loadStack(state.stackFile).spec;
  return buildSpec(loadStackConfig(state.config, { stack: state.stack }), state.stack);
}

export function writeState(state: SandboxState, stateDir: string): void {
  fs.mkdirSync(stateDir, { recursive: true });
  fs.writeFileSync(stateFile(stateDir) + ".tmp", JSON.stringify(state, null, 2));
  fs.renameSync(stateFile(stateDir) + ".tmp", stateFile(stateDir));
}

export async function openSandbox(stateDir = STATE_DIR): Promise<Sandbox> {
  const state = readState(stateDir);
  if (!state) throw Object.assign(new Error("no sandbox is up: run `npx pgha sandbox up` (or `npm run sandbox`) first"), { exitCode: 3 });
  const spec = bootedSpec(state);
  const layout = sandboxLayout(spec);
  const material = await ensureMaterial(spec, layout, stateDir);
  const client = new SandboxClient(spec, layout, stateDir, material.cluster.superuserPassword, material.cluster.restApiPassword);
  return { state, spec, layout, material, client, stateDir };
}
