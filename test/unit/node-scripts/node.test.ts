// pgha-node against a fake S3 holding bundles packed by the project's own code
// (src/bundle/format.ts, src/render/software.ts): verification, install with the manifest's
// mode and owner, removals, reload actions once each in a fixed order, pending restarts,
// retried actions, status, first boot, software upgrades, the lock.
import * as fs from "fs";
import * as path from "path";
import { fakeNodes, SOFTWARE_DIR, type FakeNode } from "./harness";
import {
  asDevNode, bootstrapEnv, dev, devBundlesUri, devSecrets, nodeEnvValue, softwareInstalled, otherSoftware, packBundle, packed, publish, renderedBundle, renderedFile,
  type TestBundle,
} from "./fixtures";
import { nodeSoftware } from "../../../src/render/software";
import type { PackedFile } from "../../../src/bundle/format";

jest.setTimeout(180_000); // real processes: seconds each on a busy machine
const node = fakeNodes();

const NODE_ENV = () => packed("/etc/pgha/node.env", renderedFile("db1", "/etc/pgha/node.env"));

/** Files with every kind of change action (a test bundle; real bundles never mix roles like this). */
function everyAction(version = "1"): PackedFile[] {
  return [
    NODE_ENV(),
    packed("/etc/pgha/hosts", `10.20.0.10 db1 # v${version}\n`, ["hosts"]),
    packed("/etc/systemd/system/pgha-test.service", `[Unit]\nDescription=v${version}\n`, ["systemd"]),
    packed("/etc/systemd/system/pgha-secrets-rotate.timer", `[Timer]\n# v${version}\n`, ["systemd", "timers"]),
    packed("/etc/cron.d/pgha-backup", `0 1 * * * postgres /usr/local/sbin/pgha-backup full # v${version}\n`, ["cron"]),
    packed("/etc/haproxy/pgha.cfg", `global # v${version}\n`, ["haproxy-reload"]),
    packed("/etc/patroni/config.d/config.yml", `scope: main # v${version}\n`, ["patroni-reload"], "0640", "postgres:postgres"),
    packed("/etc/patroni/dynamic.json", JSON.stringify({ loop_wait: 10, version }) + "\n", ["patroni-dynamic"]),
    packed("/etc/pgha/access.json", JSON.stringify({ marker: "managed by postgres-ha", databases: [], roles: [], absentRoles: [], version }) + "\n", ["access"]),
    packed("/etc/systemd/system/patroni.service.d/pgha.conf", `[Service]\n# v${version}\n`, ["systemd", "patroni-restart"]),
    packed("/etc/etcd/pgha-etcd.yml", `name: x # v${version}\n`, ["etcd-restart"]),
    packed("/etc/systemd/system/haproxy.service.d/pgha.conf", `[Service]\n# v${version}\n`, ["systemd", "haproxy-restart"]),
  ];
}

/** db1 after its bootstrap (node software installed), HAProxy and Patroni running, Patroni's REST API answering. */
function db1(): FakeNode {
  const n = softwareInstalled(bootstrapEnv(node().awsEnv(), "db1"));
  n.unitActive("haproxy.service").unitActive("patroni.service");
  n.write("/etc/haproxy/secrets.env", "PGHA_STATS_USER=pgha-stats\nPGHA_STATS_PASSWORD=x\n", 0o600);
  n.write("/etc/pgha/restapi.curlrc", 'user = "patroni:x"\n', 0o600);
  n.http("GET", "/patroni", { state: "running", role: "primary" });
  n.http("GET", "/config", { loop_wait: 10 });
  n.http("PUT", "/config", { loop_wait: 10 });
  return n;
}

const state = (n: FakeNode, f: string) => n.read(`/var/lib/pgha/node/${f}`);
const json = (text: string) => JSON.parse(text);
const db1Bundle = (files: PackedFile[], identity: { node?: string; cluster?: string } = {}) => packBundle({ node: "db1", ...identity }, files);

function apply(n: FakeNode, bundle: TestBundle | string, ...args: string[]) {
  const r = n.run("pgha-node", ["apply", typeof bundle === "string" ? bundle : bundle.hash, "--json", ...args]);
  let report: any;
  try {
    report = JSON.parse(r.stdout);
  } catch {
    report = undefined;
  }
  return { ...r, report };
}

