// How the machine talks to a sandbox cluster: Patroni's REST API (HTTPS with the operator's
// client certificate), PostgreSQL through HAProxy or a member (verify-full against the cluster
// CA), etcd's health. Used by the CLI, the tests and the benchmarks.
import * as fs from "fs";
import * as path from "path";
import * as https from "https";
import * as http from "http";
import { Client, type ClientConfig } from "pg";
import { PORTS, nodesOf, type ClusterSpec } from "../spec";
import type { Layout } from "../layout";
import { OPERATOR_FILES } from "./material";

export interface PatroniMember {
  name: string;
  role: string;
  state: string;
  host: string;
  port: number;
  api_url?: string;
  timeline?: number;
  lag?: number | string;
  receive_lag?: number | string;
  replay_lag?: number | string;
  tags?: Record<string, unknown>;
  pending_restart?: boolean;
}

export interface PatroniCluster {
  members: PatroniMember[];
  scope?: string;
}

export class SandboxClient {
  readonly files: ReturnType<typeof OPERATOR_FILES>;
  private readonly tls: { ca: Buffer; cert: Buffer; key: Buffer } | undefined;

  constructor(
    readonly spec: ClusterSpec,
    readonly layout: Layout,
    readonly stateDir: string,
    private readonly superuserPassword: string,
    private readonly restApiPassword: string,
  ) {
    this.files = OPERATOR_FILES(stateDir);
    this.tls = spec.tls.enabled
      ? { ca: fs.readFileSync(this.files.caFile), cert: fs.readFileSync(this.files.certFile), key: fs.readFileSync(this.files.keyFile) }
      : undefined;
  }

  address(node: string): string {
    return this.layout.addresses[node];
  }

  restUrl(node: string): string {
    return `${this.spec.tls.enabled ? "https" : "http"}://${this.address(node)}:${PORTS.patroniRestApi}`;
  }

