// Loads and renders the mustache templates in templates/.
//
// Config files are not HTML: escaping is turned off for every render, so `{{x}}` writes x as is
// (mustache would otherwise turn '/' into '&#x2F;'). Templates stay logic-less; view models are
// computed in TypeScript (src/render/bundle/node-files.ts, `commonView` and the role views beside it).
import * as fs from "fs";
import * as path from "path";
import Mustache from "mustache";
import { repoPath } from "../repo-root";

function templatesDir(): string {
  // Read at run time from the repository, also by the compiled code under dist/ (src/repo-root.ts).
  const dir = repoPath("templates");
  if (!fs.existsSync(path.join(dir, "patroni.yml.mustache"))) throw new Error(`templates/ not found: ${dir} has no patroni.yml.mustache`);
  return dir;
}

const cache = new Map<string, string>();

export function templateText(name: string): string {
  let text = cache.get(name);
  if (text === undefined) {
    text = fs.readFileSync(path.join(templatesDir(), `${name}.mustache`), "utf8");
    cache.set(name, text);
  }
  return text;
}

export function renderTemplate(name: string, view: object): string {
  return Mustache.render(templateText(name), view, {}, { escape: (s: string) => s });
}

export function listTemplates(): string[] {
  const dir = templatesDir();
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".mustache")) out.push(path.relative(dir, p).replace(/\.mustache$/, ""));
    }
  };
  walk(dir);
  return out.sort();
}
