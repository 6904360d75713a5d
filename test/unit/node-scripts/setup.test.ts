// pgha-setup: the data volume found by its EBS identity on a fake block layer (never the root
// disk, never an instance-store disk, never a disk with something on it), and the converge of
// each role against a fake systemd.
import { fakeNodes, type FakeNode } from "./harness";
import { asDevNode, devSecrets, nodeEnvValue } from "./fixtures";
import { NODE_PATHS } from "../../../src/node-paths";

jest.setTimeout(120_000); // real processes: seconds each on a busy machine
const node = fakeNodes();

const ROOT_VOLUME = "nvme-Amazon_Elastic_Block_Store_vol0aaaaaaaaaaaaaaaa";
const DATA_VOLUME = "nvme-Amazon_Elastic_Block_Store_vol0bbbbbbbbbbbbbbbb";
const MOUNT = "/var/lib/postgresql";
const WAIT = { PGHA_DATA_VOLUME_WAIT_SECONDS: "20" };

/** A Nitro instance: / on the first EBS volume's partition, with udev's by-id links. */
function nitro(n: FakeNode): FakeNode {
  return n
    .disk("nvme0n1", { byId: [ROOT_VOLUME, "nvme-nvme.1d0f-766f6c30616161"] })
    .disk("nvme0n1p1", { byId: [`${ROOT_VOLUME}-part1`], fs: { type: "ext4", label: "root" } })
    .rootDevice("nvme0n1p1");
}

function db1(): FakeNode {
  return nitro(asDevNode(node(), "db1"));
}

const dataVolume = (n: FakeNode, options: { fs?: { type: string; label?: string } } = {}) =>
  n.disk("nvme1n1", { byId: [DATA_VOLUME, "nvme-eui.0123456789abcdef"], ...options });

