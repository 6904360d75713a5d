// Small parsers for the rendered files, so tests assert on meaning rather than text.
import YAML from "yaml";

export function parseYaml(text: string): any {
  // PyYAML (Patroni, cloud-init) reads YAML 1.1: parse the same way.
  return YAML.parse(text, { version: "1.1" });
}

/** INI as pgBackRest reads it: {section: {key: value}}; repeated keys become arrays. */
export function parseIni(text: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  let section = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const m = /^\[(.+)\]$/.exec(line);
    if (m) {
      section = m[1];
      out[section] ??= {};
      continue;
    }
    const eq = line.indexOf("=");
    if (eq < 0) throw new Error(`not an INI line: ${line}`);
    (out[section] ??= {})[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}

export interface HbaRule {
  type: string;
  database: string;
  user: string;
  address?: string;
  method: string;
}

export function parseHba(lines: string[] | string): HbaRule[] {
  const list = typeof lines === "string" ? lines.split("\n") : lines;
  return list
    .map((l) => l.replace(/#.*/, "").trim())
    .filter(Boolean)
    .map((l) => {
      const f = l.split(/\s+/);
      if (f[0] === "local") return { type: f[0], database: f[1], user: f[2], method: f[3] };
      return { type: f[0], database: f[1], user: f[2], address: f[3], method: f[4] };
    });
}

export interface HaproxySection {
  kind: string;
  name: string;
  lines: string[];
}

export function parseHaproxy(text: string): HaproxySection[] {
  const sections: HaproxySection[] = [];
  for (const raw of text.split("\n")) {
    if (!raw.trim() || raw.trim().startsWith("#")) continue;
    if (!/^\s/.test(raw)) {
      const [kind, name = ""] = raw.trim().split(/\s+/);
      sections.push({ kind, name, lines: [] });
    } else sections[sections.length - 1].lines.push(raw.trim());
  }
  return sections;
}

export interface CronLine {
  minute: string;
  hour: string;
  dayOfMonth: string;
  month: string;
  dayOfWeek: string;
  user: string;
  command: string;
}

/** /etc/cron.d lines: five time fields, a user, a command; environment lines are skipped. */
export function parseCronD(text: string): CronLine[] {
  const out: CronLine[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || /^[A-Z_]+=/.test(line)) continue;
    const f = line.split(/\s+/);
    if (f.length < 7) throw new Error(`not a cron.d line: ${line}`);
    out.push({ minute: f[0], hour: f[1], dayOfMonth: f[2], month: f[3], dayOfWeek: f[4], user: f[5], command: f.slice(6).join(" ") });
  }
  return out;
}

const RANGES: [number, number][] = [[0, 59], [0, 23], [1, 31], [1, 12], [0, 7]];
/** True if every field of a cron line is in range (what cron itself accepts). */
export function cronFieldsValid(c: CronLine): boolean {
  return [c.minute, c.hour, c.dayOfMonth, c.month, c.dayOfWeek].every((field, i) =>
    field.split(",").every((part) => {
      const [rangePart, step] = part.split("/");
      if (step !== undefined && !/^\d+$/.test(step)) return false;
      if (rangePart === "*") return true;
      const [a, b] = rangePart.split("-").map(Number);
      const [lo, hi] = RANGES[i];
      return Number.isInteger(a) && a >= lo && a <= hi && (b === undefined || (Number.isInteger(b) && b >= a && b <= hi));
    }),
  );
}

/** Does an IPv4 address fall in a CIDR? */
export function inCidr(ip: string, cidr: string): boolean {
  const toInt = (s: string) => s.split(".").reduce((a, o) => a * 256 + Number(o), 0);
  const [net, bits] = cidr.split("/");
  const size = 2 ** (32 - Number(bits));
  return Math.floor(toInt(ip) / size) === Math.floor(toInt(net) / size);
}
