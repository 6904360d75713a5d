// The raw config map the Pulumi CLI would hand the program for a stack — without the CLI:
// Pulumi.yaml's namespaced values and declared defaults, then Pulumi.<stack>.yaml, then overrides.
// Values are strings; objects and lists are JSON text (what `pulumi.runtime.allConfig()` holds).
import * as fs from "fs";
import * as path from "path";
import YAML from "yaml";
import { resolveStackFile } from "../cli/stack";

export const PROJECT = "postgres-ha";

export type RawConfig = Record<string, string>;

function rawValue(v: unknown): string {
  if (v && typeof v === "object" && !Array.isArray(v) && "secure" in (v as object)) return "[secure]";
  return typeof v === "object" && v !== null ? JSON.stringify(v) : String(v);
}

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
  const raw: RawConfig = {};
  const projectFile = path.join(root, "Pulumi.yaml");
  if (fs.existsSync(projectFile)) {
    const project = (YAML.parse(fs.readFileSync(projectFile, "utf8")) ?? {}) as { config?: Record<string, unknown> };
    for (const [k, v] of Object.entries(project.config ?? {})) {
      if (k.includes(":")) raw[k] = rawValue(isPlainObject(v) && "value" in v ? v.value : v);
      else if (isPlainObject(v) && "default" in v) raw[`${PROJECT}:${k}`] = rawValue(v.default);
    }
  }
  const { stack, file } = resolveStackFile(stackOrPath, root);
  if (fs.existsSync(file)) {
    const doc = (YAML.parse(fs.readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, unknown> };
    for (const [k, v] of Object.entries(doc.config ?? {})) raw[k] = rawValue(v);
  }
  for (const [k, v] of Object.entries(overrides)) mergeRaw(raw, k.includes(":") ? k : `${PROJECT}:${k}`, v);
  return { stack, file, config: raw };
}