describe("pgha-node apply: what it refuses (exit 4, nothing changed)", () => {
  it("a bundle whose bytes do not match its hash", () => {
    const n = db1();
    const b = db1Bundle(everyAction());
    publish(n, "db1", b);
    const altered = Buffer.from(b.archive);
    altered[altered.indexOf("v1")] = "w".charCodeAt(0);
    n.s3(`${devBundlesUri()}/nodes/db1/${b.hash}.tar`, altered);
    const r = apply(n, b);
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(new RegExp(`refused: bundle .*/nodes/db1/${b.hash}\\.tar has sha256 [0-9a-f]{64} — it was altered or damaged; nothing was changed`));
    expect(n.exists("/etc/pgha/node.env")).toBe(false);
    expect(n.list("/etc/patroni")).toEqual([]);
    expect(n.exists("/var/lib/pgha/node/applied")).toBe(false);
    expect(n.calls("systemctl").filter((c) => c[0] !== "show")).toEqual([]);
  });

  it("a bundle made for another node or another cluster", () => {
    for (const [identity, message] of [
      [{ node: "db2" }, "is for node db2, this is db1"],
      [{ cluster: "other" }, "is for cluster other, this node belongs to main"],
    ] as const) {
      const n = db1();
      const b = db1Bundle(everyAction(), identity);
      publish(n, "db1", b);
      const r = apply(n, b);
      expect([r.status, r.stderr]).toEqual([4, expect.stringContaining(`refused: bundle ${b.hash} ${message}; nothing was changed`)]);
      expect(n.exists("/etc/pgha/node.env")).toBe(false);
      expect(n.exists("/var/lib/pgha/node/applied")).toBe(false);
    }
  });

  it("node software that does not match its hash", () => {
    const n = db1();
    fs.rmSync(n.path("/var/lib/pgha/node/software")); // not installed yet: it must be fetched
    const b = db1Bundle(everyAction());
    publish(n, "db1", b);
    n.s3(`${devBundlesUri()}/software/${nodeSoftware().sha256}.tar`, Buffer.concat([nodeSoftware().tar, Buffer.from("x")]));
    const r = apply(n, b);
    expect([r.status, r.stderr]).toEqual([4, expect.stringContaining(`refused: node software ${nodeSoftware().sha256}.tar has another sha256; nothing was changed`)]);
    expect(n.exists("/etc/pgha/node.env")).toBe(false);
  });

  it("something that is not a bundle hash (usage, exit 2)", () => {
    const r = db1().run("pgha-node", ["apply", "latest"]);
    expect([r.status, r.stderr]).toEqual([2, expect.stringContaining("'latest' is not a bundle hash (64 hex digits)")]);
  });
});

