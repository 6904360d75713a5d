// Reads a stack's config the way the Pulumi CLI hands it to the program, without the CLI: the
// project's Pulumi.yaml (namespaced values, and the defaults of declared keys), then
// Pulumi.<stack>.yaml's `config:` map. Values are strings; objects and lists are JSON text (what
// `pulumi.runtime.allConfig()` holds). A `secure:` value cannot be decrypted offline and becomes
// "[secure]". The one reader for the CLI, the plan/diff/check harness and the sandbox.
import * as fs from "fs";
import * as path from "path";
import { repoRoot } from "../repo-root";
import YAML from "yaml";
import { loadAndValidate, PROJECT } from "./load";
import type { StackConfig } from "./defaults";
import type { ClusterSpec } from "../spec";
import { fillStandby, standbySourceOf } from "../standby/source";

/** The repository (Pulumi.yaml, the stack files): the same from src/ and from a compiled dist/. */
export const PROJECT_ROOT = repoRoot();

export type RawConfig = Record<string, string>;

export interface StackFile {
  /** The stack name (from the file name Pulumi.<stack>.yaml). */
  stack: string;
  /** The stack file read (with `allowMissing` it may not exist: then only Pulumi.yaml's values apply). */
  file: string;
  raw: RawConfig;
}

/** `prod` → <root>/Pulumi.prod.yaml; a path to a stack file is taken as is. */
export function resolveStackFile(stackOrPath: string, root = PROJECT_ROOT): { stack: string; file: string } {
  if (stackOrPath.endsWith(".yaml") || stackOrPath.endsWith(".yml") || stackOrPath.includes("/")) {
    const file = path.resolve(stackOrPath);
    const m = /Pulumi\.([^/]+)\.ya?ml$/.exec(file);
    return { stack: m ? m[1] : path.basename(file).replace(/\.ya?ml$/, ""), file };
  }
  return { stack: stackOrPath, file: path.join(root, `Pulumi.${stackOrPath}.yaml`) };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === "object" && !Array.isArray(v);
}

/** One config value in Pulumi's raw form: objects and lists as JSON text, secrets as "[secure]". */
export function rawValue(v: unknown): string {
  if (isPlainObject(v) && "secure" in v) return "[secure]";
  return typeof v === "object" && v !== null ? JSON.stringify(v) : String(v);
}

/** A stack file's config map in Pulumi's raw form. */
export function rawConfigFromYaml(text: string): RawConfig {
  const doc = (YAML.parse(text) ?? {}) as { config?: Record<string, unknown> };
  const raw: RawConfig = {};
  for (const [k, v] of Object.entries(doc.config ?? {})) raw[k] = rawValue(v);
  return raw;
}

/**
 * What Pulumi.yaml contributes to every stack: namespaced values (`aws:region: …` or
 * `{value: …}`) and the `default` of each declared project key.
 */
export function projectConfig(root = PROJECT_ROOT): RawConfig {
  const raw: RawConfig = {};
  const projectFile = path.join(root, "Pulumi.yaml");
  if (!fs.existsSync(projectFile)) return raw;
  const project = (YAML.parse(fs.readFileSync(projectFile, "utf8")) ?? {}) as { config?: Record<string, unknown> };
  for (const [k, v] of Object.entries(project.config ?? {})) {
    if (k.includes(":")) raw[k] = rawValue(isPlainObject(v) && "value" in v ? v.value : v);
    else if (isPlainObject(v) && "default" in v) raw[`${PROJECT}:${k}`] = rawValue(v.default);
  }
  return raw;
}

function stacksIn(root: string): string[] {
  return fs
    .readdirSync(root)
    .filter((f) => /^Pulumi\.[^.]+\.yaml$/.test(f))
    .map((f) => f.slice(7, -5));
}

/**
 * The raw config of a stack: Pulumi.yaml's contribution, then the stack file's. A missing stack
 * file is an error (naming the stacks there are) unless `allowMissing` (a stack that does not
 * exist yet at a git base).
 */
export function readStackFile(stackOrPath: string, root = PROJECT_ROOT, opts: { allowMissing?: boolean } = {}): StackFile {
  const { stack, file } = resolveStackFile(stackOrPath, root);
  const raw = projectConfig(root);
  if (fs.existsSync(file)) Object.assign(raw, rawConfigFromYaml(fs.readFileSync(file, "utf8")));
  else if (!opts.allowMissing)
    throw new Error(`no stack file ${file}; stacks here: ${stacksIn(root).join(", ") || "(none)"} — or pass a path to a Pulumi.<stack>.yaml`);
  return { stack, file, raw: withStandbyFromPrimary(raw, root) };
}

/**
 * A standby stack that names only its primary (`standby: {primaryStack: prod}`) gets host, cidrs
 * and repositoryBucket from the primary's stack file in `root` (src/standby/source.ts), as if it
 * had written them. Anything else, or a primary whose file is missing or invalid, is left as it
 * is: the config gate then names what is missing.
 */
export function withStandbyFromPrimary(raw: RawConfig, root = PROJECT_ROOT): RawConfig {
  const value = raw[`${PROJECT}:standby`];
  if (!value) return raw;
  let standby: unknown;
  try {
    standby = JSON.parse(value);
  } catch {
    return raw;
  }
  if (!isPlainObject(standby) || typeof standby.primaryStack !== "string") return raw;
  if (standby.host !== undefined && standby.cidrs !== undefined && standby.repositoryBucket !== undefined) return raw;
  const primaryFile = path.join(root, `Pulumi.${standby.primaryStack}.yaml`);
  if (!fs.existsSync(primaryFile)) return raw;
  let source;
  try {
    const primaryRaw = { ...projectConfig(root), ...rawConfigFromYaml(fs.readFileSync(primaryFile, "utf8")) };
    if (primaryRaw[`${PROJECT}:standby`]) return raw; // a standby of a standby: not followed (the gate refuses cascading)
    source = standbySourceOf(loadAndValidate(primaryRaw, { stack: standby.primaryStack }).spec);
  } catch {
    return raw;
  }
  fillStandby(standby, source, raw["aws:region"] ?? "");
  return { ...raw, [`${PROJECT}:standby`]: JSON.stringify(standby) };
}

/** A stack file read, validated and derived (the config gate): what every offline command acts on. */
export function loadStack(stackOrPath: string, root = PROJECT_ROOT): { stack: string; file: string; config: StackConfig; spec: ClusterSpec } {
  const sf = readStackFile(stackOrPath, root);
  const { config, spec } = loadAndValidate(sf.raw, { stack: sf.stack });
  return { stack: sf.stack, file: sf.file, config, spec };
}
