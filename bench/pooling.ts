// `pgha bench pooling`: direct (HAProxy → PostgreSQL, :5000) against pooled (HAProxy → PgBouncer
// on the leader → PostgreSQL over its socket, :6432) on the running sandbox, as a declared
// application role with verify-full TLS. pgbench runs on an HAProxy host that is not the one in
// the path (a client machine of the cluster's network) with a one-statement script, so what is
// measured is the connection path, not a workload:
//
//  1. a new connection per transaction (pgbench -C): transactions per second and the average
//     connection time — what an application without its own pool pays;
//  2. the most concurrent clients each path sustains: pgbench with N persistent clients, 20 s a
//     step (--ceiling-seconds), N raised through the --ceiling counts until it fails (direct
//     stops at the role's connection limit or max_connections; pooled at max_client_conn).
import * as fs from "fs";
import * as path from "path";
import type { Sandbox } from "../src/sandbox/cluster";
import { hostExec } from "../src/sandbox/hosts";
import { loginRoles, roleDatabase } from "../src/access/declaration";
import { TLS_DIR } from "../src/layout";
import { nodesOf } from "../src/spec";
import { replaceBetween } from "../src/config/reference";
import { describeMachine, machineInfo, type MachineInfo } from "./machine";

export const POOLING_PATHS = ["direct", "pooled"] as const;
export type PoolingPath = (typeof POOLING_PATHS)[number];

export interface ConnectRun {
  path: PoolingPath;
  run: number;
  clients: number;
  seconds: number;
  tps: number;
  /** pgbench's "average connection time" (ms). */
  connectMs: number;
  latencyMs: number;
  failed: number;
}

export interface ClientsStep {
  path: PoolingPath;
  clients: number;
  ok: boolean;
  tps: number | null;
  /** pgbench's last error line when it failed. */
  error?: string;
}

export interface PoolingResults {
  measuredAt: string;
  machine: MachineInfo;
  stack: string;
  role: string;
  database: string;
  pgbouncerVersion: string;
  maxConnections: number;
  roleConnectionLimit: number | null;
  poolMode: string;
  poolSize: number;
  /** How long each ceiling step ran (s). */
  ceilingSeconds: number;
  maxClientConnections: number;
  connectRuns: ConnectRun[];
  clientSteps: ClientsStep[];
}

export interface PoolingOptions {
  runs: number;
  connectSeconds: number;
  connectClients: number;
  /** Client counts tried for the ceiling, in order; a path stops at its first failure. */
  clientCounts: number[];
  /** How long each ceiling step runs once its clients are connected (s). */
  ceilingSeconds: number;
  log: (line: string) => void;
}

const SCRIPT = "/root/pgha-bench-pooling.sql";

function pgbenchTarget(sb: Sandbox, path: PoolingPath): string {
  const ep = sb.client.endpoint(path === "direct" ? "rw" : "pooled-rw");
  const tls = sb.spec.tls.enabled ? `sslmode=verify-full sslrootcert=${TLS_DIR}/ca.crt` : "sslmode=disable";
  return `host=${ep.host} hostaddr=${ep.hostaddr} port=${ep.port} ${tls} connect_timeout=10`;
}

/** pgbench on the client host; the password travels on stdin into PGPASSWORD, never in argv. */
async function pgbench(sb: Sandbox, client: string, role: string, database: string, path: PoolingPath, args: string[], timeoutMs: number) {
  const conninfo = `${pgbenchTarget(sb, path)} dbname=${database} user=${role}`;
  const script = `read -r PGPASSWORD; export PGPASSWORD; ulimit -n "$(ulimit -Hn)"; exec pgbench "$@" "${conninfo}"`;
  return hostExec(client, ["bash", "-c", script, "pgbench", ...args], { input: `${sb.material.roles[role].password}\n`, timeoutMs });
}

const num = (text: string, re: RegExp): number => {
  const m = re.exec(text);
  return m ? Number(m[1]) : NaN;
};