describe("pgha-node apply: converge", () => {
  it("installs every file with the manifest's mode and owner, runs each action once in the fixed order, records restarts as pending", () => {
    const n = db1();
    const b = db1Bundle(everyAction());
    publish(n, "db1", b);
    const r = apply(n, b);
    expect(r.stderr).not.toMatch(/FAILED|failed/);
    expect(r.status).toBe(0);
    for (const f of b.manifest.files) {
      expect(`${f.path} ${n.read(f.path).length > 0} ${n.mode(f.path)} ${n.owner(f.path)}`).toBe(`${f.path} true ${f.mode} ${f.owner}`);
    }
    expect(n.read("/etc/patroni/config.d/config.yml")).toBe("scope: main # v1\n");
    expect(r.report).toMatchObject({
      node: "db1",
      role: "postgres",
      ok: true,
      oldHash: null,
      newHash: b.hash,
      softwareInstalled: null, // the bootstrap installed it
      changed: b.manifest.files.map((f) => f.path),
      removed: [],
      actions: ["hosts", "systemd-daemon-reload", "timers", "cron", "haproxy-reload", "patroni-reload", "patroni-dynamic", "access"],
    });
    // pgha-access asked Patroni whether this member leads (the fake says it does not: nothing applied).
    expect(r.stderr).toContain("db1 is not the leader (GET /primary: ");
    expect(r.report.pendingRestart).toEqual([
      { service: "etcd", reason: "etcd reads its configuration only at start" },
      { service: "haproxy", reason: "the haproxy unit's environment changed" },
      { service: "patroni", reason: "the patroni unit changed (restarting Patroni restarts PostgreSQL)" },
    ]);
    // The calls themselves, in order; never a restart of PostgreSQL, Patroni, etcd or HAProxy.
    const actions = n.calls().filter((c) => ["systemctl", "haproxy"].includes(c[0]) && !(c[1] === "show" || c[1] === "is-active")).map((c) => c.join(" "));
    expect(actions).toEqual([
      "systemctl daemon-reload",
      "systemctl enable pgha-secrets-rotate.timer",
      "systemctl restart pgha-secrets-rotate.timer",
      "systemctl enable pgha-access.timer",
      "systemctl restart pgha-access.timer",
      `haproxy -c -q -f ${n.path("/etc/haproxy/pgha.cfg")}`,
      "systemctl reload haproxy.service",
      "systemctl reload patroni.service",
    ]);
    expect(json(n.httpRequest("PUT", "/config")!)).toEqual({ loop_wait: 10, version: "1" });
    expect(n.read("/etc/hosts")).toContain("# BEGIN postgres-ha\n10.20.0.10 db1 # v1\n# END postgres-ha\n");
    expect(state(n, "applied")).toBe(b.hash + "\n");
    expect(n.exists("/var/lib/pgha/node/actions-pending")).toBe(false);
    expect(n.leftInTmp()).toEqual([]);
  });

  it("a second bundle: only what changed is installed, dropped files are removed, only their actions run; the same bundle again does nothing", () => {
    const n = db1();
    const a = db1Bundle(everyAction());
    publish(n, "db1", a);
    expect(apply(n, a).status).toBe(0);
    const untouched = n.inode("/etc/patroni/config.d/config.yml");

    const files = everyAction().filter((f) => f.path !== "/etc/etcd/pgha-etcd.yml").map((f) => (f.path === "/etc/cron.d/pgha-backup" ? { ...f, content: "0 2 * * * postgres /usr/local/sbin/pgha-backup full\n" } : f));
    const b = db1Bundle(files);
    publish(n, "db1", b);
    n.clearCalls();
    const r = apply(n, b);
    expect(r.status).toBe(0);
    expect(r.report).toMatchObject({ oldHash: a.hash, newHash: b.hash, changed: ["/etc/cron.d/pgha-backup"], removed: ["/etc/etcd/pgha-etcd.yml"], actions: ["cron"] });
    expect(n.exists("/etc/etcd/pgha-etcd.yml")).toBe(false);
    expect(n.read("/etc/cron.d/pgha-backup")).toContain("0 2 * * *");
    expect(n.inode("/etc/patroni/config.d/config.yml")).toBe(untouched);
    expect(n.calls("systemctl").filter((c) => c[0] !== "show" && c[0] !== "is-active")).toEqual([]);
    expect(n.calls("aws").map((c) => c[3])).toEqual([`${devBundlesUri()}/nodes/db1/${b.hash}.tar`]); // the installed software is not fetched

    n.clearCalls();
    const again = apply(n, b);
    expect(again.status).toBe(0);
    expect(again.report).toMatchObject({ ok: true, changed: [], actions: [], message: `bundle ${b.hash.slice(0, 12)} already applied; nothing to do` });
    expect(n.calls("aws")).toEqual([]);
  });

  it("a file whose mode or owner drifted is installed again, though its content is the same", () => {
    const n = db1();
    const a = db1Bundle(everyAction());
    publish(n, "db1", a);
    expect(apply(n, a).status).toBe(0);
    fs.chmodSync(n.path("/etc/patroni/config.d/config.yml"), 0o644);
    const b = db1Bundle([...everyAction(), packed("/etc/pgha/extra", "x\n")]);
    publish(n, "db1", b);
    const r = apply(n, b);
    expect(r.report.changed).toEqual(["/etc/patroni/config.d/config.yml", "/etc/pgha/extra"]);
    expect(r.report.actions).toEqual(["patroni-reload"]);
    expect(n.mode("/etc/patroni/config.d/config.yml")).toBe("0640");
  });

  it("reloads are skipped for services that are not running (they read the new files when they start)", () => {
    const n = db1();
    fs.rmSync(path.join(n.dir, "systemd/active"), { recursive: true });
    const b = db1Bundle(everyAction());
    publish(n, "db1", b);
    const r = apply(n, b);
    expect(r.status).toBe(0);
    expect(r.report.actions).toEqual(["hosts", "systemd-daemon-reload", "timers", "cron"]);
    expect(n.calls("haproxy")).toEqual([]);
    expect(n.httpRequest("PUT", "/config")).toBeUndefined();
  });

  it("reads the desired bundle from desired.json when no hash is given", () => {
    const n = db1();
    const b = db1Bundle(everyAction());
    publish(n, "db1", b);
    const r = n.run("pgha-node", ["apply", "--json"]);
    expect(r.status).toBe(0);
    expect(json(r.stdout).newHash).toBe(b.hash);
    expect(n.leftInTmp()).toEqual([]);
  });
});

