// Scraping the sandbox's metrics endpoints from the machine, as the monitoring node will: TLS
// verified against the cluster CA, with the operator's client certificate.
import * as fs from "fs";
import * as http from "http";
import * as https from "https";
import { metricsTargets, parseMetrics, type MetricsTarget, type Sample } from "../metrics/targets";
import type { Sandbox } from "./cluster";

export interface Scrape {
  target: MetricsTarget;
  status: number;
  samples: Sample[];
  text: string;
}

/** GET the target's metrics; `clientCert: false` presents no client certificate (it must be refused). */
export function scrape(sb: Sandbox, target: MetricsTarget, opts: { clientCert?: boolean; timeoutMs?: number } = {}): Promise<Scrape> {
  const files = sb.client.files;
  const tls = target.scheme === "https";
  const material = tls
    ? { ca: fs.readFileSync(files.caFile), ...(opts.clientCert === false ? {} : { cert: fs.readFileSync(files.certFile), key: fs.readFileSync(files.keyFile) }) }
    : {};
  const url = `${target.scheme}://${target.address}:${target.port}${target.path}`;
  return new Promise((resolve, reject) => {
    const req = (tls ? https : http).request(url, { method: "GET", timeout: opts.timeoutMs ?? 10_000, agent: false, ...material }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ target, status: res.statusCode ?? 0, text, samples: res.statusCode === 200 ? parseMetrics(text) : [] });
      });
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`timeout scraping ${url}`)));
    req.on("error", reject);
    req.end();
  });
}

/** Every metrics target of the sandbox's cluster. */
export function sandboxTargets(sb: Sandbox): MetricsTarget[] {
  return metricsTargets(sb.spec, sb.layout);
}
