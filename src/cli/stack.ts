// Reads a stack's config the way the Pulumi CLI hands it to the program, without the CLI:
// Pulumi.<stack>.yaml's `config:` map. Used by the offline commands (render, plan, check, diff,
// sandbox). A `secure:` value cannot be decrypted offline and becomes "[secure]".
import * as fs from "fs";
import * as path from "path";
import YAML from "yaml";
import { loadStackConfig } from "../config/load";
import type { StackConfig } from "../config/defaults";
import { buildSpec, type ClusterSpec } from "../spec";
import { repoRoot } from "../repo-root";

/** The repository (Pulumi.yaml, the stack files): the same from src/ and from a compiled dist/. */
export const PROJECT_ROOT = repoRoot();

export interface StackFile {
  stack: string;
  file: string;
  raw: Record<string, unknown>;
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

/** Flattens a stack file's config map into Pulumi's raw form (objects as JSON text). */
export function rawConfigFromYaml(text: string): Record<string, unknown> {
  const doc = (YAML.parse(text) ?? {}) as { config?: Record<string, unknown> };
  const raw: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc.config ?? {})) {
    if (v && typeof v === "object" && !Array.isArray(v) && "secure" in (v as object)) raw[k] = "[secure]";
    else raw[k] = typeof v === "object" && v !== null ? JSON.stringify(v) : String(v);
  }
  return raw;
}

export function readStackFile(stackOrPath: string, root = PROJECT_ROOT): StackFile {
  const { stack, file } = resolveStackFile(stackOrPath, root);
  if (!fs.existsSync(file)) {
    const known = fs
      .readdirSync(root)
      .filter((f) => /^Pulumi\.[^.]+\.yaml$/.test(f))
      .map((f) => f.slice(7, -5));
    throw new Error(`no stack file ${file}; stacks here: ${known.join(", ") || "(none)"} — or pass a path to a Pulumi.<stack>.yaml`);
  }
  return { stack, file, raw: rawConfigFromYaml(fs.readFileSync(file, "utf8")) };
}

export function loadStack(stackOrPath: string, root = PROJECT_ROOT): { stack: string; file: string; config: StackConfig; spec: ClusterSpec } {
  const sf = readStackFile(stackOrPath, root);
  const config = loadStackConfig(sf.raw, { stack: sf.stack });
  return { stack: sf.stack, file: sf.file, config, spec: buildSpec(config, sf.stack) };
}
