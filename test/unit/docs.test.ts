import * as fs from "fs";
import * as path from "path";
import YAML from "yaml";
import {
  PULUMI_YAML_BEGIN, PULUMI_YAML_END, README_BEGIN, README_END,
  referenceMarkdown, referenceYamlComments, replaceBetween,
} from "../../src/config/reference";
import { KEY_DOCS } from "../../src/config/keys";
import { TIER_DEFAULTS } from "../../src/config/defaults";
import { buildProgram } from "../../src/cli/main";
import { BACKUP_BEGIN, BACKUP_END, FAILOVER_BEGIN, FAILOVER_END, readmeWithBenchTables } from "../../bench/readme";
import { CHAOS_BEGIN, CHAOS_END } from "../../bench/chaos/report";
import { STANDBY_BEGIN, STANDBY_END } from "../../bench/standby";
import { POOLING_BEGIN, POOLING_END } from "../../bench/pooling";
import { CLI_BEGIN, CLI_END } from "../../bench/cli";
import { DAY2_BEGIN, DAY2_END } from "../../bench/day2";
import { policies } from "../../policies/rules";

const root = path.resolve(__dirname, "../..");
const read = (f: string) => fs.readFileSync(path.join(root, f), "utf8");

describe("documentation stays in step with the code", () => {
  it("README's config reference is the generated one (npx pgha config-reference --readme)", () => {
    const readme = read("README.md");
    expect(replaceBetween(readme, README_BEGIN, README_END, referenceMarkdown())).toBe(readme);
  });

  it("Pulumi.yaml's config block documents every key and still parses (npx pgha config-reference --pulumi-yaml)", () => {
    const text = read("Pulumi.yaml");
    expect(replaceBetween(text, PULUMI_YAML_BEGIN, PULUMI_YAML_END, referenceYamlComments(), "  ")).toBe(text);
    for (const key of Object.keys(KEY_DOCS).filter((k) => !k.includes("*"))) expect(text).toContain(`# ${key}: `);
    const doc = YAML.parse(text);
    expect(doc.name).toBe("postgres-ha");
    expect(Object.keys(doc.config)).toEqual(["tier"]);
  });

  it("every pgha command the README shows exists in the CLI", () => {
    const program = buildProgram();
    const names = (c: any, prefix = ""): string[] => c.commands.flatMap((s: any) => [`${prefix}${s.name()}`, ...names(s, `${prefix}${s.name()} `)]);
    const known = new Set(names(program));
    const shown = [...read("README.md").matchAll(/npx pgha ((?:[a-z][a-z0-9-]* ?){1,2})/g)].map((m) => m[1].trim());
    const missing = shown.filter((cmd) => {
      if (known.has(cmd) || cmd === "--help") return false; // --help: commander's own (the CLI benchmark's table shows it)
      const group = program.commands.find((c) => c.name() === cmd.split(" ")[0]);
      // A command without subcommands followed by an argument (`render --stack`) is fine.
      return !group || group.commands.length > 0;
    });
    expect(shown.length).toBeGreaterThan(20);
    expect(missing).toEqual([]);
  });

  it("README's benchmark tables are the ones in bench/results (npx pgha bench readme)", () => {
    const readme = read("README.md");
    expect(readmeWithBenchTables(readme, path.join(root, "bench/results"))).toBe(readme);
    expect(readme).toMatch(/\| prod-profile \| quorum \| power-cut \|/);
    expect(readme).toMatch(/\| pgBackRest [^|]*\| full backup \|/);
  });

  it("the Benchmarks section states no measured figure outside its generated tables", () => {
    const readme = read("README.md");
    const section = readme.slice(readme.indexOf("<!-- BEGIN benchmark figures -->"), readme.indexOf("<!-- END benchmark figures -->"));
    let prose = section;
    for (const [b, e] of [[FAILOVER_BEGIN, FAILOVER_END], [BACKUP_BEGIN, BACKUP_END], [DAY2_BEGIN, DAY2_END], [CLI_BEGIN, CLI_END], [POOLING_BEGIN, POOLING_END], [CHAOS_BEGIN, CHAOS_END], [STANDBY_BEGIN, STANDBY_END]]) {
      expect(prose).toContain(b);
      prose = prose.slice(0, prose.indexOf(b)) + prose.slice(prose.indexOf(e) + e.length);
    }
    // Times, sizes, rates, ratios and ranges belong in the tables (generated from bench/results).
    const figures = prose.match(/\d+(?:\.\d+)?\s*(?:s|ms|min|KiB|MiB|GiB|kB|MB|GB|×|%)(?![\w-])|\d+\s*[–-]\s*\d+\s*s\b|≈\s*\d/g) ?? [];
    expect(figures).toEqual([]);
  });

  it("README's per-tier table states the tier defaults (src/config/defaults.ts)", () => {
    const readme = read("README.md");
    const table = readme.slice(readme.indexOf("| | dev | staging | prod |"));
    const row = (label: string): string[] => {
      const line = table.split("\n").find((l) => l.startsWith(`| ${label} |`));
      expect([label, line !== undefined]).toEqual([label, true]);
      return line!.split("|").slice(2, 5).map((c) => c.trim());
    };
    const numbers = (cell: string) => (cell.match(/\d+/g) ?? []).map(Number);
    const tiers = ["dev", "staging", "prod"] as const;
    tiers.forEach((tier, i) => {
      const d = TIER_DEFAULTS[tier];
      expect([tier, numbers(row("PostgreSQL nodes")[i])[0]]).toEqual([tier, d.postgres.nodes]);
      expect([tier, numbers(row("etcd / HAProxy")[i]).slice(0, 2)]).toEqual([tier, [d.etcd.nodes, d.haproxy.nodes]]);
      expect([tier, numbers(row("AZs")[i])[0]]).toEqual([tier, d.network.availabilityZones]);
      const timing = row("Patroni timing (ttl / loop_wait / retry_timeout)")[i];
      const p = (/^same/.test(timing) ? TIER_DEFAULTS[tiers[i - 1]] : d).patroni;
      expect([tier, numbers(timing).slice(0, 3)]).toEqual([tier, [p.ttl, p.loopWait, p.retryTimeout]]);
      expect([tier, numbers(row("`archive_timeout`")[i])[0]]).toEqual([tier, d.backup.archiveTimeoutSeconds]);
      expect([tier, row("repository encryption")[i]]).toEqual([tier, d.backup.repoEncryption ? "aes-256-cbc" : "off"]);
    });
  });

  it("the rule count the README gives is the pack's", () => {
    const m = /CrossGuard pack \((\d+) rules:/.exec(read("README.md"));
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBe(policies.length);
  });
});