describe("pgha-setup data-volume", () => {
  it("with only the root disk attached it waits, then fails naming the attachment — never exits midway", () => {
    const n = db1();
    const r = n.run("pgha-setup", ["data-volume"], { env: WAIT });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`no data volume appeared within 20 s: check the instance's volume attachment (${nodeEnvValue("db1", "PGHA_DATA_DEVICE")})`);
    expect(r.stderr.match(/waiting for the data volume to be attached \(\d+\/20 s\)/g)).toEqual(
      ["(0/20 s)", "(5/20 s)", "(10/20 s)", "(15/20 s)"].map((s) => `waiting for the data volume to be attached ${s}`),
    );
    expect(n.calls("sleep")).toEqual([["5"], ["5"], ["5"], ["5"]]);
    expect(n.calls("mkfs.ext4")).toEqual([]);
    expect(n.calls("mount")).toEqual([]);
  });

  it("formats a new EBS volume once, mounts it by label, and gives the mount point to postgres", () => {
    const n = dataVolume(db1());
    const r = n.run("pgha-setup", ["data-volume"], { env: WAIT });
    expect(r.status).toBe(0);
    expect(r.stderr).toContain(`formatting ${n.path("/dev/nvme1n1")} as the data volume (ext4, label pgha-data)`);
    expect(n.calls("mkfs.ext4")).toEqual([["-q", "-L", "pgha-data", n.path("/dev/nvme1n1")]]);
    expect(n.diskContent("nvme1n1")).toBe("type=ext4\nlabel=pgha-data\n");
    expect(n.read("/etc/fstab").split("\n")).toContain(`LABEL=pgha-data ${MOUNT} ext4 defaults,noatime,nofail 0 2`);
    expect(n.mounts()).toEqual([MOUNT]);
    expect(`${n.mode(MOUNT)} ${n.owner(MOUNT)}`).toBe("0755 postgres:postgres");
    expect(n.calls("sleep")).toEqual([]);

    // The next boot: labelled and (here) still mounted — nothing formatted, fstab not repeated.
    n.clearCalls();
    expect(n.run("pgha-setup", ["data-volume"], { env: WAIT }).status).toBe(0);
    expect(n.calls("mkfs.ext4")).toEqual([]);
    expect(n.calls("mount")).toEqual([]);
    expect(n.read("/etc/fstab").match(/LABEL=pgha-data/g)).toHaveLength(1);
  });

  it("a volume attached while it waits is found, formatted and mounted", () => {
    const n = db1();
    // The volume appears during the second wait, as a hot-plugged EBS volume does.
    n.answer("sleep", `if [ "$(stub_nth sleep)" = 2 ]; then : > "$PGHA_INSTALL_ROOT/dev/nvme1n1"; ln -s ../../nvme1n1 "$PGHA_INSTALL_ROOT/dev/disk/by-id/${DATA_VOLUME}"; fi`);
    const r = n.run("pgha-setup", ["data-volume"], { env: WAIT });
    expect(r.status).toBe(0);
    expect(n.calls("sleep")).toHaveLength(2);
    expect(n.calls("mkfs.ext4")).toEqual([["-q", "-L", "pgha-data", n.path("/dev/nvme1n1")]]);
    expect(n.mounts()).toEqual([MOUNT]);
  });

  it("an already-labelled volume (a replaced instance, a reboot) is mounted without formatting or waiting", () => {
    const n = dataVolume(db1(), { fs: { type: "ext4", label: "pgha-data" } });
    n.write("/etc/fstab", `LABEL=pgha-data ${MOUNT} ext4 defaults,noatime,nofail 0 2\n`);
    const r = n.run("pgha-setup", ["data-volume"], { env: WAIT });
    expect(r.status).toBe(0);
    expect(r.stderr).toContain(`data volume ${n.path("/dev/nvme1n1")} mounted on ${MOUNT}`);
    expect(n.calls("mkfs.ext4")).toEqual([]);
    expect(n.calls("sleep")).toEqual([]);
    expect(n.mounts()).toEqual([MOUNT]);
    expect(n.read("/etc/fstab").match(/LABEL=pgha-data/g)).toHaveLength(1);
  });

  it("a disk that carries another file system is refused, never formatted", () => {
    const n = dataVolume(db1(), { fs: { type: "xfs" } });
    const r = n.run("pgha-setup", ["data-volume"], { env: WAIT });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${n.path("/dev/nvme1n1")} already has a xfs file system without the pgha-data label: refusing to format it`);
    expect(n.calls("mkfs.ext4")).toEqual([]);
    expect(n.calls("mount")).toEqual([]);
  });

  it("two EBS volumes besides the root disk: refuses to guess, naming both", () => {
    const n = dataVolume(db1()).disk("nvme2n1", { byId: ["nvme-Amazon_Elastic_Block_Store_vol0cccccccccccccccc"] });
    const r = n.run("pgha-setup", ["data-volume"], { env: WAIT });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`several EBS volumes besides the root disk (${n.path("/dev/nvme1n1")} ${n.path("/dev/nvme2n1")} ): refusing to guess`);
    expect(r.stderr).toContain("label the right one with 'e2label <dev> pgha-data'");
    expect(n.calls("mkfs.ext4")).toEqual([]);
  });

  it("an instance-store disk is never taken for the data volume", () => {
    const n = db1().disk("nvme2n1", { byId: ["nvme-Amazon_EC2_NVMe_Instance_Storage_AWS1111111111111111"] });
    const r = n.run("pgha-setup", ["data-volume"], { env: WAIT });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("no data volume appeared within 20 s");
    expect(n.calls("mkfs.ext4")).toEqual([]);
    expect(n.diskContent("nvme2n1")).toBe("");
  });

  it("a mount that fails is reported", () => {
    const n = dataVolume(db1(), { fs: { type: "ext4", label: "pgha-data" } });
    n.answer("mount", 'echo "mount: wrong fs type" >&2; exit 32');
    const r = n.run("pgha-setup", ["data-volume"], { env: WAIT });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`could not mount the data volume on ${MOUNT}`);
  });

  it("a node without a data volume (etcd, HAProxy, a restore host) has nothing to do", () => {
    const n = nitro(asDevNode(node(), "etcd1"));
    const r = n.run("pgha-setup", ["data-volume"]);
    expect(r.status).toBe(0);
    expect(n.calls("blkid")).toEqual([]);
    expect(n.calls("mount")).toEqual([]);
  });
});

describe("pgha-setup watchdog (Patroni's unit runs it before every start)", () => {
  const CONF = "/etc/modules-load.d/pgha-watchdog.conf";

  it("where the bundle asks for a watchdog: loads softdog, hands /dev/watchdog to postgres (0600)", () => {
    const n = asDevNode(node(), "db1").write(CONF, "softdog\n");
    n.answer("modprobe", 'mkdir -p "$PGHA_INSTALL_ROOT/dev"; : > "$PGHA_INSTALL_ROOT/dev/watchdog"');
    const r = n.run("pgha-setup", ["watchdog"]);
    expect([r.status, r.stderr]).toEqual([0, expect.stringContaining("watchdog /dev/watchdog ready for Patroni (softdog)")]);
    expect(n.callLines("modprobe")).toEqual(["modprobe softdog"]);
    expect(`${n.mode("/dev/watchdog")} ${n.owner("/dev/watchdog")}`).toBe("0600 postgres:postgres");
    // Already there (the module loaded at boot by systemd-modules-load): no modprobe, same owner.
    n.clearCalls();
    expect(n.run("pgha-setup", ["watchdog"]).status).toBe(0);
    expect(n.calls("modprobe")).toEqual([]);
    expect(n.owner("/dev/watchdog")).toBe("postgres:postgres");
  });

  it("a module that does not load is named, and fails (Patroni starts anyway: its unit ignores the failure)", () => {
    const n = asDevNode(node(), "db1").write(CONF, "softdog\n");
    n.answer("modprobe", 'echo "modprobe: FATAL: Module softdog not found" >&2; exit 1');
    const r = n.run("pgha-setup", ["watchdog"]);
    expect([r.status, r.stderr]).toEqual([1, expect.stringContaining("cannot load the softdog module: Patroni runs without a watchdog")]);
    expect(n.exists("/dev/watchdog")).toBe(false);
  });

  it("no watchdog in the bundle (the sandbox, patroni.watchdog off), or not a PostgreSQL node: nothing", () => {
    const n = asDevNode(node(), "db1");
    expect(n.run("pgha-setup", ["watchdog"]).status).toBe(0);
    const lb = asDevNode(node(), "lb1").write(CONF, "softdog\n");
    expect(lb.run("pgha-setup", ["watchdog"]).status).toBe(0);
    expect([n.calls("modprobe"), lb.calls("modprobe")]).toEqual([[], []]);
  });
});

describe("pgha-setup converge", () => {
  const SSM_AGENT_PATH = new URL(nodeEnvValue("db1", "PGHA_SSM_AGENT_URL")).pathname;

  /** A dev node ready for its first setup: secrets in Secrets Manager, the SSM agent downloadable. */
  function ready(name: string): FakeNode {
    const n = nitro(devSecrets(asDevNode(node(), name), name));
    return n.http("GET", SSM_AGENT_PATH, "a .deb");
  }

  it("a PostgreSQL node: SSM agent, data volume, one daemon-reload before any unit, secrets, then Patroni started", () => {
    const n = dataVolume(ready("db1"));
    n.write("/etc/pgha/hosts", "10.20.0.10 db1\n");
    const r = n.run("pgha-setup", [], { env: WAIT });
    expect(r.stderr).toContain("done: db1 (postgres) in main/dev");
    expect(r.status).toBe(0);
    expect(n.callLines("dpkg")).toEqual([expect.stringMatching(/^dpkg -i .*\.deb$/)]);
    expect(n.read("/etc/hosts")).toBe("127.0.0.1 localhost\n# BEGIN postgres-ha\n10.20.0.10 db1\n# END postgres-ha\n");
    expect(n.mounts()).toEqual([MOUNT]);
    expect(n.exists("/etc/patroni/config.d/secrets.yml")).toBe(true);
    const systemctl = n.callLines("systemctl");
    // One reload for the units the bundle installed, before any unit is touched; then
    // enablement without a reload each (--no-reload), and one reload before what was enabled is
    // started — never one per unit.
    const reload = "systemctl daemon-reload";
    const firstUnitCall = systemctl.findIndex((c) => / (enable|start|restart|reload) /.test(c) && !c.includes("amazon-ssm-agent"));
    expect(systemctl.indexOf(reload)).toBeLessThan(firstUnitCall);
    // Each enable without --now (units started later by this run) is followed by a reload
    // before the next start; this node's run has such enables (patroni, cron, the data volume).
    const enablesThenStart = systemctl.map((c, i) => ({ c, i })).filter(({ c }) => c.includes(" --no-reload ") && !c.includes("--now"));
    expect(enablesThenStart.map(({ c }) => c)).toEqual(expect.arrayContaining(["systemctl --no-reload enable pgha-data-volume.service patroni.service cron.service"]));
    for (const { c, i } of enablesThenStart) {
      const nextStart = systemctl.findIndex((d, j) => j > i && / (start|restart) /.test(d));
      const nextReload = systemctl.findIndex((d, j) => j > i && d === reload);
      expect([c, nextReload >= 0 && (nextStart < 0 || nextReload < nextStart)]).toEqual([c, true]);
    }
    expect(systemctl.filter((c) => c === reload).length).toBeLessThan(systemctl.filter((c) => c.includes(" --no-reload ")).length);
    expect(systemctl.filter((c) => / (enable|disable|mask) /.test(c) && !c.includes("amazon-ssm-agent") && !c.includes("--no-reload"))).toEqual([]);
    expect(systemctl).toEqual(expect.arrayContaining([
      "systemctl --no-reload enable pgha-secrets.service",
      "systemctl --no-reload enable --now pgha-secrets-rotate.timer",
      "systemctl --no-reload mask --now postgresql.service",
      "systemctl --no-reload enable pgha-data-volume.service patroni.service cron.service",
      "systemctl start --no-block patroni.service",
    ]));
    expect(systemctl).not.toContain("systemctl reload patroni.service");
    // Secrets are in place before Patroni starts.
    const order = n.calls().map((c) => c.join(" "));
    expect(order.findIndex((c) => c.startsWith("aws secretsmanager"))).toBeLessThan(order.indexOf("systemctl start --no-block patroni.service"));
    for (const d of ["/var/lib/postgresql/17", "/var/spool/pgbackrest", "/var/log/pgbackrest", "/var/lib/pgha", "/var/log/pgha"]) {
      expect(`${d} ${n.mode(d)} ${n.owner(d)}`).toBe(`${d} 0750 postgres:postgres`);
    }
    expect(`${n.mode("/var/run/postgresql")} ${n.owner("/var/run/postgresql")}`).toBe("0755 postgres:postgres");
    expect(n.leftInTmp()).toEqual([]);
  });

  it("run again on a running node it converges without restarting anything: Patroni reloaded, the agent left alone", () => {
    const n = dataVolume(ready("db1"), { fs: { type: "ext4", label: "pgha-data" } });
    n.write("/etc/fstab", `LABEL=pgha-data ${MOUNT} ext4 defaults,noatime,nofail 0 2\n`);
    n.unitActive("patroni.service").unitActive("amazon-ssm-agent.service");
    n.write("/etc/pgbackrest.conf", "# Debian's default\n");
    const r = n.run("pgha-setup", [], { env: WAIT });
    expect(r.status).toBe(0);
    const systemctl = n.callLines("systemctl");
    expect(systemctl).toContain("systemctl reload patroni.service");
    expect(systemctl.filter((c) => / (start|restart) /.test(c) && /patroni|postgresql/.test(c))).toEqual([]);
    expect(n.calls("dpkg")).toEqual([]);
    expect(n.calls("mkfs.ext4")).toEqual([]);
    expect(n.exists("/etc/pgbackrest.conf")).toBe(false);
  });

  it("drops Debian's default cluster when the image made one", () => {
    const n = dataVolume(ready("db1"));
    n.answer("pg_lsclusters", 'echo "17  main    5432 down   postgres /var/lib/postgresql/17/main /var/log/postgresql/postgresql-17-main.log"');
    expect(n.run("pgha-setup", [], { env: WAIT }).status).toBe(0);
    expect(n.callLines("pg_dropcluster")).toEqual(["pg_dropcluster --stop 17 main"]);
  });

  it("an etcd node: its data directory owned by etcd, etcd started without blocking on its peers", () => {
    const n = ready("etcd1");
    const r = n.run("pgha-setup");
    expect(r.status).toBe(0);
    expect(n.callLines("systemctl")).toEqual(expect.arrayContaining(["systemctl --no-reload enable etcd.service", "systemctl start --no-block etcd.service"]));
    const dataDir = nodeEnvValue("etcd1", "PGHA_ETCD_DATA_DIR");
    expect(`${n.mode(dataDir)} ${n.owner(dataDir)}`).toBe("0700 etcd:etcd");
    expect(n.calls("mount")).toEqual([]);
  });

  it("an HAProxy node: the configuration checked with the stats credentials loaded, then started (reloaded when running)", () => {
    const n = ready("lb1");
    n.write("/etc/haproxy/pgha.cfg", "global\n");
    // haproxy -c sees the credentials pgha-secrets wrote (the config references them).
    n.answer("haproxy", '[ "$PGHA_STATS_USER" = pgha-stats ] && [ -n "$PGHA_STATS_PASSWORD" ] || { echo "[ALERT] missing environment" >&2; exit 1; }');
    const r = n.run("pgha-setup");
    expect(r.status).toBe(0);
    expect(n.calls("haproxy")).toEqual([["-c", "-q", "-f", n.path("/etc/haproxy/pgha.cfg")]]);
    expect(n.callLines("systemctl")).toContain("systemctl restart haproxy.service");

    n.clearCalls().unitActive("haproxy.service");
    expect(n.run("pgha-setup").status).toBe(0);
    expect(n.callLines("systemctl")).toContain("systemctl reload haproxy.service");
    expect(n.callLines("systemctl")).not.toContain("systemctl restart haproxy.service");
  });

  it("pooler: with PgBouncer's configuration in the bundle it is enabled and (re)started; without, Debian's instance is stopped and disabled", () => {
    const n = ready("db1");
    n.write("/etc/pgbouncer/pgha.ini", "[pgbouncer]\n");
    expect(n.run("pgha-setup", ["pooler"]).status).toBe(0);
    // Debian started its own instance at install: replaced by ours (a restart, not a reload).
    n.clearCalls().unitActive("pgbouncer.service");
    expect(n.run("pgha-setup", ["pooler"]).status).toBe(0);
    expect(n.callLines("systemctl")).toEqual(["systemctl --no-reload enable pgbouncer.service", "systemctl daemon-reload", "systemctl show -p MainPID --value pgbouncer.service", "systemctl is-active -q pgbouncer.service", "systemctl restart pgbouncer.service"]);

    const off = ready("db1");
    off.write("/usr/lib/systemd/system/pgbouncer.service", "[Service]\n");
    off.unitActive("pgbouncer.service");
    expect(off.run("pgha-setup", ["pooler"]).status).toBe(0);
    expect(off.callLines("systemctl")).toEqual(["systemctl is-active -q pgbouncer.service", "systemctl --no-reload disable --now pgbouncer.service", "systemctl daemon-reload"]);
    // Converged: nothing to do the second time.
    off.clearCalls();
    expect(off.run("pgha-setup", ["pooler"]).status).toBe(0);
    expect(off.callLines("systemctl").filter((c) => /disable|stop|start/.test(c))).toEqual([]);
  });

  it("exporters: restarted with the bundle's drop-ins; Debian's own instances (started at install on EC2) stopped where the bundle has none", () => {
    const NODE = "prometheus-node-exporter.service";
    const PG = "prometheus-postgres-exporter.service";
    const dropIn = (u: string) => `/etc/systemd/system/${u}.d/pgha.conf`;
    // A PostgreSQL member: both, enabled and restarted; the textfile directory writable by postgres's jobs.
    const db = ready("db1").write(dropIn(NODE), "[Service]\n").write(dropIn(PG), "[Service]\n");
    db.unitActive(NODE).unitActive(PG);
    expect(db.run("pgha-setup", ["exporters"]).status).toBe(0);
    expect(db.callLines("systemctl")).toEqual([`systemctl --no-reload enable ${NODE} ${PG}`, "systemctl daemon-reload", `systemctl restart ${NODE} ${PG}`]);
    expect(`${db.mode(NODE_PATHS.metricsDir)} ${db.owner(NODE_PATHS.metricsDir)}`).toBe("0775 root:postgres");
    // An etcd node (EC2: both packages installed and started): node-exporter ours, the postgres exporter disabled.
    const etcd = ready("etcd1").write(dropIn(NODE), "[Service]\n");
    etcd.unitActive(NODE).unitActive(PG);
    expect(etcd.run("pgha-setup", ["exporters"]).status).toBe(0);
    expect(etcd.callLines("systemctl").filter((c) => !c.includes(" is-"))).toEqual([`systemctl --no-reload disable --now ${PG}`, `systemctl --no-reload enable ${NODE}`, "systemctl daemon-reload", `systemctl restart ${NODE}`]);
    expect(`${etcd.mode(NODE_PATHS.metricsDir)} ${etcd.owner(NODE_PATHS.metricsDir)}`).toBe("0775 root:root");
    // Converged: the second run disables nothing.
    etcd.clearCalls();
    expect(etcd.run("pgha-setup", ["exporters"]).status).toBe(0);
    expect(etcd.callLines("systemctl").filter((c) => c.includes("disable"))).toEqual([]);
    // A bundle without exporters (a scratch restore host): Debian's running instances stopped.
    const bare = ready("db1");
    bare.unitActive(NODE).unitActive(PG);
    expect(bare.run("pgha-setup", ["exporters"]).status).toBe(0);
    expect(bare.callLines("systemctl").filter((c) => c.includes("disable"))).toEqual([`systemctl --no-reload disable --now ${NODE}`, `systemctl --no-reload disable --now ${PG}`]);
    // Without the packages' user the exporters cannot run: said, and a failure.
    const none = ready("db1").write(dropIn(NODE), "[Service]\n");
    const r = none.run("pgha-setup", ["exporters"], { env: { PGHA_TEST_USERS: "root postgres" } });
    expect([r.status, r.stderr]).toEqual([1, expect.stringContaining("no prometheus user: the exporters' packages are not installed")]);
  });

  it("an HAProxy configuration that does not pass haproxy -c fails setup before any (re)start", () => {
    const n = ready("lb1");
    n.write("/etc/haproxy/pgha.cfg", "global\n");
    n.answer("haproxy", 'echo "[ALERT] config: parsing error" >&2; exit 1');
    const r = n.run("pgha-setup");
    expect(r.status).not.toBe(0);
    expect(n.callLines("systemctl").filter((c) => c.includes("haproxy.service") && !c.includes("enable"))).toEqual([]);
  });

  it("missing secrets stop setup before any service starts", () => {
    const n = dataVolume(ready("db1")).secret("postgres-ha/dev/main/cluster", undefined);
    const r = n.run("pgha-setup", [], { env: { ...WAIT, PGHA_SECRETS_RETRY_SECONDS: "0" } });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("cannot read secret postgres-ha/dev/main/cluster");
    expect(n.callLines("systemctl").filter((c) => /patroni|cron\.service/.test(c))).toEqual([]);
  });

  it("an unknown role in node.env is refused; arguments other than data-volume are a usage error", () => {
    const n = ready("etcd1");
    n.write("/etc/pgha/node.env", n.read("/etc/pgha/node.env").replace("PGHA_ROLE=etcd", "PGHA_ROLE=pgbouncer"));
    const r = n.run("pgha-setup");
    expect([r.status, r.stderr]).toEqual([1, expect.stringContaining("unknown role pgbouncer in")]);
    const u = n.run("pgha-setup", ["everything"]);
    expect(u.status).toBe(2);
    expect(u.stdout).toContain("pgha-setup data-volume");
  });
});
