// TLS on every hop and secrets that never leak (issue 6), on the booted sandbox.
import * as fs from "fs";
import * as path from "path";
import * as tls from "tls";
import { execFileSync } from "child_process";
import { Client } from "pg";
import { hostExec } from "../../src/sandbox/hosts";
import type { Sandbox } from "../../src/sandbox/cluster";
import { ensureMaterial, generatedSecretValues } from "../../src/sandbox/material";
import { rotateCertificates } from "../../src/sandbox/operate";
import { renderAll } from "../../src/render/bundle";
import { ec2Layout } from "../../src/layout";
import { nodesOf } from "../../src/spec";
import { localSql, postgresMembers, sandbox, sh, sleep, waitFor, waitHealthy, WriteLoad } from "./support";

let sb: Sandbox;
const T = (minutes: number) => minutes * 60_000;

beforeAll(async () => {
  sb = await sandbox();
  await waitHealthy(sb);
}, T(4));

/** The certificate a TLS server presents (PostgreSQL speaks STARTTLS-like SSLRequest first). */
function servedCertificate(host: string, port: number, postgres: boolean): Promise<{ serial: string; subject: string }> {
  return new Promise((resolve, reject) => {
    const net = require("net") as typeof import("net");
    const socket = net.connect({ host, port });
    socket.setTimeout(5000, () => socket.destroy(new Error("timeout")));
    const upgrade = () => {
      const t = tls.connect({ socket, rejectUnauthorized: false, cert: fs.readFileSync(sb.client.files.certFile), key: fs.readFileSync(sb.client.files.keyFile) }, () => {
        const c = t.getPeerCertificate();
        resolve({ serial: c.serialNumber.toLowerCase(), subject: String(c.subject.CN) });
        t.destroy();
      });
      t.on("error", reject);
    };
    socket.once("error", reject);
    if (!postgres) {
      socket.once("connect", upgrade);
      return;
    }
    socket.once("connect", () => {
      const req = Buffer.alloc(8);
      req.writeInt32BE(8, 0);
      req.writeInt32BE(80877103, 4); // SSLRequest
      socket.write(req);
      socket.once("data", (d) => (d.toString() === "S" ? upgrade() : reject(new Error("server refused SSL"))));
    });
  });
}

