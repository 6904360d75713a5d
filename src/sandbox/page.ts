// The monitoring page as a person sees it: Prometheus's console of the cluster (pgha.html) fetched
// with the operator's certificate, then rendered by headless Chromium (Debian's `chromium`) into
// the DOM it shows and, on request, a screenshot. The page carries its own style, so the saved
// copy renders like the live one.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { Sandbox } from "./cluster";
import { monitoringGet, monitoringUrls } from "./monitoring";

export const CHROMIUM = process.env.PGHA_CHROMIUM ?? "/usr/bin/chromium";

export interface RenderedPage {
  url: string;
  /** The page's HTML as Prometheus served it. */
  html: string;
  /** The DOM after Chromium rendered it (what a browser shows). */
  dom: string;
  /** The screenshot, when asked for (PNG path). */
  screenshot?: string;
}

function chromium(args: string[]): string {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (scripts/setup-machine.sh installs it)`);
  // --no-sandbox: Chromium's own sandbox needs user namespaces a root CI shell may not have.
  const r = spawnSync(CHROMIUM, ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run", ...args], { encoding: "utf8", timeout: 120_000, maxBuffer: 32 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`chromium ${args[0]} failed (${r.status ?? r.signal}): ${(r.stderr ?? "").trim().split("\n").slice(-3).join(" | ")}`);
  return r.stdout;
}

/** Fetches the page and renders it in headless Chromium; with `screenshot`, a PNG of it there. */
export async function renderPage(sb: Sandbox, opts: { screenshot?: string; width?: number; height?: number } = {}): Promise<RenderedPage> {
  const urls = monitoringUrls(sb);
  if (!urls) throw Object.assign(new Error(`stack ${sb.spec.stack} has no monitoring node (monitoring.enabled is false)`), { exitCode: 2 });
  const r = await monitoringGet(sb, urls.page);
  if (r.status !== 200) throw new Error(`${urls.page}: HTTP ${r.status}: ${r.text.slice(0, 300)}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-page-"));
  try {
    const file = path.join(dir, "pgha.html");
    fs.writeFileSync(file, r.text);
    const dom = chromium(["--dump-dom", `file://${file}`]);
    if (opts.screenshot) {
      fs.mkdirSync(path.dirname(path.resolve(opts.screenshot)), { recursive: true });
      chromium([`--screenshot=${path.resolve(opts.screenshot)}`, `--window-size=${opts.width ?? 1000},${opts.height ?? 620}`, `file://${file}`]);
    }
    return { url: urls.page, html: r.text, dom, ...(opts.screenshot ? { screenshot: path.resolve(opts.screenshot) } : {}) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