describe("pgha-node: pending restarts and failed actions", () => {
  it("a pending restart is cleared once the service has started since; Patroni's own pending restart is reported", () => {
    const n = db1();
    const b = db1Bundle(everyAction());
    publish(n, "db1", b);
    expect(apply(n, b).status).toBe(0);
    const status = () => json(n.run("pgha-node", ["status", "--json"]).stdout);
    expect(status().pendingRestart.map((p: any) => p.service)).toEqual(["etcd", "haproxy", "patroni"]);
    n.unitActive("patroni.service", "Fri 2100-01-01 00:00:00 UTC"); // restarted after the apply
    expect(status().pendingRestart.map((p: any) => p.service)).toEqual(["etcd", "haproxy"]);
    expect(json(state(n, "pending.json")).map((p: any) => p.service)).toEqual(["etcd", "haproxy"]);
    n.http("GET", "/patroni", { state: "running", role: "primary", pending_restart: true, pending_restart_reason: { shared_buffers: {}, max_connections: {} } });
    expect(status().pendingRestart).toContainEqual({ service: "postgresql", reason: "Patroni: max_connections, shared_buffers" });
  });

  it("a failing action fails the apply (exit 1, files kept), and the next apply retries it", () => {
    const n = db1();
    const a = db1Bundle(everyAction());
    publish(n, "db1", a);
    expect(apply(n, a).status).toBe(0);
    const b = db1Bundle(everyAction("2").map((f) => (f.onChange.includes("haproxy-reload") || f.path.endsWith("node.env") ? f : everyAction().find((x) => x.path === f.path)!)));
    publish(n, "db1", b);
    n.answer("haproxy", 'echo "[ALERT] parsing [pgha.cfg:1]: unknown keyword" >&2; exit 1').clearCalls();
    const r = apply(n, b);
    expect(r.status).toBe(1);
    expect(r.report).toMatchObject({ ok: false, changed: ["/etc/haproxy/pgha.cfg"], actions: [] });
    expect(r.report.message).toContain("installed but the new HAProxy configuration does not pass haproxy -c; HAProxy keeps running the old one failed; pgha-node apply retries it");
    expect(n.read("/etc/haproxy/pgha.cfg")).toBe("global # v2\n");
    expect(n.callLines("systemctl")).not.toContain("systemctl reload haproxy.service");
    const s = json(n.run("pgha-node", ["status", "--json"]).stdout);
    expect(s).toMatchObject({ appliedHash: a.hash, desiredHash: b.hash, actionsToRetry: ["haproxy-reload"], lastApply: { ok: false, hash: b.hash } });

    fs.rmSync(path.join(n.dir, "answers/haproxy"));
    n.clearCalls();
    const retry = apply(n, b);
    expect(retry.status).toBe(0);
    expect(retry.report).toMatchObject({ ok: true, changed: [], actions: ["haproxy-reload"] });
    expect(n.callLines("systemctl")).toContain("systemctl reload haproxy.service");
    expect(json(n.run("pgha-node", ["status", "--json"]).stdout)).toMatchObject({ appliedHash: b.hash, actionsToRetry: [], lastApply: { ok: true } });
  });
});

describe("pgha-node: a failed step stops the ones after it", () => {
  it("a failing daemon-reload runs no reload after it; the next apply runs them all", () => {
    const n = db1().unitFails("daemon-reload");
    const b = db1Bundle(everyAction());
    publish(n, "db1", b);
    const r = apply(n, b);
    expect(r.status).toBe(1);
    expect(r.report).toMatchObject({ ok: false, actions: ["hosts"] });
    expect(r.report.message).toContain("installed but systemctl daemon-reload failed; pgha-node apply retries it");
    expect(n.calls("haproxy")).toEqual([]);
    fs.rmSync(path.join(n.dir, "systemd/fail"), { recursive: true });
    const retry = apply(n, b);
    expect(retry.report).toMatchObject({ ok: true, changed: [], actions: ["hosts", "systemd-daemon-reload", "timers", "cron", "haproxy-reload", "patroni-reload", "patroni-dynamic", "access"] });
  });
});

