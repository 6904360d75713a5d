// Reading the config schema itself: which keys an object takes (for "did you mean"), every
// leaf key with its schema, and the numeric bounds zod enforces (so the documented "allowed"
// text can be checked against them).
import { z } from "zod";
import { configSchema } from "./schema";
import type { PathSegment } from "./problems";

type Schema = z.ZodType;

/** The schema a value is checked against, without optional/nullable/default/preprocess wrappers. */
export function unwrapSchema(s: Schema): Schema {
  for (;;) {
    if (s instanceof z.ZodOptional || s instanceof z.ZodNullable) s = s.unwrap() as Schema;
    else if (s instanceof z.ZodDefault) s = s.unwrap() as Schema;
    else if (s instanceof z.ZodPipe) s = (s.in instanceof z.ZodTransform ? s.out : s.in) as Schema;
    else return s;
  }
}

/** The schema of one step down: an object key, a record entry or a list element. */
export function childSchema(s: Schema, seg: PathSegment): Schema | undefined {
  const u = unwrapSchema(s);
  if (u instanceof z.ZodObject) return typeof seg === "string" ? ((u.shape as Record<string, Schema>)[seg] ?? undefined) : undefined;
  if (u instanceof z.ZodRecord) return u.valueType as Schema;
  if (u instanceof z.ZodArray) return u.element as Schema;
  return undefined;
}

/** The schema at a path of the stack config, or undefined when the path leads nowhere. */
export function schemaAt(path: PathSegment[], root: Schema = configSchema): Schema | undefined {
  let cur: Schema | undefined = root;
  for (const seg of path) {
    if (!cur) return undefined;
    cur = childSchema(cur, seg);
  }
  return cur;
}

/** The keys an object at `path` accepts (empty for records, lists and scalars). */
export function knownKeysAt(path: PathSegment[]): string[] {
  const s = schemaAt(path);
  const u = s && unwrapSchema(s);
  return u instanceof z.ZodObject ? Object.keys(u.shape) : [];
}

/** The key schema of the record at `path`, when it is one. */
export function recordKeySchemaAt(path: PathSegment[]): Schema | undefined {
  const s = schemaAt(path);
  const u = s && unwrapSchema(s);
  return u instanceof z.ZodRecord ? (u.keyType as Schema) : undefined;
}

export interface SchemaLeaf {
  /** Dotted key with '*' for record keys and list elements, as in KEY_DOCS ("network.subnets.*.cidr"). */
  key: string;
  schema: Schema;
  /** What holds it: an object (a named key), a record (any name) or a list (an element). */
  within: "object" | "record" | "list";
}

/** Every key of the schema: objects, records, lists and the values inside them. */
export function schemaKeys(root: Schema = configSchema): SchemaLeaf[] {
  const out: SchemaLeaf[] = [];
  const walk = (s: Schema, key: string, within: SchemaLeaf["within"]) => {
    if (key) out.push({ key, schema: s, within });
    const u = unwrapSchema(s);
    if (u instanceof z.ZodObject) for (const [k, v] of Object.entries(u.shape as Record<string, Schema>)) walk(v, key ? `${key}.${k}` : k, "object");
    else if (u instanceof z.ZodRecord) walk(u.valueType as Schema, `${key}.*`, "record");
    else if (u instanceof z.ZodArray) walk(u.element as Schema, `${key}.*`, "list");
  };
  walk(root, "", "object");
  return out;
}

/** The bounds zod enforces on a number, or undefined when the schema is not a number. */
export function numberBounds(s: Schema): { min: number | null; max: number | null; integer: boolean } | undefined {
  const u = unwrapSchema(s);
  if (!(u instanceof z.ZodNumber)) return undefined;
  return { min: u.minValue, max: u.maxValue, integer: u.isInt };
}