export async function runPoolingBench(sb: Sandbox, opts: PoolingOptions): Promise<Omit<PoolingResults, "machine" | "measuredAt">> {
  if (!sb.spec.pooler.enabled) throw new Error(`stack ${sb.spec.stack} has no pooler: set pooler.enabled: true (Pulumi.${sb.spec.stack}.yaml) and npx pgha sandbox apply`);
  const role = loginRoles(sb.spec.access).find((r) => roleDatabase(sb.spec.access, r) && sb.material.roles[r.name]);
  if (!role) throw new Error(`stack ${sb.spec.stack} declares no login role with a database grant: the benchmark connects as an application would (postgres.roles)`);
  const database = roleDatabase(sb.spec.access, role)!;
  const lbs = nodesOf(sb.spec, "haproxy").map((n) => n.name);
  const inPath = sb.client.endpoint("rw").hostaddr;
  const client = lbs.find((n) => sb.client.address(n) !== inPath) ?? lbs[0];
  await hostExec(client, ["bash", "-c", `printf 'select 1;\\n' > ${SCRIPT}`]);
  const leader = await sb.client.leader();
  if (!leader) throw new Error("no leader: the benchmark needs a healthy cluster (npx pgha sandbox status)");
  const version = (await hostExec(leader, ["pgbouncer", "--version"])).stdout.split("\n")[0].trim();
  const [{ max_connections }] = await sb.client.query("rw", "show max_connections");
  opts.log(`client host ${client}, role ${role.name} on ${database}, ${version}, max_connections ${max_connections}, pool_mode ${sb.spec.pooler.mode}, pool size ${sb.spec.pooler.poolSize}`);

  const connectRuns: ConnectRun[] = [];
  for (let run = 1; run <= opts.runs; run++) {
    for (const p of POOLING_PATHS) {
      const r = await pgbench(sb, client, role.name, database, p, ["-n", "-C", "-f", SCRIPT, "-c", String(opts.connectClients), "-j", "2", "-T", String(opts.connectSeconds)], (opts.connectSeconds + 60) * 1000);
      const out = `${r.stdout}\n${r.stderr}`;
      if (r.code !== 0) throw new Error(`pgbench -C over the ${p} path failed (exit ${r.code}): ${out.trim().split("\n").slice(-3).join(" | ")}`);
      const row: ConnectRun = {
        path: p,
        run,
        clients: opts.connectClients,
        seconds: opts.connectSeconds,
        tps: num(out, /tps = ([\d.]+)/),
        connectMs: num(out, /average connection time = ([\d.]+) ms/),
        latencyMs: num(out, /latency average = ([\d.]+) ms/),
        failed: num(out, /number of failed transactions: (\d+)/) || 0,
      };
      connectRuns.push(row);
      opts.log(`-C run ${run} ${p}: ${row.tps.toFixed(0)} tps, connection ${row.connectMs.toFixed(2)} ms, latency ${row.latencyMs.toFixed(2)} ms`);
    }
  }

  const clientSteps: ClientsStep[] = [];
  for (const p of POOLING_PATHS) {
    for (const n of opts.clientCounts) {
      const r = await pgbench(sb, client, role.name, database, p, ["-n", "-f", SCRIPT, "-c", String(n), "-j", "2", "-T", String(opts.ceilingSeconds)], 600_000);
      const out = `${r.stdout}\n${r.stderr}`;
      // Sustained: every client connected and transactions went through (pgbench's clock runs
      // while the clients connect: with too short a run, none may be processed at all).
      const processed = num(out, /number of transactions actually processed: (\d+)/);
      const ok = r.code === 0 && !/error/i.test(r.stderr) && processed > 0;
      const why = out.split("\n").filter((l) => /FATAL|error/i.test(l)).map((l) => l.replace(/^pgbench: error: /, "").trim()).slice(-2).join("; ");
      const step: ClientsStep = { path: p, clients: n, ok, tps: ok ? num(out, /tps = ([\d.]+)/) : null, ...(ok ? {} : { error: (why || (processed === 0 ? `no transaction in ${opts.ceilingSeconds} s` : `exit ${r.code}`)).slice(0, 200) }) };
      clientSteps.push(step);
      opts.log(`${n} clients over ${p}: ${ok ? `${step.tps!.toFixed(0)} tps` : `failed: ${step.error}`}`);
      if (!ok) break;
    }
  }
  return {
    stack: sb.spec.stack,
    role: role.name,
    database,
    pgbouncerVersion: version,
    maxConnections: Number(max_connections),
    roleConnectionLimit: role.connectionLimit >= 0 ? role.connectionLimit : null,
    poolMode: sb.spec.pooler.mode,
    poolSize: sb.spec.pooler.poolSize,
    ceilingSeconds: opts.ceilingSeconds,
    maxClientConnections: sb.spec.pooler.maxClientConnections,
    connectRuns,
    clientSteps,
  };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

export function poolingTable(r: PoolingResults): string {
  const lines = [
    `pooling on stack ${r.stack} (${describeMachine(r.machine)}), ${r.pgbouncerVersion}, role ${r.role} on ${r.database}`,
    `max_connections ${r.maxConnections}, role connection limit ${r.roleConnectionLimit ?? "none"}, pool_mode ${r.poolMode}, pool size ${r.poolSize}, max_client_conn ${r.maxClientConnections}`,
    "",
    "new connection per transaction (pgbench -C, select 1, verify-full TLS)",
    "| path | n | clients | tps (mean) | connection ms (mean) | latency ms (mean) | failed |",
    "|---|---|---|---|---|---|---|",
  ];
  for (const p of POOLING_PATHS) {
    const runs = r.connectRuns.filter((x) => x.path === p);
    if (!runs.length) continue;
    lines.push(`| ${p} | ${runs.length} | ${runs[0].clients} | ${mean(runs.map((x) => x.tps)).toFixed(0)} | ${mean(runs.map((x) => x.connectMs)).toFixed(2)} | ${mean(runs.map((x) => x.latencyMs)).toFixed(2)} | ${runs.reduce((a, x) => a + x.failed, 0)} |`);
  }
  lines.push("", `concurrent persistent clients (${r.ceilingSeconds ?? 5} s each, more until one fails)`, "| path | most clients sustained | tps there | first failure |", "|---|---|---|---|");
  for (const p of POOLING_PATHS) {
    const steps = r.clientSteps.filter((x) => x.path === p);
    const best = steps.filter((x) => x.ok).pop();
    const fail = steps.find((x) => !x.ok);
    lines.push(`| ${p} | ${best?.clients ?? 0} | ${best?.tps?.toFixed(0) ?? "-"} | ${fail ? `${fail.clients}: ${fail.error}` : `none up to ${steps[steps.length - 1]?.clients}`} |`);
  }
  return lines.join("\n");
}

export function writePoolingResults(outDir: string, result: Omit<PoolingResults, "machine" | "measuredAt">, loadBefore: number[]): { json: string; table: string } {
  const full: PoolingResults = { measuredAt: new Date().toISOString(), machine: machineInfo(loadBefore), ...result };
  fs.mkdirSync(outDir, { recursive: true });
  const json = path.join(outDir, "pooling.json");
  fs.writeFileSync(json, `${JSON.stringify(full, null, 2)}\n`);
  return { json, table: poolingTable(full) };
}

export const POOLING_BEGIN = "<!-- BEGIN pooling table -->";
export const POOLING_END = "<!-- END pooling table -->";

/** The README's pooling figures, regenerated from bench/results/pooling.json (none without it). */
export function readmeWithPoolingTable(readme: string, resultsDir: string): string {
  const file = path.join(resultsDir, "pooling.json");
  if (!fs.existsSync(file) || !readme.includes(POOLING_BEGIN)) return readme;
  const r = JSON.parse(fs.readFileSync(file, "utf8")) as PoolingResults;
  return replaceBetween(readme, POOLING_BEGIN, POOLING_END, `${poolingTable(r).split("\n").slice(3).join("\n")}\n\n_measured ${r.measuredAt} on stack ${r.stack}, ${describeMachine(r.machine)}; ${r.pgbouncerVersion}, role ${r.role}, max_connections ${r.maxConnections}, role connection limit ${r.roleConnectionLimit ?? "none"}, pool_mode ${r.poolMode}, pool size ${r.poolSize}, max_client_conn ${r.maxClientConnections}_`);
}