describe("pgha-node status", () => {
  it("--json on a node that never applied: no hashes, no last apply; the desired one when S3 answers", () => {
    const n = db1();
    const s = json(n.run("pgha-node", ["status", "--json"]).stdout);
    expect(s).toEqual({ node: "db1", role: "", appliedHash: null, desiredHash: null, software: nodeSoftware().sha256, pendingRestart: [], lastApply: null, actionsToRetry: [] });
    const b = db1Bundle(everyAction());
    publish(n, "db1", b);
    expect(json(n.run("pgha-node", ["status", "--json"]).stdout).desiredHash).toBe(b.hash);
    const text = n.run("pgha-node", ["status"]);
    expect(text.stdout).toContain(`desired   ${b.hash}   ← run: pgha-node apply`);
    expect(text.stdout).toContain("last apply  never");
    expect(n.leftInTmp()).toEqual([]);
  });

  it("--json after an apply: applied, desired, software, last apply, pending restarts", () => {
    const n = db1();
    const b = db1Bundle(everyAction());
    publish(n, "db1", b);
    expect(apply(n, b).status).toBe(0);
    const s = json(n.run("pgha-node", ["status", "--json"]).stdout);
    expect(s).toMatchObject({
      node: "db1",
      role: "postgres",
      appliedHash: b.hash,
      desiredHash: b.hash,
      software: nodeSoftware().sha256,
      actionsToRetry: [],
      lastApply: { ok: true, hash: b.hash, message: expect.stringContaining(`${b.hash.slice(0, 12)} applied: ${b.manifest.files.length} file(s) changed, 0 removed`) },
    });
    expect(Date.parse(s.lastApply.at)).toBeGreaterThan(Date.now() - 600_000);
    expect(s.pendingRestart).toHaveLength(3);
  });
});

describe("pgha-node: first boot and node software", () => {
  it("--first-boot installs a rendered bundle and runs pgha-setup instead of the reload actions", () => {
    const n = softwareInstalled(devSecrets(bootstrapEnv(node().awsEnv(), "etcd1"), "etcd1"));
    n.http("GET", new URL(nodeEnvValue("etcd1", "PGHA_SSM_AGENT_URL")).pathname, "a .deb");
    const b = renderedBundle("etcd1");
    publish(n, "etcd1", b);
    const r = n.run("pgha-node", ["apply", b.hash, "--first-boot", "--json"]);
    expect(r.stderr).toContain("done: etcd1 (etcd) in main/dev");
    expect(r.status).toBe(0);
    expect(json(r.stdout)).toMatchObject({ ok: true, actions: ["setup"], newHash: b.hash });
    expect(n.read("/etc/etcd/pgha-etcd.yml")).toBe(b.files.find((f) => f.path === "/etc/etcd/pgha-etcd.yml")!.content);
    expect(n.callLines("systemctl")).toEqual(expect.arrayContaining(["systemctl --no-reload enable etcd.service", "systemctl start --no-block etcd.service"]));
    expect(n.callLines("systemctl")).not.toContain("systemctl restart pgha-secrets-rotate.timer");
    expect(state(n, "applied")).toBe(b.hash + "\n");
  });

  it("a first boot whose setup fails is not recorded as applied, and says what to run", () => {
    const n = softwareInstalled(bootstrapEnv(node().awsEnv(), "etcd1")); // no secrets in Secrets Manager
    const b = renderedBundle("etcd1");
    publish(n, "etcd1", b);
    const r = n.run("pgha-node", ["apply", b.hash, "--first-boot", "--json"], { env: { PGHA_SECRETS_RETRY_SECONDS: "0" } });
    expect(r.status).toBe(1);
    expect(json(r.stdout).message).toContain(`pgha-setup failed (journalctl -t pgha-setup); run: pgha-node apply ${b.hash} --first-boot`);
    expect(n.exists("/var/lib/pgha/node/applied")).toBe(false);
  });

  it("node software named by a bundle is installed when it is not the installed one", () => {
    const n = db1();
    fs.rmSync(n.path("/var/lib/pgha/node"), { recursive: true });
    n.write("/usr/local/sbin/pgha-backup", "#!/bin/bash\n# damaged\n", 0o644);
    fs.rmSync(n.path("/usr/local/sbin/pgha-restore"));
    const a = db1Bundle(everyAction());
    publish(n, "db1", a);
    const r = apply(n, a);
    expect(r.status).toBe(0);
    expect(r.report.softwareInstalled).toBe(nodeSoftware().sha256);
    for (const f of nodeSoftware().files) {
      expect(`${f.path} ${n.mode(f.path)} ${n.owner(f.path)}`).toBe(`${f.path} ${f.mode} root:root`);
      expect(n.read(f.path)).toBe(fs.readFileSync(path.join(SOFTWARE_DIR, f.path), "utf8"));
    }
    expect(state(n, "software")).toBe(nodeSoftware().sha256 + "\n");
  });

  it("new node software replaces the old files and removes the ones it no longer has", () => {
    const n = db1();
    const a = db1Bundle(everyAction());
    publish(n, "db1", a);
    expect(apply(n, a).status).toBe(0);
    expect(state(n, "software.files").split("\n")).toContain("/usr/local/bin/pgha-patronictl");

    const sw = otherSoftware({ drop: ["/usr/local/bin/pgha-patronictl"], add: { "/usr/local/lib/pgha/exporter.sh": "# shellcheck shell=bash\n" } });
    const b = packBundle({ node: "db1", software: sw }, everyAction());
    publish(n, "db1", b);
    const r = apply(n, b);
    expect(r.status).toBe(0);
    expect(r.report.softwareInstalled).toBe(sw.sha256);
    expect(n.exists("/usr/local/bin/pgha-patronictl")).toBe(false);
    expect(n.read("/usr/local/lib/pgha/exporter.sh")).toBe("# shellcheck shell=bash\n");
    expect(n.mode("/usr/local/sbin/pgha-node")).toBe("0755");
    expect(state(n, "software")).toBe(sw.sha256 + "\n");
    expect(state(n, "software.files").split("\n")).not.toContain("/usr/local/bin/pgha-patronictl");
  });
});

