// pgha-secrets against a fake Secrets Manager: what it writes (content, mode, owner), what it
// refuses (named, nothing written), retries, the lock, and rotation's reloads.
import type { ChildProcess } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { fakeNodes, type FakeNode } from "./harness";
import { asDevNode, CLUSTER_SECRET, dev, devMonitored, devSecrets, nodeSecret } from "./fixtures";
import { NODE_PATHS } from "../../../src/node-paths";
import { DB_USERS } from "../../../src/spec";

jest.setTimeout(120_000); // real processes: seconds each on a busy machine
const node = fakeNodes();
const names = () => dev().spec.names;

function db1(): FakeNode {
  return devSecrets(asDevNode(node(), "db1"), "db1");
}

/** What secrets.yml holds for these passwords (Patroni deep-merges it over config.yml). */
function patroniSecrets(p: { superuserPassword: string; replicationPassword: string; rewindPassword: string; restApiPassword: string }) {
  return {
    restapi: { authentication: { username: "patroni", password: p.restApiPassword } },
    postgresql: { authentication: { superuser: { password: p.superuserPassword }, replication: { password: p.replicationPassword }, rewind: { password: p.rewindPassword } } },
  };
}

const POSTGRES_FILES = ["/etc/pgha/tls/ca.crt", "/etc/pgha/tls/node.crt", "/etc/pgha/tls/node.key", "/etc/patroni/config.d/secrets.yml", "/etc/pgbackrest/conf.d/secrets.conf", "/etc/pgha/restapi.curlrc"];

