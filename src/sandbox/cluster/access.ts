// The declared databases and roles on a sandbox cluster: applied on the leader by the node's own
// pgha-access (what pgha-access.timer does on EC2 a couple of minutes after the first boot,
// done here as soon as the cluster is healthy), and the login roles' connection URIs.
import { loginRoles, roleDatabase } from "../../access/declaration";
import { nodesOf } from "../../spec";
import { sandboxTransport } from "./provision";
import type { Sandbox } from "./types";

export interface AccessApplyReport {
  node: string;
  ok: boolean;
  message: string;
  changes?: string[];
  unchanged?: number;
  warnings?: string[];
}

/** Whether the stack declares anything for pgha-access to apply. */
export function declaresAccess(sb: Pick<Sandbox, "spec">): boolean {
  const a = sb.spec.access;
  return a.databases.length + a.roles.length + a.absentRoles.length > 0;
}

/**
 * Runs `pgha-access apply --if-leader --json` on every PostgreSQL member (only the leader acts);
 * returns the leader's report. Throws with the node's own message when it fails.
 */
export async function applyAccess(sb: Sandbox, log: (l: string) => void = () => undefined): Promise<AccessApplyReport | undefined> {
  let applied: AccessApplyReport | undefined;
  for (const n of nodesOf(sb.spec, "postgres")) {
    const r = await sandboxTransport.run(n.name, ["pgha-access", "apply", "--if-leader", "--json"], 300_000);
    const line = r.stdout.trim().split("\n").filter((l) => l.startsWith("{")).pop();
    const report = line ? (JSON.parse(line) as AccessApplyReport) : undefined;
    if (r.code !== 0) throw new Error(`pgha-access on ${n.name} failed (exit ${r.code}): ${report?.message ?? (r.stderr.trim().split("\n").pop() || "no output")}`);
    if (report && report.changes) {
      applied = report;
      log(`${report.message}${report.warnings?.length ? `; ${report.warnings.join("; ")}` : ""}`);
    }
  }
  return applied;
}

/** Each declared login role: a verify-full URI through the rw endpoint to its database (sandbox only: the password is local). */
export function roleUris(sb: Pick<Sandbox, "spec" | "material" | "client">, target: "rw" | "pooled-rw" = "rw"): Record<string, string> {
  return Object.fromEntries(
    loginRoles(sb.spec.access)
      .filter((r) => sb.material.roles[r.name])
      .map((r) => [r.name, sb.client.uri(target, roleDatabase(sb.spec.access, r) ?? "postgres", { user: r.name, password: sb.material.roles[r.name].password })]),
  );
}
