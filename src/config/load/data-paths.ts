// The config gate: paths into plain data (read, set and delete a value by its key path; the list a
// path passes through) and the deep merge of a stack's config over its tier's defaults.
import type { PathSegment } from "../problems";

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function valueAt(obj: unknown, path: PathSegment[]): unknown {
  let cur: unknown = obj;
  for (const p of path) {
    if (cur == null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

export function deleteAt(obj: unknown, path: PathSegment[]): void {
  if (path.length === 0) return;
  const parent = valueAt(obj, path.slice(0, -1));
  if (parent && typeof parent === "object") delete (parent as Record<PropertyKey, unknown>)[path[path.length - 1]];
}

export function setAt(obj: Record<string, unknown>, path: PathSegment[], value: unknown): void {
  let cur: Record<PropertyKey, unknown> = obj;
  for (const seg of path.slice(0, -1)) {
    if (!isPlainObject(cur[seg])) cur[seg] = {};
    cur = cur[seg] as Record<PropertyKey, unknown>;
  }
  cur[path[path.length - 1]] = value;
}

/** The outermost list on `path` in `obj` (its path), when the path passes through one. */
export function listOn(obj: unknown, path: PathSegment[]): PathSegment[] | undefined {
  let cur: unknown = obj;
  for (let i = 0; i < path.length; i++) {
    if (Array.isArray(cur)) return path.slice(0, i);
    if (cur == null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[path[i]];
  }
  return undefined;
}

export const startsWith = (a: PathSegment[], b: PathSegment[]) => b.length <= a.length && b.every((s, i) => a[i] === s);

/** Deep merge: objects merge key by key; lists, scalars and null replace. */
export function merge<T>(base: T, over: unknown): T {
  if (!isPlainObject(base) || !isPlainObject(over)) return (over === undefined ? base : over) as T;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in out ? merge(out[k], v) : v;
  return out as T;
}
