import * as fs from "fs";
import * as path from "path";
import YAML from "yaml";
import {
  PULUMI_YAML_BEGIN, PULUMI_YAML_END, README_BEGIN, README_END,
  referenceMarkdown, referenceYamlComments, replaceBetween,
} from "../../src/config/reference";
import { KEY_DOCS } from "../../src/config/keys";
import { buildProgram } from "../../src/cli/main";
import { readmeWithBenchTables } from "../../bench/readme";

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
    const shown = [...read("README.md").matchAll(/npx pgha ((?:[a-z-]+ ?){1,2})/g)].map((m) => m[1].trim());
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
});
