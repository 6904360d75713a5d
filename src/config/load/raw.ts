// The config gate: reading the raw map Pulumi hands a program ("postgres-ha:patroni" → JSON
// text) into this project's keys and the aws:region.

/** Parses one raw Pulumi config value: objects and lists arrive as JSON text. */
function parseRawValue(v: unknown): unknown {
  if (typeof v !== "string") return v;
  const t = v.trim();
  if ((t.startsWith("{") && t.endsWith("}")) || (t.startsWith("[") && t.endsWith("]"))) {
    try {
      return JSON.parse(t);
    } catch {
      return v;
    }
  }
  return v;
}

/**
 * Splits the raw config map into this project's keys and the aws:region.
 * Keys of other namespaces (aws:*, pulumi:*) are left alone, except aws:region which we need.
 */
export function projectConfigFromRaw(raw: Record<string, unknown>): { input: Record<string, unknown>; region?: string } {
  const input: Record<string, unknown> = {};
  let region: string | undefined;
  for (const [k, v] of Object.entries(raw)) {
    if (k === "aws:region") region = String(v);
    const m = /^postgres-ha:(?:config:)?(.+)$/.exec(k);
    if (m) input[m[1]] = parseRawValue(v);
  }
  return { input, region };
}
