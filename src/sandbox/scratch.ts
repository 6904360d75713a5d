// Scratch clusters: what a new-cluster restore leaves behind, by name. Each one is a host of its
// own beside the live cluster (an address from a small range of the sandbox bridge), recorded in
// `<state dir>/scratch.json` with what it was restored to, so `status` shows it, `sandbox
// scratch list` lists it and `sandbox scratch remove <name>` deletes it. A second restore gets
// a second host: it never deletes the first (unless told to replace that name).
import * as fs from "fs";
import * as path from "path";
import { hostState, resetHost, type HostState } from "./hosts";
import type { ClusterSpec } from "../spec";
import { sandboxHostAddress } from "../layout";

/** Scratch hosts get 10.88.0.41 … 10.88.0.49 (after HAProxy's .31+, before anything else). */
export const SCRATCH_SLOTS = 9;
export const SCRATCH_BASE = 40;
const NAME = /^[a-z][a-z0-9-]{0,10}[a-z0-9]$/;

export interface ScratchCluster {
  name: string;
  address: string;
  slot: number;
  createdAt: string;
  /** What it was restored to, in words ("time 2026-12-02 10:00:00+00, then promote"). */
  target: string;
  timeline: number | null;
  /** Where its PostgreSQL answers on the host (unix socket directory and port). */
  socket: string | null;
  port: number | null;
}

const file = (stateDir: string) => path.join(stateDir, "scratch.json");

export function listScratch(stateDir: string): ScratchCluster[] {
  try {
    return JSON.parse(fs.readFileSync(file(stateDir), "utf8")) as ScratchCluster[];
  } catch {
    return [];
  }
}

function writeScratch(stateDir: string, list: ScratchCluster[]): void {
  fs.mkdirSync(stateDir, { recursive: true });
  fs.writeFileSync(file(stateDir) + ".tmp", JSON.stringify(list, null, 2));
  fs.renameSync(file(stateDir) + ".tmp", file(stateDir));
}

export class ScratchRefused extends Error {
  readonly exitCode = 2;
}

/**
 * The name and address a new scratch cluster gets: `name` if given (refused when it is taken,
 * unless `replace`), else the first free `pitr<n>`. Refused when every slot is taken.
 */
export function allocateScratch(spec: ClusterSpec, stateDir: string, opts: { name?: string; replace?: boolean } = {}): { name: string; address: string; slot: number; replaces?: ScratchCluster } {
  const list = listScratch(stateDir);
  const taken = new Set(list.map((s) => s.slot));
  if (opts.name !== undefined) {
    if (!NAME.test(opts.name)) throw new ScratchRefused(`scratch cluster name '${opts.name}' is not one: 2–12 lowercase letters, digits and '-', starting with a letter`);
    if (spec.nodes.some((n) => n.name === opts.name) || opts.name === "aws") throw new ScratchRefused(`scratch cluster name '${opts.name}' is a node of the stack: pick another`);
    const existing = list.find((s) => s.name === opts.name);
    if (existing) {
      if (!opts.replace) throw new ScratchRefused(`a scratch cluster named ${opts.name} exists (${existing.target}, ${existing.createdAt}): remove it with \`npx pgha sandbox scratch remove ${opts.name}\`, pass --replace, or pick another --name`);
      return { name: existing.name, address: existing.address, slot: existing.slot, replaces: existing };
    }
  }
  const slot = Array.from({ length: SCRATCH_SLOTS }, (_, i) => i + 1).find((s) => !taken.has(s));
  if (slot === undefined) throw new ScratchRefused(`all ${SCRATCH_SLOTS} scratch slots are taken (${list.map((s) => s.name).join(", ")}): remove one with \`npx pgha sandbox scratch remove <name>\``);
  let name = opts.name;
  if (name === undefined) {
    const names = new Set(list.map((s) => s.name));
    let n = slot;
    while (names.has(`pitr${n}`)) n++;
    name = `pitr${n}`;
  }
  return { name, address: sandboxHostAddress(SCRATCH_BASE + slot), slot };
}

export function recordScratch(stateDir: string, entry: ScratchCluster): void {
  writeScratch(stateDir, [...listScratch(stateDir).filter((s) => s.name !== entry.name), entry].sort((a, b) => a.slot - b.slot));
}

/** Each scratch cluster with its host's state now. */
export async function scratchStatus(stateDir: string): Promise<(ScratchCluster & { state: HostState | "missing" })[]> {
  return Promise.all(listScratch(stateDir).map(async (s) => ({ ...s, state: await hostState(s.name).catch(() => "missing" as const) })));
}

/** Deletes a scratch cluster's host (disk included) and its record. */
export async function removeScratch(stateDir: string, name: string): Promise<ScratchCluster> {
  const entry = listScratch(stateDir).find((s) => s.name === name);
  if (!entry) {
    const names = listScratch(stateDir).map((s) => s.name);
    throw new ScratchRefused(`there is no scratch cluster ${name} (${names.length ? names.join(", ") : "there are none"})`);
  }
  if ((await hostState(name).catch(() => undefined)) !== undefined) await resetHost(name);
  writeScratch(stateDir, listScratch(stateDir).filter((s) => s.name !== name));
  return entry;
}