describe("pgha-secrets fetch", () => {
  it("writes a PostgreSQL node's secrets, each file 0600 (certificates 0644) and owned by the one user that reads it", () => {
    const n = db1();
    const r = n.run("pgha-secrets", ["fetch"]);
    expect(r.stderr).toContain("secrets in place for db1 (postgres)");
    expect(r.status).toBe(0);
    // Patroni reads its config directory: this file adds the passwords to the bundle's config.yml.
    expect(JSON.parse(n.read("/etc/patroni/config.d/secrets.yml"))).toEqual(patroniSecrets(CLUSTER_SECRET));
    expect(n.read("/etc/pgbackrest/conf.d/secrets.conf")).toBe(`[global]\nrepo1-cipher-pass=${CLUSTER_SECRET.repoCipherPass}\n`);
    expect(n.read("/etc/pgha/restapi.curlrc")).toBe(`user = "patroni:${CLUSTER_SECRET.restApiPassword}"\n`);
    expect(n.read("/etc/pgha/tls/node.key")).toBe(nodeSecret("db1").nodeKey + "\n");
    const modes = Object.fromEntries(POSTGRES_FILES.map((f) => [f, `${n.mode(f)} ${n.owner(f)}`]));
    expect(modes).toEqual({
      "/etc/pgha/tls/ca.crt": "0644 root:root",
      "/etc/pgha/tls/node.crt": "0644 root:root",
      "/etc/pgha/tls/node.key": "0600 postgres:postgres",
      "/etc/patroni/config.d/secrets.yml": "0600 postgres:postgres",
      "/etc/pgbackrest/conf.d/secrets.conf": "0600 postgres:postgres",
      "/etc/pgha/restapi.curlrc": "0600 postgres:postgres",
    });
    // Both secrets read with the region from aws.env; the secrets never appear in arguments.
    expect(n.calls("aws")).toEqual([
      ["secretsmanager", "get-secret-value", "--secret-id", names().nodeSecret.db1, "--query", "SecretString", "--output", "text"],
      ["secretsmanager", "get-secret-value", "--secret-id", names().clusterSecret, "--query", "SecretString", "--output", "text"],
    ]);
    expect(JSON.stringify(n.calls())).not.toContain(CLUSTER_SECRET.superuserPassword);
    expect(n.leftInTmp()).toEqual([]);
  });

  it("leaves when the CA and the node certificate expire for node-exporter (real certificates; placeholders write nothing)", () => {
    const { execFileSync } = require("child_process") as typeof import("child_process");
    const dir = fs.mkdtempSync(path.join(require("os").tmpdir(), "pgha-cert-"));
    try {
      const cert = (name: string, days: number) => {
        execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", `/CN=${name}`, "-days", String(days), "-keyout", path.join(dir, `${name}.key`), "-out", path.join(dir, `${name}.crt`)], { stdio: "ignore" });
        const pem = fs.readFileSync(path.join(dir, `${name}.crt`), "utf8").trim();
        const end = execFileSync("openssl", ["x509", "-noout", "-enddate", "-in", path.join(dir, `${name}.crt`)], { encoding: "utf8" }).trim().replace(/^notAfter=/, "");
        return { pem, at: Math.floor(Date.parse(end) / 1000) };
      };
      const ca = cert("ca", 3650);
      const leaf = cert("db1", 30);
      const n = asDevNode(node(), "db1").write(`${NODE_PATHS.metricsDir}/.keep`, "");
      devSecrets(n, "db1");
      n.secret(names().nodeSecret.db1, nodeSecret("db1", { caCert: ca.pem, nodeCert: leaf.pem }));
      expect(n.run("pgha-secrets", ["fetch"]).status).toBe(0);
      const lines = n.read(`${NODE_PATHS.metricsDir}/pgha_tls.prom`).split("\n").filter((l) => l && !l.startsWith("#"));
      expect(lines).toEqual([`pgha_tls_certificate_not_after_timestamp_seconds{certificate="ca"} ${ca.at}`, `pgha_tls_certificate_not_after_timestamp_seconds{certificate="node"} ${leaf.at}`]);
      // The fixtures' placeholder PEMs are no certificates: nothing is written, the fetch succeeds.
      const p = db1().write(`${NODE_PATHS.metricsDir}/.keep`, "");
      expect(p.run("pgha-secrets", ["fetch"]).status).toBe(0);
      expect(p.exists(`${NODE_PATHS.metricsDir}/pgha_tls.prom`)).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a node from before the config directory loses its old environment file of passwords", () => {
    const n = db1().write("/etc/patroni/secrets.env", "PATRONI_SUPERUSER_PASSWORD=old\n", 0o600);
    expect(n.run("pgha-secrets", ["fetch"]).status).toBe(0);
    expect([n.exists("/etc/patroni/secrets.env"), n.exists("/etc/patroni/config.d/secrets.yml")]).toEqual([false, true]);
  });

  it("an HAProxy node gets the stats credentials and the PEM HAProxy reads; an etcd node's key belongs to etcd", () => {
    const lb = devSecrets(asDevNode(node(), "lb1"), "lb1");
    expect(lb.run("pgha-secrets", ["fetch"]).status).toBe(0);
    expect(lb.read("/etc/haproxy/secrets.env")).toBe("PGHA_STATS_USER=pgha-stats\nPGHA_STATS_PASSWORD=Stats0000000000000000000000000000\n");
    expect(`${lb.mode("/etc/haproxy/secrets.env")} ${lb.owner("/etc/haproxy/secrets.env")}`).toBe("0600 root:root");
    expect(lb.read("/etc/pgha/tls/node.pem")).toBe(`${nodeSecret("lb1").nodeCert}\n${nodeSecret("lb1").nodeKey}\n`);
    expect(lb.exists("/etc/patroni/config.d/secrets.yml")).toBe(false);
    expect(lb.calls("aws").map((c) => c[3])).toEqual([names().nodeSecret.lb1]); // no cluster secret

    const etcd = devSecrets(asDevNode(node(), "etcd1"), "etcd1");
    expect(etcd.run("pgha-secrets", ["fetch"]).status).toBe(0);
    expect(`${etcd.mode("/etc/pgha/tls/node.key")} ${etcd.owner("/etc/pgha/tls/node.key")}`).toBe("0600 etcd:etcd");
  });

  it("central logs: journal-upload's copy of the key where its user exists, journal-remote's only on the monitoring node", () => {
    const users = { PGHA_TEST_USERS: "root postgres etcd haproxy prometheus systemd-journal-upload systemd-journal-remote" };
    const n = db1();
    expect(n.run("pgha-secrets", ["fetch"], { env: users }).status).toBe(0);
    expect(n.read(NODE_PATHS.journalUploadKey)).toBe(nodeSecret("db1").nodeKey + "\n");
    expect(`${n.mode(NODE_PATHS.journalUploadKey)} ${n.owner(NODE_PATHS.journalUploadKey)}`).toBe("0600 systemd-journal-upload:systemd-journal-upload");
    expect(n.exists(NODE_PATHS.journalRemoteKey)).toBe(false);
    // Without the user (no package, or not made yet): no copy.
    const bare = db1();
    expect(bare.run("pgha-secrets", ["fetch"]).status).toBe(0);
    expect(bare.exists(NODE_PATHS.journalUploadKey)).toBe(false);

    const mon = asDevNode(node(), "mon1");
    mon.secret(devMonitored().spec.names.nodeSecret.mon1, nodeSecret("mon1"));
    expect(mon.run("pgha-secrets", ["fetch"], { env: users }).status).toBe(0);
    for (const [p, user] of [[NODE_PATHS.journalUploadKey, "systemd-journal-upload"], [NODE_PATHS.journalRemoteKey, "systemd-journal-remote"]]) {
      expect([p, mon.read(p), `${mon.mode(p)} ${mon.owner(p)}`]).toEqual([p, nodeSecret("mon1").nodeKey + "\n", `0600 ${user}:${user}`]);
    }
  });

  it("a missing secret fails naming it, and writes nothing", () => {
    const n = db1().secret(names().clusterSecret, undefined);
    const r = n.run("pgha-secrets", ["fetch"], { env: { PGHA_SECRETS_RETRY_SECONDS: "0" } });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`cannot read secret ${names().clusterSecret}: An error occurred (ResourceNotFoundException)`);
    expect(r.stderr).toContain("could not fetch this node's secrets (see above); nothing was written");
    for (const f of POSTGRES_FILES) expect(n.exists(f)).toBe(false);
  });

  it.each([
    ["missing", (s: Record<string, unknown>) => { delete s.rewindPassword; delete s.restApiPassword; }, "rewindPassword restApiPassword"],
    ["null (never the text 'null')", (s: Record<string, unknown>) => { s.replicationPassword = null; }, "replicationPassword"],
    ["empty", (s: Record<string, unknown>) => { s.superuserPassword = ""; }, "superuserPassword"],
    ["not a string", (s: Record<string, unknown>) => { s.restApiPassword = 42; }, "restApiPassword"],
  ])("a key %s in the secret fails naming the key(s), and writes nothing", (_what, change, missing) => {
    const secret: Record<string, unknown> = { ...CLUSTER_SECRET };
    change(secret);
    const n = db1().secret(names().clusterSecret, secret);
    const r = n.run("pgha-secrets", ["fetch"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`secret ${names().clusterSecret} has no value for: ${missing} (set it in Secrets Manager; nothing was written)`);
    for (const f of POSTGRES_FILES) expect(n.exists(f)).toBe(false);
  });

  it("a node secret without its certificate or a secret that is not JSON is refused the same way", () => {
    const { nodeKey: _dropped, ...noKey } = nodeSecret("db1");
    const n = db1().secret(names().nodeSecret.db1, noKey);
    const r = n.run("pgha-secrets", ["fetch"]);
    expect([r.status, r.stderr]).toEqual([1, expect.stringContaining(`secret ${names().nodeSecret.db1} has no value for: nodeKey`)]);
    const lb = devSecrets(asDevNode(node(), "lb1"), "lb1").secret(names().nodeSecret.lb1, nodeSecret("lb1"));
    expect(lb.run("pgha-secrets", ["fetch"]).stderr).toContain("has no value for: statsUser statsPassword");
    n.secret(names().nodeSecret.db1, "not json at all");
    const r2 = n.run("pgha-secrets", ["fetch"]);
    expect([r2.status, r2.stderr]).toEqual([1, expect.stringContaining(`secret ${names().nodeSecret.db1} is not a JSON object`)]);
    for (const f of POSTGRES_FILES) expect(n.exists(f)).toBe(false);
  });

  it("an unchanged file is left alone (same inode); a changed one is replaced atomically, the others untouched", () => {
    const n = db1();
    expect(n.run("pgha-secrets", ["fetch"]).status).toBe(0);
    const before = Object.fromEntries(POSTGRES_FILES.map((f) => [f, n.inode(f)]));
    expect(n.run("pgha-secrets", ["fetch"]).status).toBe(0);
    expect(Object.fromEntries(POSTGRES_FILES.map((f) => [f, n.inode(f)]))).toEqual(before);

    n.secret(names().clusterSecret, { ...CLUSTER_SECRET, restApiPassword: "Changed00000000000000000000000000" });
    expect(n.run("pgha-secrets", ["fetch"]).status).toBe(0);
    const changed = POSTGRES_FILES.filter((f) => n.inode(f) !== before[f]);
    expect(changed).toEqual(["/etc/patroni/config.d/secrets.yml", "/etc/pgha/restapi.curlrc"]);
    expect(n.read("/etc/pgha/restapi.curlrc")).toBe('user = "patroni:Changed00000000000000000000000000"\n');
    expect(`${n.mode("/etc/pgha/restapi.curlrc")} ${n.owner("/etc/pgha/restapi.curlrc")}`).toBe("0600 postgres:postgres");
    // A file whose owner drifted is rewritten even though its content is the same.
    n.write("/etc/pgha/tls/ca.crt", n.read("/etc/pgha/tls/ca.crt"), 0o666);
    expect(n.run("pgha-secrets", ["fetch"]).status).toBe(0);
    expect(n.mode("/etc/pgha/tls/ca.crt")).toBe("0644");
    expect(n.leftInTmp()).toEqual([]);
    expect(n.list("/etc/patroni/config.d")).toEqual(["secrets.yml"]); // no temporary file left beside it
  });

  it("a file that cannot be written fails loudly, naming it — never reported as unchanged", () => {
    const n = db1();
    // chown to postgres fails (as when the postgres user does not exist yet).
    n.answer("chown", '[ "$1" != postgres:postgres ] || { echo "chown: invalid user: postgres:postgres" >&2; exit 1; }; STUB_FALLTHROUGH=1');
    const r = n.run("pgha-secrets", ["fetch"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("could not write");
    expect(r.stderr).not.toContain("secrets in place");
    expect(n.list("/etc/pgha/tls")).toEqual(["ca.crt", "node.crt"]); // stopped at node.key, no temporary file left
  });
});

describe("pgha-secrets fetch: restoreFrom's source passphrase", () => {
  const SOURCE = "postgres-ha/prod/orders/cluster";
  /** db1 of a stack with restoreFrom: node.env names the source's secret and its include directory. */
  function restoring(): FakeNode {
    const n = db1();
    const env = n.read(NODE_PATHS.nodeEnv);
    return n.write(NODE_PATHS.nodeEnv, `${env}PGHA_RESTORE_SOURCE_SECRET=${SOURCE}\nPGHA_RESTORE_SOURCE_STACK=prod\nPGHA_RESTORE_SOURCE_SECRETS_DIR=${NODE_PATHS.pgbackrestRestoreSourceSecretsDir}\n`);
  }
  const sourceFile = `${NODE_PATHS.pgbackrestRestoreSourceSecretsDir}/secrets.conf`;

  it("writes the source repository's passphrase into its own include directory, never beside this cluster's", () => {
    const n = restoring().secret(SOURCE, { ...CLUSTER_SECRET, repoCipherPass: "the-source-passphrase" });
    const r = n.run("pgha-secrets", ["fetch"]);
    expect(r.status).toBe(0);
    expect(n.read(sourceFile)).toBe("[global]\nrepo1-cipher-pass=the-source-passphrase\n");
    expect(`${n.mode(sourceFile)} ${n.owner(sourceFile)}`).toBe("0600 postgres:postgres");
    expect(n.read("/etc/pgbackrest/conf.d/secrets.conf")).toBe(`[global]\nrepo1-cipher-pass=${CLUSTER_SECRET.repoCipherPass}\n`);
    expect(n.calls("aws").map((c) => c[3])).toEqual([names().nodeSecret.db1, names().clusterSecret, SOURCE]);
    expect(JSON.stringify(n.calls())).not.toContain("the-source-passphrase");
  });

  it("a source secret it cannot read (the source stack gone) is named and does not stop the node's own secrets", () => {
    const n = restoring();
    const r = n.run("pgha-secrets", ["fetch"]);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain(`restoreFrom: the source's secret ${SOURCE} is not readable; a bootstrap from stack prod cannot read its repository`);
    expect(n.exists(sourceFile)).toBe(false);
    expect(n.exists("/etc/patroni/config.d/secrets.yml")).toBe(true);
    expect(n.calls("sleep")).toEqual([]);
  });
});

describe("pgha-secrets retries at first boot", () => {
  const sleeps = (n: FakeNode) => n.calls("sleep").map((c) => Number(c[0]));

  it("an endpoint failing twice is retried with a doubling delay, then succeeds", () => {
    const n = db1();
    n.answer("aws", 'if [ "$(stub_nth aws)" -le 2 ]; then echo "Could not connect to the endpoint URL" >&2; exit 255; fi; STUB_FALLTHROUGH=1');
    const r = n.run("pgha-secrets", ["fetch"]);
    expect(r.status).toBe(0);
    expect(sleeps(n)).toEqual([2, 4]);
    expect(r.stderr.match(/cannot read secret .*Could not connect to the endpoint URL/g)).toHaveLength(2);
    expect(n.exists("/etc/patroni/config.d/secrets.yml")).toBe(true);
  });

  it("gives up once it has waited PGHA_SECRETS_RETRY_SECONDS in all, backing off up to 30 s", () => {
    const n = db1().secret(names().nodeSecret.db1, undefined);
    const r = n.run("pgha-secrets", ["fetch"], { env: { PGHA_SECRETS_RETRY_SECONDS: "100" } });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("could not fetch this node's secrets");
    const waited = sleeps(n);
    expect(waited.reduce((a, b) => a + b, 0)).toBe(100);
    expect(waited).toEqual([2, 4, 8, 16, 30, 30, 10]);
    expect(n.calls("aws")).toHaveLength(waited.length + 1);
  });

  it("rotate and check try once (a timer or a person runs them again)", () => {
    for (const cmd of ["rotate", "check"]) {
      const n = db1().secret(names().clusterSecret, undefined);
      const r = n.run("pgha-secrets", [cmd]);
      expect([cmd, r.status]).toEqual([cmd, 1]);
      expect(n.calls("sleep")).toEqual([]);
    }
  });
});

describe("pgha-secrets lock", () => {
  const exited = (p: ChildProcess) => new Promise<number | null>((resolve) => p.on("exit", (code) => resolve(code)));
  const until = async (what: string, cond: () => boolean) => {
    const deadline = Date.now() + 30_000;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting: ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  /** A first run that holds the lock: its Secrets Manager call lasts until the test releases it. */
  async function firstRunHoldingTheLock(n: FakeNode) {
    n.answer("aws", 'until [ -f "$PGHA_TEST_DIR/release" ]; do "$PGHA_TEST_TOOLS/sleep" 0.05; done; STUB_FALLTHROUGH=1');
    const first = n.start("pgha-secrets", ["fetch"]);
    const done = exited(first);
    await until("the first run reaches Secrets Manager", () => n.calls("aws").length > 0);
    return { done, release: () => fs.writeFileSync(path.join(n.dir, "release"), "") };
  }

  it("a second run while one holds the lock fails with exit 3 after PGHA_LOCK_WAIT_SECONDS, fetching nothing", async () => {
    const n = db1();
    const first = await firstRunHoldingTheLock(n);
    const second = n.run("pgha-secrets", ["fetch"], { env: { PGHA_LOCK_WAIT_SECONDS: "1" } });
    expect(second.status).toBe(3);
    expect(second.stderr).toContain("another pgha-secrets run holds the lock for 1 s");
    expect(n.calls("aws")).toHaveLength(1); // the first run's only
    first.release();
    expect(await first.done).toBe(0);
  });

  it("a second run waits for the first to finish, then runs", async () => {
    const n = db1();
    const first = await firstRunHoldingTheLock(n);
    const second = n.start("pgha-secrets", ["fetch"], { env: { PGHA_LOCK_WAIT_SECONDS: "60" } });
    const secondDone = exited(second);
    let secondExited = false;
    void secondDone.then(() => (secondExited = true));
    await new Promise((r) => setTimeout(r, 1500));
    expect(secondExited).toBe(false);
    expect(n.calls("aws")).toHaveLength(1);
    first.release();
    expect(await first.done).toBe(0);
    expect(await secondDone).toBe(0);
    expect(n.calls("aws")).toHaveLength(4); // two secrets each
  });
});

describe("pgha-secrets rotate", () => {
  it("reloads nothing when nothing changed", () => {
    const n = db1();
    expect(n.run("pgha-secrets", ["fetch"]).status).toBe(0);
    n.clearCalls();
    expect(n.run("pgha-secrets", ["rotate"]).status).toBe(0);
    expect(n.calls("systemctl")).toEqual([]);
    expect(n.calls("runuser")).toEqual([]);
  });
  it("a re-issued certificate reloads PostgreSQL and Patroni on a PostgreSQL node, HAProxy on a load balancer", () => {
    const n = db1();
    expect(n.run("pgha-secrets", ["fetch"]).status).toBe(0);
    n.secret(names().nodeSecret.db1, nodeSecret("db1", { nodeCert: "-----BEGIN CERTIFICATE-----\nre-issued\n-----END CERTIFICATE-----" })).clearCalls();
    const r = n.run("pgha-secrets", ["rotate"]);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain("certificate material changed: reloading");
    expect(n.callLines("runuser")).toEqual(["runuser -u postgres -- psql -h /var/run/postgresql -qAtc select pg_reload_conf()"]);
    expect(n.calls("psql")).toHaveLength(1);
    // PgBouncer (pooler.enabled) too, when it runs: it re-reads its TLS files on SIGHUP.
    expect(n.callLines("systemctl")).toEqual(["systemctl reload patroni.service", "systemctl is-active -q pgbouncer.service", "systemctl is-active -q systemd-journal-upload.service", "systemctl is-active -q systemd-journal-remote.service"]);
    n.secret(names().nodeSecret.db1, nodeSecret("db1", { nodeCert: "-----BEGIN CERTIFICATE-----\nre-issued again\n-----END CERTIFICATE-----" })).clearCalls().unitActive("pgbouncer.service");
    expect(n.run("pgha-secrets", ["rotate"]).status).toBe(0);
    expect(n.callLines("systemctl")).toEqual(["systemctl reload patroni.service", "systemctl is-active -q pgbouncer.service", "systemctl reload pgbouncer.service", "systemctl is-active -q systemd-journal-upload.service", "systemctl is-active -q systemd-journal-remote.service"]);

    const lb = devSecrets(asDevNode(node(), "lb1"), "lb1");
    expect(lb.run("pgha-secrets", ["fetch"]).status).toBe(0);
    lb.secret(names().nodeSecret.lb1, nodeSecret("lb1", { statsUser: "pgha-stats", statsPassword: "Stats0000000000000000000000000000", caCert: "new CA" })).clearCalls();
    expect(lb.run("pgha-secrets", ["rotate"]).status).toBe(0);
    expect(lb.callLines("systemctl")).toEqual(["systemctl reload haproxy.service", "systemctl is-active -q systemd-journal-upload.service", "systemctl is-active -q systemd-journal-remote.service"]);
    expect(lb.read("/etc/pgha/tls/ca.crt")).toBe("new CA\n");
    // The log shipper holds its certificate from start: restarted when it runs (it has no reload).
    lb.secret(names().nodeSecret.lb1, nodeSecret("lb1", { statsUser: "pgha-stats", statsPassword: "Stats0000000000000000000000000000", caCert: "newer CA" })).clearCalls().unitActive("systemd-journal-upload.service");
    expect(lb.run("pgha-secrets", ["rotate"]).status).toBe(0);
    expect(lb.callLines("systemctl")).toEqual(["systemctl reload haproxy.service", "systemctl is-active -q systemd-journal-upload.service", "systemctl restart systemd-journal-upload.service", "systemctl is-active -q systemd-journal-remote.service"]);
  });
});

describe("pgha-secrets check and usage", () => {
  it("check validates and writes nothing", () => {
    const n = db1();
    const r = n.run("pgha-secrets", ["check"]);
    expect([r.status, r.stderr]).toEqual([0, expect.stringContaining("secrets of db1 (postgres) are complete")]);
    for (const f of POSTGRES_FILES) expect(n.exists(f)).toBe(false);
  });

  it("an unknown command prints the usage and exits 2, touching nothing", () => {
    const n = db1();
    const r = n.run("pgha-secrets", ["fetch-all"]);
    expect(r.status).toBe(2);
    expect(r.stdout).toContain("pgha-secrets fetch");
    expect(n.calls("aws")).toEqual([]);
  });

  it("a node without a bundle (no node.env) says so", () => {
    const r = node().run("pgha-secrets", ["fetch"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/etc\/pgha\/node.env is missing: this node has no postgres-ha bundle installed \(run pgha-node apply\)/);
  });
});

describe("pgha-secrets rotate: the cluster's own passwords (postgres.credentialsVersion)", () => {
  const ROTATED = {
    ...CLUSTER_SECRET,
    superuserPassword: "NewSuper000000000000000000000000",
    replicationPassword: "NewRepl0000000000000000000000000",
    rewindPassword: "NewRewind00000000000000000000000",
    restApiPassword: "NewRest0000000000000000000000000",
    credentialsVersion: 2,
  };
  const ROLES = ["postgres", "replicator", "rewind_user"];
  const helperRuns = (n: FakeNode) => (n.exists("/helper.argv") ? n.read("/helper.argv").trim().split("\n") : []);
  const helperStdin = (n: FakeNode, mode: string) => JSON.parse(n.read(`/helper.${mode}.stdin`));
  const env = (n: FakeNode, extra: Record<string, string> = {}) => ({ env: { PGHA_CREDENTIALS_HELPER: n.path("/opt/fake-credentials"), ...extra } });

  /**
   * db1 running the generation-1 passwords, Patroni up, the secret already at generation 2 and
   * the bundle asking for it. `leader`: GET /primary answers 200 (else /replica does).
   * `verified`: the roles whose new verifier the local pg_authid holds.
   */
  function rotating(leader: boolean, verified: string[]): FakeNode {
    const n = db1();
    expect(n.run("pgha-secrets", ["fetch"]).status).toBe(0);
    n.write("/etc/pgha/credentials.version", "2\n")
      .secret(names().clusterSecret, ROTATED)
      .unitActive("patroni.service")
      .http("GET", "/primary", "", leader ? 200 : 503)
      .http("GET", "/replica", "", leader ? 503 : 200)
      .write("/helper.set.answer", JSON.stringify({ ok: true, changes: ROLES.map((r) => `set the password of ${r} (SCRAM-SHA-256 verifier from the cluster secret)`), unchanged: 0 }))
      .write("/helper.verify.answer", JSON.stringify({ ok: true, verified: Object.fromEntries(ROLES.map((r) => [r, verified.includes(r)])) }))
      .clearCalls();
    const at = (f: string) => JSON.stringify(n.path(`/${f}`));
    n.write("/opt/fake-credentials", `#!/bin/bash\necho "$1 $2 $3" >> ${at("helper.argv")}\ncat > ${at("helper.")}"$1.stdin"\ncat ${at("helper.")}"$1.answer"\n`, 0o755);
    return n;
  }

  it("on the leader: sets the new verifiers first, then Patroni reloads with them — passwords on stdin only, never in arguments", () => {
    const n = rotating(true, ROLES);
    const r = n.run("pgha-secrets", ["rotate"], env(n));
    expect([r.status, r.stderr]).toEqual([0, expect.any(String)]);
    expect(helperRuns(n)).toEqual(["set /var/run/postgresql 5432", "verify /var/run/postgresql 5432"]);
    const wanted = { postgres: ROTATED.superuserPassword, replicator: ROTATED.replicationPassword, rewind_user: ROTATED.rewindPassword };
    expect(helperStdin(n, "set")).toEqual(wanted);
    expect(helperStdin(n, "verify")).toEqual(wanted);
    expect(n.calls("runuser").map((c) => c.slice(0, 3))).toEqual([["-u", "postgres", "--"], ["-u", "postgres", "--"]]);
    expect(r.stderr).toContain("set the password of replicator (SCRAM-SHA-256 verifier from the cluster secret)");
    expect(JSON.parse(n.read("/etc/patroni/config.d/secrets.yml"))).toEqual(patroniSecrets(ROTATED));
    expect(n.read("/etc/pgha/restapi.curlrc")).toBe(`user = "patroni:${ROTATED.restApiPassword}"\n`);
    expect(r.stderr).toContain("the cluster's passwords changed: reloading Patroni");
    expect(n.callLines("systemctl")).toEqual(["systemctl is-active -q patroni.service", "systemctl reload patroni.service"]);
    expect(JSON.stringify(n.calls())).not.toContain(ROTATED.replicationPassword);
  });

  it("on a replica before the leader has them: keeps the database passwords in use (pending), adopts the REST API one", () => {
    const n = rotating(false, []);
    const r = n.run("pgha-secrets", ["rotate"], env(n));
    expect(r.status).toBe(0);
    expect(helperRuns(n)).toEqual(["verify /var/run/postgresql 5432"]); // never "set" on a replica
    expect(r.stderr).toContain("pending: the new password of postgres, replicator, rewind_user is not on the leader yet");
    expect(JSON.parse(n.read("/etc/patroni/config.d/secrets.yml"))).toEqual(patroniSecrets({ ...CLUSTER_SECRET, restApiPassword: ROTATED.restApiPassword }));
    expect(n.callLines("systemctl")).toEqual(["systemctl is-active -q patroni.service", "systemctl reload patroni.service"]);
  });

  it("on a replica once the verifiers replayed: adopts what verifies; --wait fails naming what did not arrive in time", () => {
    const n = rotating(false, ["postgres", "replicator", "rewind_user"]);
    expect(n.run("pgha-secrets", ["rotate", "--wait", "60"], env(n)).status).toBe(0);
    expect(JSON.parse(n.read("/etc/patroni/config.d/secrets.yml"))).toEqual(patroniSecrets(ROTATED));
    expect(n.calls("sleep")).toEqual([]);

    const late = rotating(false, ["postgres"]);
    const r = late.run("pgha-secrets", ["rotate", "--wait", "5"], env(late));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("the leader's new password of replicator, rewind_user has not reached this member in 5 s: kept the one in use");
    expect(late.calls("sleep").length).toBeGreaterThanOrEqual(1); // it polled before giving up
    expect(JSON.parse(late.read("/etc/patroni/config.d/secrets.yml"))).toEqual(patroniSecrets(CLUSTER_SECRET)); // nothing written
  });

  it("with no running PostgreSQL (stopped, rebuilding): adopts the secret's passwords, Patroni starts with them", () => {
    const n = rotating(false, []).http("GET", "/replica", "", 503);
    expect(n.run("pgha-secrets", ["rotate"], env(n)).status).toBe(0);
    expect(helperRuns(n)).toEqual([]);
    expect(JSON.parse(n.read("/etc/patroni/config.d/secrets.yml"))).toEqual(patroniSecrets(ROTATED));
  });

  it("a secret still at an older generation than the bundle asks for fails and writes nothing", () => {
    const n = rotating(true, ROLES).write("/etc/pgha/credentials.version", "3\n");
    const r = n.run("pgha-secrets", ["rotate"], env(n));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("holds credentials version 2, this node's bundle wants 3: run again once it holds it");
    expect(helperRuns(n)).toEqual([]);
    expect(JSON.parse(n.read("/etc/patroni/config.d/secrets.yml"))).toEqual(patroniSecrets(CLUSTER_SECRET));
  });

  it("--wait takes a number of seconds, and only with rotate", () => {
    const n = db1();
    for (const args of [["rotate", "--wait"], ["rotate", "--wait", "soon"], ["fetch", "--wait", "5"]]) expect([args, n.run("pgha-secrets", args).status]).toEqual([args, 2]);
  });
});

describe("pgha-secrets names what the render path names", () => {
  it("Patroni's config directory and the cluster's database roles are the ones src/ defines", () => {
    const script = fs.readFileSync(path.join(__dirname, "../../../node-software/usr/local/sbin/pgha-secrets"), "utf8");
    expect(script).toContain(`PATRONI_CONFIG_DIR=${NODE_PATHS.patroniConfigDir} `);
    expect(script).toContain(`DB_SUPERUSER=${DB_USERS.superuser} DB_REPLICATION=${DB_USERS.replication} DB_REWIND=${DB_USERS.rewind}\n`);
  });
});
