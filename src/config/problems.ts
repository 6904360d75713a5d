// A config problem and how a person reads it: the key (in Pulumi's path syntax), the value, why
// it is wrong, what is allowed, and the command that fixes it (`pulumi config set`, or
// `pulumi config rm` for a key that must go), with "did you mean" for a misspelt key.

export const PROJECT = "postgres-ha";

/** One step of a path into the config: an object key or a list index. */
export type PathSegment = string | number;

export interface ConfigProblem {
  /** The key without the project prefix, in Pulumi's path syntax: "patroni.ttl", "network.subnets[0].cidr". */
  key: string;
  /** The same key as segments (list indexes as numbers). */
  path: PathSegment[];
  value: unknown;
  /** Why this value is wrong here. */
  reason: string;
  /** What would be accepted. */
  allowed: string;
  /** "set" (default): give the key a better value. "remove": the key must go (unknown, managed, …). */
  fix?: "set" | "remove";
  /** A known key the user probably meant (a misspelling), in Pulumi's path syntax. */
  didYouMean?: string;
  /** The key to set instead of this one (a managed parameter with a key of its own). */
  instead?: string;
}

/** Builds a problem from a path; `key` follows from it. */
export function problem(
  path: PathSegment[],
  value: unknown,
  reason: string,
  allowed: string,
  extra: Pick<ConfigProblem, "fix" | "didYouMean" | "instead"> = {},
): ConfigProblem {
  return { key: keyOf(path), path: [...path], value, reason, allowed, ...extra };
}

export class ConfigError extends Error {
  constructor(
    readonly problems: ConfigProblem[],
    readonly stack: string,
  ) {
    super(formatProblems(problems, stack));
    this.name = "ConfigError";
  }
}

const PLAIN_SEGMENT = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/**
 * A path in Pulumi's syntax (what `pulumi config set --path` takes): `network.subnets[0].cidr`,
 * and `postgres.parameters["auto_explain.log_min_duration"]` for a key with a dot or other
 * characters a plain segment cannot carry. The first segment is the config key itself.
 */
export function keyOf(path: PathSegment[]): string {
  let out = "";
  path.forEach((seg, i) => {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (i === 0) out += seg;
    else if (PLAIN_SEGMENT.test(seg)) out += `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  });
  return out;
}

function show(value: unknown): string {
  if (value === undefined) return "(not set)";
  const s = JSON.stringify(value) ?? String(value);
  return s.length > 120 ? s.slice(0, 117) + "..." : s;
}

/** The key as the Pulumi CLI names it: project keys carry the project prefix, aws:* keys are as they are. */
export function qualifiedKey(key: string): string {
  return key.includes(":") ? key : `${PROJECT}:${key}`;
}

/** A value as it can go on a command line, or a placeholder for objects and lists. */
function cliValue(value: unknown): string {
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (typeof value === "string" && /^[A-Za-z0-9_./:@+=,-]+$/.test(value)) return value;
  if (typeof value === "string") return `'${value.replace(/'/g, "'\\''")}'`;
  return "<value>";
}

function isTopLevel(key: string): boolean {
  return key.includes(":") || !/[.[]/.test(key);
}

export function setCommand(key: string, stack: string, value = "<value>"): string {
  return isTopLevel(key)
    ? `pulumi config set ${key} ${value} --stack ${stack}`
    : `pulumi config set --path '${key}' ${value} --stack ${stack}`;
}

export function removeCommand(key: string, stack: string): string {
  return isTopLevel(key) ? `pulumi config rm ${key} --stack ${stack}` : `pulumi config rm --path '${key}' --stack ${stack}`;
}

export function formatProblems(problems: ConfigProblem[], stack: string): string {
  const file = `Pulumi.${stack}.yaml`;
  const lines = [
    `Invalid config for stack "${stack}" (${file}): ${problems.length} problem${problems.length === 1 ? "" : "s"}, nothing was created.`,
  ];
  for (const p of problems) {
    lines.push(`  ✗ ${qualifiedKey(p.key)} = ${show(p.value)}: ${p.reason}`);
    if (p.didYouMean) lines.push(`      did you mean \`${qualifiedKey(p.didYouMean)}\`?`);
    lines.push(`      allowed: ${p.allowed}`);
    if (p.fix === "remove") {
      const renamed = p.didYouMean && !p.instead;
      if (renamed && typeof p.value === "object" && p.value !== null) {
        // A whole section under a misspelt name: one edit of the file, not a command per value.
        lines.push(`      rename it to ${qualifiedKey(p.didYouMean!)} in ${file} (its value can stay as it is)`);
      } else {
        lines.push(`      remove it from ${file}, e.g. ${removeCommand(p.key, stack)}`);
        const instead = p.instead ?? p.didYouMean;
        if (instead) lines.push(`      and set ${qualifiedKey(instead)} instead, e.g. ${setCommand(instead, stack, renamed ? cliValue(p.value) : "<value>")}`);
      }
    } else {
      lines.push(`      set it in ${file}, e.g. ${setCommand(p.key, stack)}`);
    }
  }
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------
// "Did you mean": the closest known name by edit distance (with transpositions), or by a
// shared prefix (`archiveTimeout` → `archiveTimeoutSeconds`).

/** Optimal-string-alignment distance: insertions, deletions, substitutions and swaps of neighbours. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The known name closest to `name`, when one is close enough to be a likely misspelling. */
export function closestName(name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  let best: { name: string; score: number } | undefined;
  for (const candidate of known) {
    const c = candidate.toLowerCase();
    if (candidate === name) continue;
    const distance = editDistance(lower, c);
    const limit = Math.max(1, Math.floor(Math.max(lower.length, c.length) / 4));
    // One name starting with the other (at least 4 characters shared) counts as close too.
    const prefix = Math.min(lower.length, c.length) >= 4 && (c.startsWith(lower) || lower.startsWith(c));
    if (distance > limit && !prefix) continue;
    const score = distance <= limit ? distance : limit + 1;
    if (!best || score < best.score) best = { name: candidate, score };
  }
  return best?.name;
}
