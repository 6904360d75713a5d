// Operator commands of the sandbox that move things in and out: certificate rotation (what
// `pulumi up` does on AWS when a node certificate is re-issued: the new one goes into the node's
// secret, the node fetches it and reloads) and copying files between the machine and a host.
import * as fs from "fs";
import type { Sandbox } from "./cluster";
import { hostExec } from "./hosts";
import { publishSecrets } from "./aws";
import { reissueNodeCertificate } from "./material";
import { describeCertificate } from "../tls/local-ca";

export interface RotatedCertificate {
  node: string;
  serialNumber: string;
  notAfter: string;
}

/**
 * Re-issues each node's certificate (default: every node), one node at a time: publish the new
 * certificate in the node's secret, then `pgha-secrets rotate` on the node (fetch, install,
 * reload — no restart). Stops at the first node that fails, naming it. `validityDays` issues a
 * shorter-lived certificate than tls.certValidityDays: one inside tls.renewBeforeDays rehearses the
 * certificate-expiry alert (a renewal that did not happen); a rotation without it repairs that.
 */
export async function rotateCertificates(sb: Sandbox, nodes?: string[], log: (l: string) => void = () => undefined, validityDays?: number): Promise<RotatedCertificate[]> {
  if (validityDays !== undefined && (!Number.isInteger(validityDays) || validityDays < 1 || validityDays > sb.spec.tls.certValidityDays)) {
    throw Object.assign(new Error(`--valid-days ${validityDays}: a whole number of days from 1 to tls.certValidityDays (${sb.spec.tls.certValidityDays})`), { exitCode: 2 });
  }
  const all = sb.spec.nodes.map((n) => n.name);
  const chosen = nodes?.length ? nodes : all;
  const unknown = chosen.filter((n) => !all.includes(n));
  if (unknown.length) throw Object.assign(new Error(`no node ${unknown.join(", ")} in stack ${sb.spec.stack}; nodes: ${all.join(", ")}`), { exitCode: 2 });
  const done: RotatedCertificate[] = [];
  for (const node of chosen) {
    const { certificate, secret } = await reissueNodeCertificate(sb.spec, sb.layout, sb.stateDir, node, validityDays);
    await publishSecrets([secret], sb.spec.region);
    const r = await hostExec(node, ["pgha-secrets", "rotate"], { timeoutMs: 120_000 });
    if (r.code !== 0) throw new Error(`pgha-secrets rotate failed on ${node} (exit ${r.code}): ${r.stderr.trim().split("\n").slice(-4).join(" | ")}; the nodes before it were rotated: ${done.map((d) => d.node).join(", ") || "none"}`);
    const d = describeCertificate(certificate.certPem);
    done.push({ node, serialNumber: d.serialNumber.toLowerCase(), notAfter: new Date(d.notAfter).toISOString() });
    log(`${node}: certificate ${d.serialNumber.toLowerCase()} installed and reloaded`);
  }
  return done;
}

/** `host:/path` or a path on the machine. */
export function parseCopyEnd(spec: string, hosts: string[]): { host?: string; path: string } {
  const m = /^([a-z][a-z0-9-]*):(\/.*)$/.exec(spec);
  if (m && hosts.includes(m[1])) return { host: m[1], path: m[2] };
  if (m && !spec.startsWith("./")) throw Object.assign(new Error(`${spec}: no host ${m[1]} in the sandbox (hosts: ${hosts.join(", ")}); write ./${spec} for a file on the machine`), { exitCode: 2 });
  return { path: spec };
}

/**
 * Copies one file between the machine and a host (either direction, byte for byte): a file
 * written on a host gets mode 0600 and owner root unless it existed (then it keeps both).
 */
export async function copyFile(sb: Sandbox, from: string, to: string): Promise<{ bytes: number }> {
  const hosts = sb.spec.nodes.map((n) => n.name);
  const src = parseCopyEnd(from, hosts);
  const dst = parseCopyEnd(to, hosts);
  if (Boolean(src.host) === Boolean(dst.host)) throw Object.assign(new Error("one end of sandbox cp is a host (db1:/path), the other a file on the machine"), { exitCode: 2 });
  if (src.host) {
    const r = await hostExec(src.host, ["cat", "--", src.path], { timeoutMs: 600_000 });
    if (r.code !== 0) throw new Error(`${from}: ${r.stderr.trim()}`);
    fs.writeFileSync(dst.path, r.stdoutBytes);
    return { bytes: r.stdoutBytes.length };
  }
  const bytes = fs.readFileSync(src.path);
  const r = await hostExec(dst.host!, ["bash", "-c", 'if [ ! -e "$1" ]; then install -m 0600 /dev/null "$1"; fi && cat > "$1"', "_", dst.path], { input: bytes, timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`${to}: ${r.stderr.trim()}`);
  return { bytes: bytes.length };
}
