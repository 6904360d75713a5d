// src/config/keys.ts is what people read (README, Pulumi.yaml, every error's "allowed:" line);
// the zod schema is what is enforced. These tests keep the two from drifting apart.
import { KEY_DOCS } from "../../src/config/keys";
import { numberBounds, schemaKeys, unwrapSchema } from "../../src/config/schema-walk";
import { z } from "zod";

const keys = schemaKeys();

describe("the key documentation matches the schema", () => {
  it("every key of the schema is documented, and every documented key exists", () => {
    // A section (postgres, backup.…) is documented by its keys, a list element by its list.
    const documentable = keys.filter((k) => k.within !== "list" && !(k.within === "object" && unwrapSchema(k.schema) instanceof z.ZodObject));
    const inSchema = documentable.map((k) => k.key).sort();
    expect(Object.keys(KEY_DOCS).sort()).toEqual(inSchema);
  });

  const numeric = keys.flatMap((k) => {
    const b = numberBounds(k.schema);
    return b ? [[k.key, b] as const] : [];
  });

  it("has numeric keys to compare (the walk reaches through preprocess and optional)", () => {
    expect(numeric.length).toBeGreaterThan(25);
  });

  it.each(numeric)("%s: the allowed text states the schema's bounds", (key, bounds) => {
    expect(bounds.min).not.toBeNull();
    expect(bounds.max).not.toBeNull();
    const allowed = KEY_DOCS[key].allowed;
    // "an integer 20–3600 …": the range as the schema enforces it, and the kind of number.
    expect(allowed).toContain(`${bounds.min}–${bounds.max}`);
    if (bounds.integer) expect(allowed).toMatch(/\binteger\b/);
    // No other lower bound stated as "≥ N" for the key itself (a stricter rule between keys is
    // stated with the other key's name, e.g. "≥ loopWait + 2·retryTimeout").
    for (const m of allowed.matchAll(/≥ (\d+)(?![\d.])/g)) expect(`${key}: ≥ ${m[1]}`).toBe(`${key}: ≥ ${bounds.min}`);
  });

  it.each(keys.filter((k) => unwrapSchema(k.schema) instanceof z.ZodString && (unwrapSchema(k.schema) as z.ZodString).maxLength !== null).map((k) => [k.key, (unwrapSchema(k.schema) as z.ZodString).maxLength!] as const))(
    "%s: the allowed text states the schema's maximum length (%i)",
    (key, max) => {
      expect(KEY_DOCS[key].allowed).toContain(`at most ${max} characters`);
    },
  );

  it("enumerations list exactly the schema's values", () => {
    for (const k of keys) {
      const u = unwrapSchema(k.schema);
      if (!(u instanceof z.ZodEnum)) continue;
      expect(`${k.key}: ${KEY_DOCS[k.key].allowed}`).toBe(`${k.key}: one of ${u.options.join(", ")}`);
    }
  });

  it("help texts carry no requirement ids (MISSION B3, H7, …): they are for people running the program", () => {
    for (const [key, doc] of Object.entries(KEY_DOCS)) {
      expect(`${key}: ${doc.description} ${doc.allowed}`).not.toMatch(/MISSION|\b[BHLPR]\d\b|\bseed\b/);
    }
  });
});