  /** One REST call; resolves with status and parsed body (or text). Never throws on HTTP status. */
  rest(node: string, method: string, pathname: string, body?: unknown, opts: { auth?: boolean; timeoutMs?: number } = {}): Promise<{ status: number; body: any }> {
    const url = new URL(pathname, this.restUrl(node));
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = {};
    if (payload) headers["content-type"] = "application/json";
    headers["content-length"] = String(payload?.length ?? 0);
    if (opts.auth) headers.authorization = "Basic " + Buffer.from(`patroni:${this.restApiPassword}`).toString("base64");
    const mod = this.tls ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(
        url,
        {
          method,
          headers,
          timeout: opts.timeoutMs ?? 5000,
          agent: false,
          ...(this.tls ? { ca: this.tls.ca, cert: this.tls.cert, key: this.tls.key } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString();
            let parsed: any = text;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              /* plain text */
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error(`timeout calling ${method} ${url}`)));
      req.on("error", reject);
      if (payload) req.write(payload);
      req.end();
    });
  }

  /** GET /cluster from the first member that answers. */
  async cluster(): Promise<PatroniCluster | undefined> {
    for (const n of nodesOf(this.spec, "postgres")) {
      try {
        const r = await this.rest(n.name, "GET", "/cluster", undefined, { timeoutMs: 2000 });
        if (r.status === 200) return r.body as PatroniCluster;
      } catch {
        /* try the next member */
      }
    }
    return undefined;
  }

  async leader(): Promise<string | undefined> {
    return (await this.cluster())?.members.find((m) => m.role === "leader")?.name;
  }

  /** A libpq URI that works from the machine with verify-full (hostaddr avoids DNS). */
  uri(target: "rw" | "ro" | string, database = "postgres", login?: { user: string; password: string }): string {
    const { host, hostaddr, port } = this.endpoint(target);
    const params = new URLSearchParams({ hostaddr });
    if (this.spec.tls.enabled) {
      params.set("sslmode", "verify-full");
      params.set("sslrootcert", this.files.caFile);
    } else params.set("sslmode", "disable");
    const { user, password } = login ?? { user: "postgres", password: this.superuserPassword };
    return `postgresql://${user}:${encodeURIComponent(password)}@${host}:${port}/${database}?${params.toString()}`;
  }

  /**
   * A libpq service file and a password file (both 0600, in `dir`) for rw and ro, so a person can
   * connect without the superuser password on the terminal or in the shell history:
   * `PGSERVICEFILE=<file> psql service=pgha-rw`. Returns the service file's path.
   */
  writeServiceFiles(dir: string): string {
    const passfile = path.join(dir, "pgpass");
    const servicefile = path.join(dir, "pg_service.conf");
    const escape = (v: string) => v.replace(/\\/g, "\\\\").replace(/:/g, "\\:");
    const services = (["rw", "ro"] as const).map((t) => {
      const { host, hostaddr, port } = this.endpoint(t);
      return { name: `pgha-${t}`, host, hostaddr, port };
    });
    const pass = services.map((x) => `${escape(x.host)}:${x.port}:*:postgres:${escape(this.superuserPassword)}`).join("\n") + "\n";
    const conf = services
      .map((x) =>
        [
          `[${x.name}]`, `host=${x.host}`, `hostaddr=${x.hostaddr}`, `port=${x.port}`, "dbname=postgres", "user=postgres", `passfile=${passfile}`,
          ...(this.spec.tls.enabled ? ["sslmode=verify-full", `sslrootcert=${this.files.caFile}`] : ["sslmode=disable"]),
        ].join("\n"),
      )
      .join("\n\n") + "\n";
    for (const [file, text] of [[passfile, pass], [servicefile, conf]] as const) {
      fs.writeFileSync(file, text, { mode: 0o600 });
      fs.chmodSync(file, 0o600);
    }
    return servicefile;
  }

  /**
   * Host name (for certificate verification), address and port of rw, ro, sync
   * (haproxy.synchronousReadOnly), pooled-rw, pooled-ro (pooler.enabled) or a member.
   */
  endpoint(target: string): { host: string; hostaddr: string; port: number } {
    const lb = nodesOf(this.spec, "haproxy")[0];
    if (target === "pooled-rw" || target === "pooled-ro") {
      if (!this.spec.pooler.enabled) throw new Error("the pooled endpoints are off (pooler.enabled)");
      return {
        host: target === "pooled-rw" ? this.spec.serviceNames.readWrite : this.spec.serviceNames.readOnly,
        hostaddr: this.address(lb.name),
        port: target === "pooled-rw" ? PORTS.pooledReadWrite : PORTS.pooledReadOnly,
      };
    }
    if (target === "rw" || target === "ro" || target === "sync") {
      if (target === "sync" && !this.spec.haproxy.synchronousReadOnly) throw new Error("the synchronous read endpoint is off (haproxy.synchronousReadOnly)");
      return {
        host: target === "rw" ? this.spec.serviceNames.readWrite : this.spec.serviceNames.readOnly,
        hostaddr: this.address(lb.name),
        port: target === "rw" ? PORTS.readWrite : target === "ro" ? PORTS.readOnly : PORTS.synchronousReadOnly,
      };
    }
    if (!this.layout.addresses[target]) throw new Error(`no member ${target}; members: ${nodesOf(this.spec, "postgres").map((n) => n.name).join(", ")}`);
    return { host: target, hostaddr: this.address(target), port: PORTS.postgres };
  }

  pgConfig(target: string, opts: { database?: string; user?: string; password?: string; connectTimeoutMs?: number; sslmode?: "verify-full" | "disable" } = {}): ClientConfig {
    const ep = this.endpoint(target);
    const useTls = this.spec.tls.enabled && opts.sslmode !== "disable";
    return {
      host: ep.hostaddr,
      port: ep.port,
      user: opts.user ?? "postgres",
      password: opts.password ?? this.superuserPassword,
      database: opts.database ?? "postgres",
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
      ssl: useTls ? { ca: this.tls!.ca, servername: ep.host, rejectUnauthorized: true } : false,
    };
  }

  async connect(target: string, opts: Parameters<SandboxClient["pgConfig"]>[1] = {}): Promise<Client> {
    const c = new Client(this.pgConfig(target, opts));
    c.on("error", () => undefined); // a dropped connection is seen by the next query
    await c.connect();
    return c;
  }

  async query<T = any>(target: string, sql: string, params: unknown[] = [], opts: Parameters<SandboxClient["pgConfig"]>[1] = {}): Promise<T[]> {
    const c = await this.connect(target, opts);
    try {
      return (await c.query(sql, params)).rows as T[];
    } finally {
      await c.end().catch(() => undefined);
    }
  }
}
