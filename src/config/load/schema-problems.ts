// The config gate: the schema's problems, each with the key, the value, what is allowed and a fix,
// and what is left of the input once the refused values are taken out.
import { z } from "zod";
import { configSchema } from "../schema";
import { docKeyOf, keyDoc } from "../keys";
import { closestName, keyOf, problem, type ConfigProblem, type PathSegment } from "../problems";
import { knownKeysAt, recordKeySchemaAt } from "../schema-walk";
import { deleteAt, listOn, startsWith, valueAt } from "./data-paths";

/** What a key of each map may look like (the schema's key patterns, in words). */
const RECORD_KEY_ALLOWED: Record<string, string> = {
  "postgres.parameters": "a PostgreSQL parameter name: lower-case letters, digits, '_' and '.', e.g. max_connections",
  "postgres.members": "a member name like db1 (lower-case letters, digits and '-', starting with a letter)",
  "postgres.databases": "a database name: 1–63 lower-case letters, digits and '_', starting with a letter or '_'",
  "postgres.roles": "a role name: 1–63 lower-case letters, digits and '_', starting with a letter or '_'",
  "postgres.roles.*.grants": "a database name of postgres.databases",
  tags: "a tag name of 1–128 letters, digits, spaces and _ . : / = + @ -",
};

export function schemaProblems(err: z.ZodError, input: unknown): { problems: ConfigProblem[]; failed: PathSegment[][] } {
  const problems: ConfigProblem[] = [];
  const failed: PathSegment[][] = [];
  for (const issue of err.issues) {
    const at = issue.path as PathSegment[];
    if (issue.code === "unrecognized_keys") {
      const parent = at.length ? keyOf(at) : undefined;
      const known = knownKeysAt(at);
      for (const k of issue.keys) {
        const full = [...at, k];
        failed.push(full);
        const near = closestName(k, known);
        problems.push(
          problem(
            full,
            valueAt(input, full),
            "unknown key (misspelt, or not a setting of this program)",
            `${parent ? `the keys of ${parent}` : "the top-level keys"}: ${known.join(", ")} (README.md, "Config reference")`,
            { fix: "remove", didYouMean: near === undefined ? undefined : keyOf([...at, near]) },
          ),
        );
      }
      continue;
    }
    failed.push(at);
    const value = valueAt(input, at);
    if (issue.code === "invalid_key") {
      // A bad name in a map (postgres.parameters.Max-Connections): remove it; guess the name meant.
      const name = String(at[at.length - 1]);
      const keySchema = recordKeySchemaAt(at.slice(0, -1));
      const fixed = [name.toLowerCase(), name.toLowerCase().replace(/-/g, "_")].find((c) => c !== name && keySchema?.safeParse(c).success);
      problems.push(
        problem(at, value, "is not an allowed name", RECORD_KEY_ALLOWED[docKeyOf(at.slice(0, -1)) ?? keyOf(at.slice(0, -1))] ?? issue.message, {
          fix: "remove",
          didYouMean: fixed === undefined ? undefined : keyOf([...at.slice(0, -1), fixed]),
        }),
      );
      continue;
    }
    const doc = keyDoc(at);
    let reason: string;
    switch (issue.code) {
      case "invalid_type":
        reason = value === undefined ? "is required" : `has the wrong type (expected ${issue.expected})`;
        break;
      case "too_small":
      case "too_big":
        // zod's own wording ("Too small: expected number to be >=1"), or the schema's reason.
        reason = /^Too (small|big)/.test(issue.message)
          ? issue.message.replace(/^Too (?:small|big): expected \w+ to (be|have) /, "must $1 ").replace(/>=\s*/, "≥ ").replace(/<=\s*/, "≤ ")
          : issue.message;
        break;
      case "invalid_value": {
        const near = closestName(String(value), issue.values.map(String));
        reason = `is not one of the allowed values${near ? ` (did you mean "${near}"?)` : ""}`;
        break;
      }
      case "invalid_format":
        reason = "does not have the expected form";
        break;
      case "custom":
        // A refinement that says why (e.g. maintenance.window) words its own reason.
        reason = issue.message.startsWith("is ") ? issue.message : "is not valid";
        break;
      default:
        reason = "is not valid";
    }
    problems.push(problem(at, value, reason, doc?.allowed ?? issue.message));
  }
  return { problems, failed };
}

// The schema as used to read what is left once the refused values are taken out: the tier may be
// missing (its problem is already reported), everything else is as strict as ever.
export const remainderSchema = configSchema.partial({ tier: true });

export interface Remainder {
  /** What passed the schema (refused values and lists with a refused element taken out). */
  data: z.infer<typeof remainderSchema>;
  /** Lists taken out because an element was refused: cross-field rules see them as written. */
  lists: PathSegment[][];
}

export function remainder(input: Record<string, unknown>, failed: PathSegment[][]): Remainder {
  const pruned = structuredClone(input);
  const lists: PathSegment[][] = [];
  for (const path of failed) {
    const list = listOn(input, path);
    if (list) {
      if (!lists.some((l) => startsWith(list, l))) lists.push(list);
      deleteAt(pruned, list);
    } else deleteAt(pruned, path);
  }
  // What is left normally parses; if not (a value refused only in combination), drop whole keys.
  for (let round = 0; round < 3; round++) {
    const parsed = remainderSchema.safeParse(pruned);
    if (parsed.success) return { data: parsed.data, lists };
    for (const issue of parsed.error.issues) {
      const top = issue.path[0] ?? (issue.code === "unrecognized_keys" ? issue.keys[0] : undefined);
      if (top !== undefined) delete pruned[top as string];
    }
  }
  return { data: {}, lists };
}
