// The raw config map the Pulumi CLI would hand the program for a stack — without the CLI — with
// overrides on top (tests and `pgha diff` change a stack without editing its file). Reading the
// files is src/config/stack-file.ts' job; this adds the overrides.
import { PROJECT } from "../config/problems";
import { rawValue, readStackFile, type RawConfig } from "../config/stack-file";

export { PROJECT } from "../config/problems";
export type { RawConfig } from "../config/stack-file";

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === "object" && !Array.isArray(v);
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] = isPlainObject(v) && isPlainObject(cur) ? deepMerge(cur, v) : v;
  }
  return out;
}

/** Merges a config patch into a raw map: objects merge key by key into the existing JSON; undefined removes. */
export function mergeRaw(raw: RawConfig, key: string, value: unknown): void {
  if (value === undefined) {
    delete raw[key];
    return;
  }
  const existing = raw[key];
  if (isPlainObject(value) && existing && existing.trim().startsWith("{")) {
    raw[key] = JSON.stringify(deepMerge(JSON.parse(existing), value));
    return;
  }
  raw[key] = rawValue(value);
}

export interface StackSource {
  /** The stack name (from the file name Pulumi.<stack>.yaml). */
  stack: string;
  /** The stack file read (it may not exist: then only Pulumi.yaml's values apply). */
  file: string;
  config: RawConfig;
}

/**
 * The raw config of a stack: `stackOrPath` is a stack name (Pulumi.<name>.yaml under `root`) or a
 * path to a stack file. `overrides` take keys with or without the `postgres-ha:` prefix; objects
 * merge into the stack's value, `undefined` removes a key.
 */
export function rawStackConfig(root: string, stackOrPath: string, overrides: Record<string, unknown> = {}): StackSource {
  const { stack, file, raw } = readStackFile(stackOrPath, root, { allowMissing: true });
  for (const [k, v] of Object.entries(overrides)) mergeRaw(raw, k.includes(":") ? k : `${PROJECT}:${k}`, v);
  return { stack, file, config: raw };
}
