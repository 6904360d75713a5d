// The resource URNs of a stack, as a committed list (test/program/urns/<stack>.txt, written by
// scripts/stack-urns.ts). A URN is a resource's identity in the stack's state: moving a resource
// to another parent, renaming it or renaming a component changes it, and `pulumi up` then
// deletes the old resource and creates a new one — or, for the protected prod volumes, bucket
// and KMS key, fails or leaves them orphaned. test/program/urns.test.ts compares every run of
// the program with the committed lists, so such a change shows in review; a change that is
// meant keeps the old URN in the resource's `aliases` and regenerates the list.
import * as fs from "fs";
import * as path from "path";
import type { ProgramRun, RecordedResource } from "./run";

/** Where the committed lists live, relative to the project root. */
export const URN_LIST_DIR = path.join("test", "program", "urns");
/** The command that writes them. */
export const URN_LIST_COMMAND = "npx ts-node --transpile-only scripts/stack-urns.ts";

/** One line of a list: a URN and the options that make losing it costly. */
export interface UrnEntry {
  urn: string;
  /** "protect", "retainOnDelete": the resource outlives a careless `pulumi up`. */
  keeps: string[];
}

/** The stacks the repository ships (Pulumi.<stack>.yaml at the project root), sorted. */
export function shippedStacks(root: string): string[] {
  return fs
    .readdirSync(root)
    .map((f) => /^Pulumi\.([\w-]+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined)
    .sort();
}

export function urnListFile(root: string, stack: string): string {
  return path.join(root, URN_LIST_DIR, `${stack}.txt`);
}

function keepsOf(r: RecordedResource): string[] {
  return [...(r.options.protect ? ["protect"] : []), ...(r.options.retainOnDelete ? ["retainOnDelete"] : [])];
}

/** Every resource the run registered (components included, the Stack itself not), sorted by URN. */
export function urnEntries(run: Pick<ProgramRun, "resources">): UrnEntry[] {
  return run.resources.map((r) => ({ urn: r.urn, keeps: keepsOf(r) })).sort((a, b) => (a.urn < b.urn ? -1 : a.urn > b.urn ? 1 : 0));
}

/** The list's text: a header, then `<urn>[ protect][ retainOnDelete]` per line. */
export function formatUrnList(stack: string, entries: UrnEntry[]): string {
  const header = [
    `# Resource URNs of stack ${stack} under mocks (${entries.length}). Written by \`${URN_LIST_COMMAND}\`;`,
    "# checked by test/program/urns.test.ts. A URN that changes needs `aliases` (README, \"Moving a resource\").",
  ];
  return [...header, ...entries.map((e) => [e.urn, ...e.keeps].join(" "))].join("\n") + "\n";
}

export function parseUrnList(text: string): UrnEntry[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => {
      const [urn, ...keeps] = l.split(/\s+/);
      return { urn, keeps };
    });
}

export interface UrnListDifference {
  /** Committed URNs the program no longer registers; `aliasedBy` is the resource that claims it. */
  vanished: (UrnEntry & { aliasedBy?: string })[];
  /** URNs the program registers that the list lacks. */
  added: UrnEntry[];
  /** Resources whose protect/retainOnDelete changed. */
  keepsChanged: { urn: string; committed: string[]; now: string[] }[];
}

export function compareUrnLists(committed: UrnEntry[], run: Pick<ProgramRun, "resources">): UrnListDifference {
  const now = urnEntries(run);
  const nowByUrn = new Map(now.map((e) => [e.urn, e]));
  const committedUrns = new Set(committed.map((e) => e.urn));
  const claimedBy = new Map<string, string>();
  for (const r of run.resources) for (const alias of r.options.aliases ?? []) claimedBy.set(alias, r.urn);
  return {
    vanished: committed.filter((e) => !nowByUrn.has(e.urn)).map((e) => ({ ...e, aliasedBy: claimedBy.get(e.urn) })),
    added: now.filter((e) => !committedUrns.has(e.urn)),
    keepsChanged: committed
      .filter((e) => nowByUrn.has(e.urn) && nowByUrn.get(e.urn)!.keeps.join(" ") !== e.keeps.join(" "))
      .map((e) => ({ urn: e.urn, committed: e.keeps, now: nowByUrn.get(e.urn)!.keeps })),
  };
}

/** The difference in words, for a test failure: what changed and what to do about it. */
export function describeUrnListDifference(stack: string, d: UrnListDifference): string {
  const lines: string[] = [];
  for (const e of d.vanished) {
    if (e.aliasedBy) lines.push(`moved (aliased, state kept): ${e.urn}\n    → ${e.aliasedBy}`);
    else {
      const cost = e.keeps.length ? ` — it is ${e.keeps.join(" and ")}: \`pulumi up\` would fail on it or orphan it` : " — `pulumi up` would delete it and create a new one";
      lines.push(`gone, no alias claims it${cost}: ${e.urn}`);
    }
  }
  for (const e of d.added) lines.push(`new: ${e.urn}${e.keeps.length ? ` (${e.keeps.join(", ")})` : ""}`);
  for (const e of d.keepsChanged) lines.push(`options changed (${e.committed.join(", ") || "none"} → ${e.now.join(", ") || "none"}): ${e.urn}`);
  if (!lines.length) return "";
  return (
    `stack ${stack}: the resource URNs differ from ${path.join(URN_LIST_DIR, `${stack}.txt`)}:\n  ${lines.join("\n  ")}\n` +
    "If a resource moved or was renamed on purpose, give it `aliases` with its old name/parent so the " +
    `stack keeps its state; then regenerate the lists: ${URN_LIST_COMMAND}`
  );
}