describe("pgha-node diff, check, lock", () => {
  it("diff lists the files apply would change with their actions, and changes nothing", () => {
    const n = db1();
    const a = db1Bundle(everyAction());
    publish(n, "db1", a);
    expect(apply(n, a).status).toBe(0);
    const b = db1Bundle(everyAction().filter((f) => f.path !== "/etc/etcd/pgha-etcd.yml").map((f) => (f.path === "/etc/haproxy/pgha.cfg" ? { ...f, content: "global # v9\n" } : f)));
    publish(n, "db1", b);
    n.clearCalls();
    const r = n.run("pgha-node", ["diff", b.hash]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("~ /etc/haproxy/pgha.cfg  (haproxy-reload)");
    expect(r.stdout).toContain("    -global # v1\n    +global # v9");
    expect(r.stdout).toContain("- /etc/etcd/pgha-etcd.yml  (etcd-restart)");
    expect(r.stdout).toContain(`db1: 2 file(s) differ from bundle ${b.hash.slice(0, 12)}`);
    expect(n.read("/etc/haproxy/pgha.cfg")).toBe("global # v1\n");
    expect(n.calls("systemctl").filter((c) => c[0] !== "show")).toEqual([]);
  });

  it("check: a PostgreSQL member is healthy when running and leading or streaming, and says why not", () => {
    const n = asDevNode(db1(), "db1");
    expect(n.run("pgha-node", ["check"]).stdout).toBe("db1: healthy\n");
    n.http("GET", "/patroni", { state: "running", role: "replica", replication_state: "streaming" });
    expect(n.run("pgha-node", ["check"]).status).toBe(0);
    n.http("GET", "/patroni", { state: "starting", role: "replica" });
    const r = n.run("pgha-node", ["check", "--wait", "4"]);
    expect([r.status, r.stderr]).toEqual([1, "db1: not healthy: PostgreSQL is replica / starting / not streaming\n"]);
    expect(n.calls("sleep")).toEqual([["2"], ["2"]]);
    fs.rmSync(path.join(n.dir, "http/GET/patroni"));
    expect(n.run("pgha-node", ["check"]).stderr).toBe("db1: not healthy: Patroni's REST API does not answer\n");
  });

  it("check: an etcd member asks etcdctl over TLS; an HAProxy node needs a primary server UP", () => {
    const e = asDevNode(bootstrapEnv(node(), "etcd1"), "etcd1");
    const address = nodeEnvValue("etcd1", "PGHA_ADDRESS");
    expect(e.run("pgha-node", ["check"]).status).toBe(0);
    expect(e.calls("etcdctl")).toEqual([[
      `--endpoints=https://${address}:2379`, `--cacert=${e.path("/etc/pgha/tls/ca.crt")}`, `--cert=${e.path("/etc/pgha/tls/node.crt")}`,
      `--key=${e.path("/etc/pgha/tls/node.key")}`, "--command-timeout=3s", "endpoint", "health",
    ]]);
    e.answer("etcdctl", "exit 1");
    expect(e.run("pgha-node", ["check"]).stderr).toBe(`etcd1: not healthy: etcd on ${address} is not healthy\n`);

    const lb = asDevNode(bootstrapEnv(node(), "lb1"), "lb1").unitActive("haproxy.service");
    lb.write("/etc/haproxy/secrets.env", "PGHA_STATS_USER=pgha-stats\nPGHA_STATS_PASSWORD=x\n", 0o600);
    const csv = (status: string) => `# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status\nprimary,FRONTEND,,,0,0,0,0,0,0,0,0,0,,,,,OPEN\nprimary,db1,0,0,0,0,,0,0,0,,0,,0,0,0,0,${status}\nprimary,BACKEND,0,0,0,0,0,0,0,0,0,0,,0,0,0,0,UP\n`;
    lb.http("GET", "/;csv", csv("UP"));
    expect(lb.run("pgha-node", ["check"]).stdout).toBe("lb1: healthy\n");
    lb.http("GET", "/;csv", csv("DOWN"));
    expect(lb.run("pgha-node", ["check"]).stderr).toBe("lb1: not healthy: HAProxy sees no leader (no server UP in backend primary)\n");
  });

  it("a second apply while one holds the lock exits 3 and changes nothing", async () => {
    const n = db1();
    const b = db1Bundle(everyAction());
    publish(n, "db1", b);
    const lock = await n.holdLock("/run/lock/pgha-node.lock");
    try {
      const r = n.run("pgha-node", ["apply", b.hash], { env: { PGHA_LOCK_WAIT_SECONDS: "1" } });
      expect([r.status, r.stderr]).toEqual([3, expect.stringContaining("another pgha-node apply holds the lock for 1 s")]);
      expect(n.exists("/etc/pgha/node.env")).toBe(false);
    } finally {
      await lock.release();
    }
  });

  it("without bootstrap.env it names what is missing", () => {
    const r = node().run("pgha-node", ["status"]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("names no node (PGHA_NODE)");
  });
});

describe("pgha-node leave: a member leaves the cluster before its instance goes", () => {
  // db1 is a replica; db2 leads. The fake network answers by URL path, so every member's REST
  // API gives the same view: after Patroni stops here, db1 is no longer in it.
  function replica(): FakeNode {
    const n = db1().write("/etc/pgha/node.env", renderedFile("db1", "/etc/pgha/node.env"));
    n.http("GET", "/patroni", { state: "running", role: "replica" });
    n.http("GET", "/cluster", { members: [{ name: "db1", role: "quorum_standby", state: "streaming", api_url: "https://10.20.1.11:8008/patroni" }, { name: "db2", role: "leader", state: "running", api_url: "https://10.20.2.12:8008/patroni" }] });
    n.http("GET", "/config", { loop_wait: 4, ttl: 20, member_slots_ttl: "45min" });
    n.http("PATCH", "/config", {});
    return n;
  }

  it("--stay (its instance is replaced): stops Patroni and nothing else; the slot and member key stay for the new instance", () => {
    const n = replica();
    const r = n.run("pgha-node", ["leave", "--stay", "--json"]);
    expect([r.status, r.stderr]).toEqual([0, expect.any(String)]);
    expect(json(r.stdout)).toMatchObject({ node: "db1", stay: true, handedOver: null, outOfDcs: false, slotDropRequested: false });
    expect(n.callLines("systemctl")).toContain("systemctl stop patroni.service");
    expect(n.calls("curl").some((c) => c.includes("PATCH"))).toBe(false);
  });

  it("leaving the stack: Patroni stopped, out of the DCS, then member_slots_ttl 0 on the leader for two of its loops and back to its value", () => {
    const n = replica();
    // Stopping Patroni here takes db1 out of the view every member answers.
    const after = path.join(n.dir, "cluster-after-stop.json");
    fs.writeFileSync(after, JSON.stringify({ members: [{ name: "db2", role: "leader", state: "running", api_url: "https://10.20.2.12:8008/patroni" }] }));
    fs.mkdirSync(path.join(n.dir, "systemd/on"), { recursive: true });
    fs.writeFileSync(path.join(n.dir, "systemd/on/stop patroni.service"), `cp ${after} ${path.join(n.dir, "http/GET/cluster")}\n`);
    const r = n.run("pgha-node", ["leave", "--json"]);
    expect([r.status, r.stderr]).toEqual([0, expect.any(String)]);
    expect(json(r.stdout)).toMatchObject({ node: "db1", stay: false, handedOver: null, outOfDcs: true, slotDropRequested: true });
    expect(n.callLines("systemctl")).toContain("systemctl stop patroni.service");
    const patches = n.calls("curl").filter((c) => c.includes("PATCH")).map((c) => c[c.indexOf("--data-binary") + 1]);
    expect(patches).toEqual(['{"member_slots_ttl": 0}', '{"member_slots_ttl":"45min"}']);
    // The leader's URL, not this node's.
    expect(n.calls("curl").filter((c) => c.includes("PATCH")).every((c) => c[c.length - 1] === "https://10.20.2.12:8008/config")).toBe(true);
    // Two of the leader's loops (loop_wait 4) and a little.
    expect(n.callLines("sleep")).toContain("sleep 10");
  });

  it("refuses on a node that is not a PostgreSQL member", () => {
    const n = softwareInstalled(bootstrapEnv(node().awsEnv(), "etcd1")).write("/etc/pgha/node.env", renderedFile("etcd1", "/etc/pgha/node.env"));
    const r = n.run("pgha-node", ["leave"]);
    expect([r.status, r.stderr]).toEqual([2, expect.stringContaining("leave runs on a PostgreSQL node, etcd1 is etcd")]);
  });
});

describe("pgha-etcd handover: an etcd leader hands its leadership over before its host goes", () => {
  function etcd1(leads: boolean): FakeNode {
    const n = softwareInstalled(asDevNode(bootstrapEnv(node(), "etcd1"), "etcd1"));
    n.write("/etc/etcd/pgha-etcd-members", renderedFile("etcd1", "/etc/etcd/pgha-etcd-members"));
    const me = nodeEnvValue("etcd1", "PGHA_ADDRESS");
    // etcd1 (aaaa), etcd2 (bbbb) started and healthy, etcd3 (cccc) started but down.
    n.answer("etcdctl", `case "$*" in
  *"endpoint status"*) echo "https://${me}:2379, aaaa, 3.5.16, 20 kB, ${leads}, false, 2, 8, 8, " ;;
  *"member list"*) printf '%s\\n' "aaaa, started, etcd1, https://${me}:2380, https://${me}:2379, false" "cccc, started, etcd3, https://10.9.9.3:2380, https://10.9.9.3:2379, false" "bbbb, started, etcd2, https://10.9.9.2:2380, https://10.9.9.2:2379, false" ;;
  *10.9.9.3*"endpoint health"*) exit 1 ;;
esac`);
    return n;
  }

  it("the leader moves its leadership to the first other started member that is healthy", () => {
    const n = etcd1(true);
    const r = n.run("pgha-etcd", ["handover"]);
    expect([r.status, r.stderr]).toEqual([0, expect.stringContaining("moving etcd leadership from")]);
    const moves = n.calls("etcdctl").filter((c) => c.includes("move-leader"));
    expect(moves.map((c) => c.slice(c.indexOf("move-leader")))).toEqual([["move-leader", "bbbb"]]);
    expect(moves[0]).toContain(`--endpoints=https://${nodeEnvValue("etcd1", "PGHA_ADDRESS")}:2379`);
  });

  it("a follower does nothing", () => {
    const n = etcd1(false);
    const r = n.run("pgha-etcd", ["handover"]);
    expect([r.status, r.stderr]).toEqual([0, expect.stringContaining("does not lead etcd")]);
    expect(n.calls("etcdctl").some((c) => c.includes("move-leader"))).toBe(false);
  });
});

// The dev stack has the nodes the tests use.
test("fixtures: the dev stack is db1, etcd1, lb1", () => {
  expect(dev().spec.nodes.map((x) => x.name)).toEqual(["db1", "etcd1", "lb1"]);
});