describe("every hop is encrypted and authenticated", () => {
  it("PostgreSQL refuses sslmode=disable on rw and ro; verify-full with the CA works through the rw service name", async () => {
    for (const target of ["rw", "ro"]) {
      await expect(sb.client.query(target, "select 1", [], { sslmode: "disable" })).rejects.toThrow(/pg_hba.conf rejects connection|no pg_hba.conf entry|SSL off/);
    }
    const rows = await sb.client.query("rw", "select ssl, version from pg_stat_ssl where pid = pg_backend_pid()");
    expect(rows[0].ssl).toBe(true);
    expect(rows[0].version).toMatch(/TLSv1\.[23]/);
    // A name the certificates do not carry fails verification.
    const wrong = new Client({ ...sb.client.pgConfig("rw"), ssl: { ca: fs.readFileSync(sb.client.files.caFile), servername: "db.example.com", rejectUnauthorized: true } });
    wrong.on("error", () => undefined);
    await expect(wrong.connect()).rejects.toThrow(/Hostname\/IP does not match|altnames/);
    await wrong.end().catch(() => undefined);
  }, T(1));

  it("psql with sslmode=verify-full and the status URI works from the machine", async () => {
    const out = execFileSync("psql", [sb.client.uri("rw"), "-XAtc", "select current_user"], { encoding: "utf8" });
    expect(out.trim()).toBe("postgres");
    expect(sb.client.uri("rw")).toContain("sslmode=verify-full");
  }, T(1));

  it("every standby replicates over TLS", async () => {
    const leader = (await sb.client.leader())!;
    const rows = await sb.client.query(leader, "select r.application_name, s.ssl from pg_stat_replication r join pg_stat_ssl s using (pid) order by 1");
    expect(rows.map((r) => r.application_name)).toEqual(postgresMembers(sb).filter((m) => m !== leader).sort());
    expect(rows.every((r) => r.ssl === true)).toBe(true);
  }, T(1));

  it("etcd refuses a client without a certificate and serves one with the node's", async () => {
    const etcd = nodesOf(sb.spec, "etcd")[0];
    const url = `https://${sb.layout.addresses[etcd.name]}:2379/health`;
    const db = postgresMembers(sb)[0];
    const anonymous = await hostExec(db, ["curl", "-sS", "--max-time", "5", "--cacert", "/etc/pgha/tls/ca.crt", url]);
    expect(anonymous.code).not.toBe(0);
    const authed = await hostExec(db, ["curl", "-sS", "--max-time", "5", "--cacert", "/etc/pgha/tls/ca.crt", "--cert", "/etc/pgha/tls/node.crt", "--key", "/etc/pgha/tls/node.key", url]);
    expect(authed.code).toBe(0);
    expect(JSON.parse(authed.stdout).health).toBe("true");
    // Plain HTTP is not served at all.
    expect((await hostExec(db, ["curl", "-sS", "--max-time", "5", `http://${sb.layout.addresses[etcd.name]}:2379/health`])).code).not.toBe(0);
  }, T(1));

  it("Patroni's REST API: client certificate required, unsafe endpoints need basic auth (401 without)", async () => {
    const m = postgresMembers(sb)[0];
    const r401 = await sb.client.rest(m, "POST", "/reload", {}, { auth: false });
    expect(r401.status).toBe(401);
    const ok = await sb.client.rest(m, "POST", "/reload", {}, { auth: true });
    expect([200, 202]).toContain(ok.status);
    const db = postgresMembers(sb)[1];
    const noCert = await hostExec(db, ["curl", "-sS", "--max-time", "5", "--cacert", "/etc/pgha/tls/ca.crt", `https://${sb.layout.addresses[m]}:8008/health`]);
    expect(noCert.code).not.toBe(0);
  }, T(1));

  it("HAProxy checks Patroni over verified TLS, and its stats page needs a password", async () => {
    const lb = nodesOf(sb.spec, "haproxy")[0].name;
    const addr = sb.layout.addresses[lb];
    const anon = await hostExec(lb, ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", `http://${addr}:7000/`]);
    expect(anon.stdout).toBe("401");
    const authed = await hostExec(lb, ["bash", "-c", `. /etc/haproxy/secrets.env; curl -s -o /dev/null -w '%{http_code}' -K - http://${addr}:7000/ <<<"user = \\"$PGHA_STATS_USER:$PGHA_STATS_PASSWORD\\""`]);
    expect(authed.stdout).toBe("200");
    // The health checks really run over TLS: every server is UP in the stats CSV.
    const csv = await hostExec(lb, ["bash", "-c", `. /etc/haproxy/secrets.env; curl -s -K - "http://${addr}:7000/;csv" <<<"user = \\"$PGHA_STATS_USER:$PGHA_STATS_PASSWORD\\""`]);
    const primaryRows = csv.stdout.split("\n").filter((l) => l.startsWith("primary,db"));
    expect(primaryRows.filter((l) => l.split(",")[17] === "UP")).toHaveLength(1);
  }, T(1));
});

describe("certificate rotation", () => {
  it("re-issuing the leader's certificate under write load: served after a reload, no failover, no failed writes", async () => {
    const leader = (await sb.client.leader())!;
    const addr = sb.layout.addresses[leader];
    const tlBefore = await localSql(leader, "select timeline_id from pg_control_checkpoint()");
    const before = await servedCertificate(addr, 5432, true);
    const load = new WriteLoad(sb, "tls_rotation");
    await load.prepare();
    load.start();
    await waitFor("writes flowing", async () => load.ackedCount > 50, 30_000);
    // `npx pgha sandbox rotate-certs <leader>`: as `pulumi up` does on AWS, the re-issued
    // certificate goes into the node's secret, and the node fetches it and reloads.
    const [rotated] = await rotateCertificates(sb, [leader]);
    expect(rotated.node).toBe(leader);
    const expected = rotated.serialNumber;
    expect(Date.parse(rotated.notAfter)).toBeGreaterThan(Date.now() + 24 * 3600_000);
    await waitFor("PostgreSQL to serve the new certificate", async () => (await servedCertificate(addr, 5432, true)).serial === expected, 30_000, 500);
    await waitFor("Patroni's REST API to serve the new certificate", async () => (await servedCertificate(addr, 8008, false)).serial === expected, 30_000, 500);
    await sleep(3000);
    const result = await load.stop();
    expect(before.serial).not.toBe(expected);
    expect(result.errors).toBe(0);
    expect(await load.lost(result.acked)).toEqual([]);
    expect(await sb.client.leader()).toBe(leader);
    expect(await localSql(leader, "select timeline_id from pg_control_checkpoint()")).toBe(tlBefore);
    // Replication and HAProxy checks still verify against the rotated certificate.
    await waitHealthy(sb);
  }, T(3));
});

describe("secrets audit", () => {
  const allowed = new Map<string, string>([
    // path inside a host → who may own it (mode must be 0600)
    ["/etc/patroni/config.d/secrets.yml", "postgres"],
    ["/etc/pgbackrest/conf.d/secrets.conf", "postgres"],
    ["/etc/pgha/restapi.curlrc", "postgres"],
    ["/etc/haproxy/secrets.env", "root"],
    ["/etc/pgha/tls/node.key", "*"],
    ["/etc/pgha/tls/node.pem", "root"],
    // The metrics exporters' copy of the node key (they run as prometheus).
    ["/etc/pgha/tls/exporter.key", "prometheus"],
    // Central logs: journal-upload's copy (every node), journal-remote's (the monitoring node).
    ["/etc/pgha/tls/journal-upload.key", "systemd-journal-upload"],
    ["/etc/pgha/tls/journal-remote.key", "systemd-journal-remote"],
    ["/var/lib/postgresql/.pgpass_patroni", "postgres"],
  ]);

  it("generated passwords and keys are only in 0600 files of their service user: not in files, journals, process arguments, bundles or user-data", async () => {
    // Current material (the rotation test re-issued a key) and what the sandbox started with.
    const current = await ensureMaterial(sb.spec, sb.layout, sb.stateDir);
    const secrets = [...new Set([...generatedSecretValues(current), ...generatedSecretValues(sb.material)])];
    // PEM keys: search for a line of their body, which cannot occur by chance.
    const needles = secrets.map((s) => (s.includes("PRIVATE KEY") ? s.split("\n")[1] : s)).filter((s) => s.length >= 20);
    expect(needles.length).toBeGreaterThanOrEqual(6);
    const patterns = path.join(sb.stateDir, "material", ".audit-patterns");
    fs.writeFileSync(patterns, needles.join("\n") + "\n", { mode: 0o600 });
    const problems: string[] = [];
    const found: string[] = [];
    try {
      for (const n of [...sb.spec.nodes.map((x) => x.name)]) {
        // Everything the host ever wrote is in its overlay's upper layer (the image is clean).
        const upper = path.join(sb.stateDir, "hosts", n, "upper");
        let hits: string[] = [];
        try {
          hits = execFileSync("grep", ["-rlFa", "-f", patterns, upper], { encoding: "utf8" }).split("\n").filter(Boolean);
        } catch (e: any) {
          if (e.status !== 1) throw e; // 1 = no match
        }
        for (const hit of hits) {
          const inHost = "/" + path.relative(upper, hit);
          found.push(`${n}:${inHost}`);
          const owner = allowed.get(inHost);
          if (!owner) {
            problems.push(`${n}:${inHost} holds a secret`);
            continue;
          }
          const st = (await sh(n, `stat -c '%a %U' ${inHost}`)).trim();
          const [mode, user] = st.split(" ");
          if (mode !== "600" || (owner !== "*" && user !== owner)) problems.push(`${n}:${inHost} is ${st}, expected 600 ${owner}`);
        }
        // The journal (all units) and the process list.
        const journal = await hostExec(n, ["bash", "-c", "journalctl -o cat --no-pager | grep -cFf /dev/stdin || true"], { input: needles.join("\n") + "\n" });
        if (journal.stdout.trim() !== "0") problems.push(`${n}: ${journal.stdout.trim()} journal line(s) hold a secret`);
        const ps = await hostExec(n, ["bash", "-c", "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' ' | grep -cFf /dev/stdin || true"], { input: needles.join("\n") + "\n" });
        if (ps.stdout.trim() !== "0") problems.push(`${n}: a process argument holds a secret`);
      }
    } finally {
      fs.rmSync(patterns, { force: true });
    }
    // The rendered bundles and user-data, for both layouts.
    for (const layout of [sb.layout, ec2Layout(sb.spec)]) {
      for (const b of renderAll(sb.spec, layout)) {
        const text = b.files.map((f) => f.content).join("\n") + b.cloudConfig;
        for (const s of needles) if (text.includes(s)) problems.push(`rendered ${b.node} (${layout.kind}) holds a secret`);
      }
    }
    expect(problems).toEqual([]);
    // The search does find secrets where they belong (it is not vacuous).
    for (const db of postgresMembers(sb)) {
      expect(found).toEqual(expect.arrayContaining([`${db}:/etc/patroni/config.d/secrets.yml`, `${db}:/etc/pgha/tls/node.key`, `${db}:/etc/pgbackrest/conf.d/secrets.conf`]));
    }
    for (const lb of nodesOf(sb.spec, "haproxy")) expect(found).toContain(`${lb.name}:/etc/haproxy/secrets.env`);
    for (const n of sb.spec.nodes) expect(found).toContain(`${n.name}:/etc/pgha/tls/exporter.key`);
    if (sb.spec.monitoring.enabled) {
      for (const n of sb.spec.nodes) expect(found).toContain(`${n.name}:/etc/pgha/tls/journal-upload.key`);
      expect(found).toContain("mon1:/etc/pgha/tls/journal-remote.key");
    }
  }, T(4));
});
