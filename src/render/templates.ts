// Loads and renders the mustache templates in templates/.
//
// Config files are not HTML: escaping is turned off for every render, so `{{x}}` writes x as is
// (mustache would otherwise turn '/' into '&#x2F;'). Templates stay logic-less; view models are
// computed in TypeScript (views.ts).
import * as fs from "fs";
import * as path from "path";
import Mustache from "mustache";

function templatesDir(): string {
  // src/render → ../../templates, and the same from a compiled dist/src/render.
  for (const candidate of [path.resolve(__dirname, "../../templates"), path.resolve(__dirname, "../../../templates")]) {
    if (fs.existsSync(path.join(candidate, "patroni.yml.mustache"))) return candidate;
  }
  throw new Error(`templates/ not found from ${__dirname}`);
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
