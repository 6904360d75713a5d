import { gunzipSync } from "zlib";
import fc from "fast-check";
import { loadStackConfig } from "../../src/config/load";
import { buildSpec, DB_USERS, nodesOf, PORTS, type ClusterSpec } from "../../src/spec";
import { ec2Layout, sandboxLayout, type Layout } from "../../src/layout";
import { renderAll, renderBundle, NODE_PATHS, type NodeBundle } from "../../src/render/bundle";
import { nodeSoftware, nodeSoftwareFile } from "../../src/render/software";
import { CHANGE_ACTIONS, sha256, unpackNodeBundle } from "../../src/bundle/format";
import { dynamicConfig } from "../../src/render/dynamic";
import { LIBPQ_CONNECT_TIMEOUT_SECONDS } from "../../src/config/defaults";
import { cronFieldsValid, inCidr, parseCronD, parseHaproxy, parseHba, parseIni, parseYaml } from "../helpers/parsers";

function specFor(tier: string, extra: Record<string, unknown> = {}, stack = tier): ClusterSpec {
  const raw: Record<string, unknown> = { "aws:region": "eu-west-1", "postgres-ha:tier": tier };
  for (const [k, v] of Object.entries(extra)) raw[`postgres-ha:${k}`] = JSON.stringify(v);
  return buildSpec(loadStackConfig(raw, { stack }), stack);
}

function fileOf(b: NodeBundle, path: string): string {
  const f = b.files.find((x) => x.path === path);
  if (!f) throw new Error(`${b.node} has no ${path}; files: ${b.files.map((x) => x.path).join(", ")}`);
  return f.content;
}

const TIERS = ["dev", "staging", "prod"] as const;
const layouts = (spec: ClusterSpec): [string, Layout][] => [["ec2", ec2Layout(spec)], ["sandbox", sandboxLayout(spec)]];

describe("libpq's timeouts for PostgreSQL and Patroni (LIBPQ_CONNECT_TIMEOUT_SECONDS)", () => {
  it("Patroni's unit names the service file on every PostgreSQL member of every tier and layout, and the file bounds both connects: the walreceiver's (tcp_user_timeout) and blocking clients' (connect_timeout)", () => {
    for (const tier of TIERS) {
      const spec = specFor(tier);
      for (const [kind, layout] of layouts(spec)) {
        for (const b of renderAll(spec, layout).filter((x) => x.role === "postgres")) {
          const unit = fileOf(b, "/etc/systemd/system/patroni.service.d/pgha.conf");
          const env = unit.match(/^Environment=(.*)$/m)?.[1] ?? "";
          expect([tier, kind, b.node, env.split(" ").sort()]).toEqual([tier, kind, b.node, [`PGSERVICE=pgha`, `PGSERVICEFILE=${NODE_PATHS.libpqServiceFile}`]]);
          // Set in the unit's [Service] section, where systemd reads Environment=.
          expect(unit.indexOf("Environment=PGSERVICE")).toBeGreaterThan(unit.indexOf("[Service]"));
          const service = fileOf(b, NODE_PATHS.libpqServiceFile).split("\n").filter((l) => l && !l.startsWith("#"));
          expect([tier, kind, b.node, service]).toEqual([tier, kind, b.node, ["[pgha]", `connect_timeout=${LIBPQ_CONNECT_TIMEOUT_SECONDS}`, `tcp_user_timeout=${LIBPQ_CONNECT_TIMEOUT_SECONDS * 1000}`]]);
        }
        // Only PostgreSQL members run libpq clients under Patroni.
        for (const b of renderAll(spec, layout).filter((x) => x.role !== "postgres")) expect(b.files.map((f) => f.path)).not.toContain(NODE_PATHS.libpqServiceFile);
      }
    }
    expect(LIBPQ_CONNECT_TIMEOUT_SECONDS).toBeGreaterThanOrEqual(2);
  });
});

describe("metrics exporters (issue 12): on the private address, TLS with client certificates, restarted on change", () => {
  it("every node runs node-exporter, PostgreSQL members also the postgres exporter, HAProxy nodes its own /metrics; each on its address and port", () => {
    for (const tier of TIERS) {
      const spec = specFor(tier);
      for (const [kind, layout] of layouts(spec)) {
        for (const b of renderAll(spec, layout)) {
          const address = layout.addresses[b.node];
          const node = fileOf(b, NODE_PATHS.nodeExporterDropIn);
          const start = node.split("\n").filter((l) => l.startsWith("ExecStart="));
          // The package's ExecStart is reset, then ours: one command, on the private address.
          expect([tier, kind, b.node, start[0], start.length]).toEqual([tier, kind, b.node, "ExecStart=", 2]);
          expect(start[1]).toContain(`--web.listen-address=${address}:${PORTS.nodeExporter} `);
          expect(start[1]).toContain(`--web.config.file=${NODE_PATHS.exporterWebConfig} `);
          expect(start[1]).toContain(`--collector.textfile.directory=${NODE_PATHS.metricsDir} `);
          // Debian's /etc/default file (ARGS, DATA_SOURCE_NAME) is not read.
          expect(node).toMatch(/^EnvironmentFile=$/m);
          const pg = b.files.find((f) => f.path === NODE_PATHS.postgresExporterDropIn);
          if (b.role === "postgres") {
            expect(pg!.content).toContain(`--web.listen-address=${address}:${PORTS.postgresExporter} `);
            expect(pg!.content).toContain(`--extend.query-path=${NODE_PATHS.postgresExporterQueries} `);
            // Peer authentication over the socket: no password anywhere.
            expect(pg!.content).toMatch(new RegExp(`^Environment="DATA_SOURCE_NAME=host=${NODE_PATHS.socketDir} port=${PORTS.postgres} user=${DB_USERS.monitor} dbname=postgres sslmode=disable application_name=postgres_exporter"$`, "m"));
            const queries = parseYaml(fileOf(b, NODE_PATHS.postgresExporterQueries)) as Record<string, { query: string; metrics: Record<string, { usage: string }>[] }>;
            expect(Object.keys(queries).sort()).toEqual(["pgha_archiver", "pgha_standby"]);
            for (const q of Object.values(queries)) for (const m of q.metrics) for (const v of Object.values(m)) expect(["LABEL", "GAUGE", "COUNTER"]).toContain(v.usage);
          } else {
            expect([b.node, pg]).toEqual([b.node, undefined]);
          }
          for (const path of [NODE_PATHS.nodeExporterDropIn, NODE_PATHS.exporterWebConfig, NODE_PATHS.postgresExporterDropIn, NODE_PATHS.postgresExporterQueries]) {
            const f = b.files.find((x) => x.path === path);
            if (f) expect([b.node, path, f.onChange.includes("exporters")]).toEqual([b.node, path, true]);
          }
          if (b.role === "haproxy") {
            const cfg = fileOf(b, NODE_PATHS.haproxyConfig);
            const tls = spec.tls.enabled ? ` ssl crt /etc/pgha/tls/node.pem ca-file /etc/pgha/tls/ca.crt verify required` : "";
            expect(cfg).toContain(`bind ${address}:${PORTS.haproxyMetrics}${tls}\n`);
            expect(cfg).toContain("http-request use-service prometheus-exporter if { path /metrics }");
          }
        }
      }
    }
  });

  it("the web config asks for a client certificate of the cluster CA when tls.enabled, and is plain HTTP without", () => {
    for (const tier of TIERS) {
      for (const tls of [true, false]) {
        const spec = specFor(tier, { "tls": { enabled: tls } });
        const web = parseYaml(fileOf(renderAll(spec, sandboxLayout(spec))[0], NODE_PATHS.exporterWebConfig)) as Record<string, Record<string, string>>;
        if (tls) expect(web.tls_server_config).toEqual({ cert_file: "/etc/pgha/tls/node.crt", key_file: NODE_PATHS.exporterKey, client_auth_type: "RequireAndVerifyClientCert", client_ca_file: "/etc/pgha/tls/ca.crt", min_version: "TLS12" });
        else expect(web).toEqual({});
      }
    }
  });

  it("the metrics role logs in over the socket by peer authentication, before the catch-all password rule; it is reserved and kept by pgha-access", () => {
    const spec = specFor("prod");
    const hba = parseHba(renderAll(spec, sandboxLayout(spec)).find((b) => b.role === "postgres")!.files.find((f) => f.path === NODE_PATHS.pgHbaReference)!.content);
    const peer = hba.findIndex((r) => r.type === "local" && r.user === DB_USERS.monitor && r.method === "peer");
    const catchAll = hba.findIndex((r) => r.type === "local" && r.user === "all");
    expect(peer).toBeGreaterThanOrEqual(0);
    expect(peer).toBeLessThan(catchAll);
    expect(spec.access.monitorRole).toBe(DB_USERS.monitor);
  });
});

describe("Patroni's watchdog (patroni.watchdog): on EC2 as configured, off in the sandbox", () => {
  const patroniOf = (b: NodeBundle) => parseYaml(fileOf(b, NODE_PATHS.patroniConfig));

  it.each([["dev", "off"], ["staging", "automatic"], ["prod", "required"]] as const)("%s on EC2: %s, with softdog's device and Patroni's safety margin; the module in the bundle when on", (tier, mode) => {
    const spec = specFor(tier);
    for (const b of renderAll(spec, ec2Layout(spec))) {
      const modules = b.files.find((f) => f.path === NODE_PATHS.watchdogModules);
      if (b.role !== "postgres") {
        expect([b.node, modules]).toEqual([b.node, undefined]);
        continue;
      }
      const w = patroniOf(b).watchdog;
      expect([b.node, w]).toEqual([b.node, mode === "off" ? { mode: "off" } : { mode, device: "/dev/watchdog", safety_margin: 5 }]);
      if (mode === "off") expect(modules).toBeUndefined();
      else expect([modules?.content, modules?.onChange]).toEqual([expect.stringMatching(/^softdog$/m), ["watchdog"]]);
      // The unit prepares the device as root before every start, and may not fail Patroni's start.
      expect(fileOf(b, "/etc/systemd/system/patroni.service.d/pgha.conf")).toContain("ExecStartPre=-+/usr/local/sbin/pgha-setup watchdog\n");
    }
  });

  it("the watchdog fires before the lock expires and leaves Patroni a whole loop: ttl − safety margin ≥ loop_wait on every tier", () => {
    for (const tier of TIERS) {
      const { ttl, loopWait } = specFor(tier).patroni;
      expect([tier, ttl - 5 - loopWait >= 0]).toEqual([tier, true]);
    }
  });

  it("the sandbox renders it off and without the module (the layout comparison below checks nothing else differs)", () => {
    const spec = specFor("prod");
    for (const b of renderAll(spec, sandboxLayout(spec)).filter((x) => x.role === "postgres")) {
      expect([b.node, patroniOf(b).watchdog]).toEqual([b.node, { mode: "off" }]);
      expect(b.files.some((f) => f.path === NODE_PATHS.watchdogModules)).toBe(false);
    }
  });
});

describe.each(TIERS)("%s bundles", (tier) => {
  const spec = specFor(tier);
  describe.each(layouts(spec))("%s layout", (_kind, layout) => {
    const bundles = renderAll(spec, layout);
    const db = bundles.filter((b) => b.role === "postgres");
    const etcd = bundles.filter((b) => b.role === "etcd");
    const lbs = bundles.filter((b) => b.role === "haproxy");
    const addr = (n: string) => layout.addresses[n];

    it("patroni.yml has everything the seed lists", () => {
      for (const b of db) {
        const p = parseYaml(fileOf(b, NODE_PATHS.patroniConfig));
        expect(p.scope).toBe(spec.scope);
        expect(p.namespace).toBe("/postgres-ha/");
        expect(p.name).toBe(b.node);
        expect(p.restapi.listen).toBe(`${addr(b.node)}:8008`);
        expect(p.restapi.connect_address).toBe(`${addr(b.node)}:8008`);
        expect(p.etcd3.hosts.split(",")).toEqual(etcd.map((e) => `${addr(e.node)}:2379`));
        const dcs = p.bootstrap.dcs;
        expect(dcs).toMatchObject({
          ttl: spec.patroni.ttl,
          loop_wait: spec.patroni.loopWait,
          retry_timeout: spec.patroni.retryTimeout,
          maximum_lag_on_failover: 1048576,
          failsafe_mode: true,
        });
        expect(dcs.postgresql.use_pg_rewind).toBe(true);
        expect(dcs.postgresql.parameters).toMatchObject({ wal_level: "replica", archive_mode: "on", hot_standby: "on" });
        expect(Number(dcs.postgresql.parameters.max_wal_senders)).toBeGreaterThanOrEqual(spec.nodes.length);
        expect(dcs.postgresql.parameters.wal_keep_size).toMatch(/^\d+(MB|GB)$/);
        expect(dcs.postgresql.parameters.archive_command).toBe(`/usr/bin/pgbackrest --stanza=${spec.scope} archive-push "%p"`);
        expect(dcs.postgresql.parameters.archive_timeout).toBe(`${spec.backup.archiveTimeoutSeconds}s`);
        expect(p.bootstrap.initdb).toEqual(expect.arrayContaining([{ encoding: "UTF8" }, "data-checksums"]));
        expect(p.postgresql.authentication.replication.username).toBe("replicator");
        expect(p.postgresql.authentication.superuser.username).toBe("postgres");
        expect(p.postgresql.authentication.rewind.username).toBe("rewind_user");
        // No password anywhere in the file: pgha-secrets writes them beside it (config.d/secrets.yml).
        expect(JSON.stringify(p)).not.toMatch(/"password"\s*:/i);
        expect(p.watchdog.mode).toBe(layout.kind === "ec2" ? spec.patroni.watchdog : "off");
        expect(p.postgresql.create_replica_methods).toEqual(["pgbackrest", "basebackup"]);
        expect(p.postgresql.pgbackrest.command).toContain(`--stanza=${spec.scope}`);
        expect(p.postgresql.recovery_conf.restore_command).toContain("archive-get");
        expect(p.postgresql.remove_data_directory_on_diverged_timelines).toBe(true);
        expect(Object.keys(p.tags).sort()).toEqual(["clonefrom", "nofailover", "noloadbalance", "nosync"]);
        expect(p.postgresql.custom_conf).toBe(NODE_PATHS.baseConf);
      }
    });

    it("synchronous mode matches the tier", () => {
      const dcs = dynamicConfig(spec, layout);
      expect(dcs.synchronous_mode).toBe(tier === "prod" ? "quorum" : false);
      expect(dcs.synchronous_node_count).toBe(1);
    });

    it("pg_hba: scram-sha-256 only, replication only from the members, local peer for postgres", () => {
      for (const b of db) {
        const rules = parseHba(parseYaml(fileOf(b, NODE_PATHS.patroniConfig)).bootstrap.dcs.postgresql.pg_hba);
        const network = rules.filter((r) => r.type !== "local");
        expect(network.filter((r) => r.method !== "reject").every((r) => r.method === "scram-sha-256")).toBe(true);
        expect(rules.some((r) => ["md5", "trust", "password"].includes(r.method))).toBe(false);
        const replication = rules.filter((r) => r.database === "replication" && r.type !== "local");
        expect(replication.map((r) => r.address).sort()).toEqual(db.map((m) => `${addr(m.node)}/32`).sort());
        expect(replication.every((r) => r.user === "replicator")).toBe(true);
        expect(rules).toContainEqual({ type: "local", database: "all", user: "postgres", method: "peer" });
        // Patroni's local replication check (use_unix_socket_repl) has a socket line with a password.
        expect(rules).toContainEqual({ type: "local", database: "replication", user: "replicator", method: "scram-sha-256" });
        expect(parseYaml(fileOf(b, NODE_PATHS.patroniConfig)).postgresql.use_unix_socket_repl).toBe(true);
        // Clients only from HAProxy nodes and the layout's client networks.
        const clientAddrs = network.filter((r) => r.database === "all" && r.user === "all" && r.method === "scram-sha-256").map((r) => r.address);
        expect(clientAddrs.sort()).toEqual(["127.0.0.1/32", ...lbs.map((l) => `${addr(l.node)}/32`), ...layout.clientCidrs].sort());
        if (spec.tls.enabled) {
          expect(network.filter((r) => r.method !== "reject").every((r) => r.type === "hostssl")).toBe(true);
          expect(rules.find((r) => r.type === "hostnossl")?.method).toBe("reject");
        }
      }
    });

    it("etcd: the member list is its own file, the same on every member; the config has no join settings (pgha-etcd prepare adds them); TLS with client-cert auth", () => {
      const clusters = etcd.map((b) => parseYaml(fileOf(b, NODE_PATHS.etcdConfig)));
      const lists = etcd.map((b) => fileOf(b, NODE_PATHS.etcdMembers));
      const entries = (text: string) => text.split("\n").filter((l) => /^[A-Za-z0-9_-]+=/.test(l));
      expect(entries(lists[0])).toEqual([`token=${spec.etcd.initialClusterToken}`, ...etcd.map((b) => `${b.node}=https://${addr(b.node)}:2380`)]);
      for (const [i, c] of clusters.entries()) {
        expect(lists[i]).toBe(lists[0]);
        expect(Object.keys(c).filter((k) => k.startsWith("initial-cluster"))).toEqual([]);
        expect(c.name).toBe(etcd[i].node);
        expect(c["enable-grpc-gateway"]).toBe(true);
        expect(c["client-transport-security"]["client-cert-auth"]).toBe(true);
        expect(c["peer-transport-security"]["client-cert-auth"]).toBe(true);
        expect(c["listen-client-urls"]).toContain(`https://${addr(etcd[i].node)}:2379`);
      }
      // etcd starts from the effective copy that pgha-etcd prepare writes before every start.
      for (const b of etcd) expect(fileOf(b, "/etc/systemd/system/etcd.service.d/pgha.conf")).toMatch(/ExecStartPre=\+\/usr\/local\/sbin\/pgha-etcd prepare\n(.|\n)*ExecStart=\/usr\/bin\/etcd --config-file \/var\/lib\/etcd\/pgha-etcd.effective.yml/);
    });

    it("haproxy.readOnlyMaxLagBytes: the replica check carries the bound; null drops it", () => {
      const check = (extra: Record<string, unknown>) => {
        const s = specFor("staging", { haproxy: extra });
        const lb = renderAll(s, sandboxLayout(s)).find((b) => b.role === "haproxy")!;
        return parseHaproxy(fileOf(lb, NODE_PATHS.haproxyConfig)).find((x) => x.kind === "backend" && x.name === "replicas")!.lines.find((l) => l.startsWith("http-check send"));
      };
      expect(check({})).toBe("http-check send meth OPTIONS uri /replica?lag=104857600");
      expect(check({ readOnlyMaxLagBytes: 1048576 })).toBe("http-check send meth OPTIONS uri /replica?lag=1048576");
      expect(check({ readOnlyMaxLagBytes: null })).toBe("http-check send meth OPTIONS uri /replica");
    });

    it("haproxy.synchronousReadOnly: 5002 over /synchronous (on, strict) or /quorum (quorum ANY n of n), leader fallback, commits wait for replay", () => {
      const render = (postgres: Record<string, unknown>, synchronousReadOnly: boolean) => {
        const s = specFor("prod", { postgres, haproxy: { synchronousReadOnly } });
        const lb = renderAll(s, sandboxLayout(s)).find((b) => b.role === "haproxy")!;
        return { spec: s, lb, sections: parseHaproxy(fileOf(lb, NODE_PATHS.haproxyConfig)) };
      };
      const on = render({ syncMode: "on" }, true);
      const front = on.sections.find((x) => x.kind === "frontend" && x.name === "synchronous")!;
      expect(front.lines).toEqual([`bind ${sandboxLayout(on.spec).addresses[on.lb.node]}:5002`, "use_backend synchronous if { nbsrv(synchronous) gt 0 }", "default_backend replicas_fallback_leader"]);
      const back = on.sections.find((x) => x.kind === "backend" && x.name === "synchronous")!;
      expect(back.lines).toContain("http-check send meth OPTIONS uri /synchronous");
      expect(back.lines.filter((l) => l.startsWith("server ")).map((l) => l.split(/\s+/)[1])).toEqual(["db1", "db2", "db3"]);
      expect(dynamicConfig(on.spec, sandboxLayout(on.spec)).postgresql.parameters.synchronous_commit).toBe("remote_apply");
      const quorum = render({ syncMode: "quorum", syncNodeCount: 2 }, true);
      expect(quorum.sections.find((x) => x.kind === "backend" && x.name === "synchronous")!.lines).toContain("http-check send meth OPTIONS uri /quorum");
      // Off (the default): no third endpoint, commits return at flush as before.
      const off = render({}, false);
      expect(off.sections.map((x) => x.name)).not.toContain("synchronous");
      expect(dynamicConfig(off.spec, sandboxLayout(off.spec)).postgresql.parameters.synchronous_commit).toBeUndefined();
    });

    it("pooler: PgBouncer on each PostgreSQL node (TLS with the node certificate, auth_query, no user list) and HAProxy's 6432/6433 tracking the direct checks", () => {
      const s = specFor("prod", { pooler: { enabled: true, mode: "transaction", poolSize: 25, maxClientConnections: 3000 } });
      const layout = sandboxLayout(s);
      const bundles = renderAll(s, layout);
      for (const b of bundles.filter((x) => x.role === "postgres")) {
        const ini = parseIni(fileOf(b, NODE_PATHS.pgbouncerConfig));
        expect(ini.databases).toEqual({ "*": "host=/var/run/postgresql port=5432 auth_dbname=postgres" });
        const pg = ini.pgbouncer;
        expect(pg).toMatchObject({
          listen_addr: layout.addresses[b.node], listen_port: "6432", auth_type: "scram-sha-256", auth_user: "postgres",
          pool_mode: "transaction", default_pool_size: "25", max_client_conn: "3000",
          client_tls_sslmode: "require", client_tls_cert_file: "/etc/pgha/tls/node.crt", client_tls_key_file: "/etc/pgha/tls/node.key",
        });
        // SCRAM verifiers from the server, never for superusers or replication roles; no user list.
        expect(pg.auth_query).toMatch(/FROM pg_catalog\.pg_authid WHERE rolname = \$1 AND rolcanlogin AND NOT rolsuper AND NOT rolreplication$/);
        expect(Object.keys(pg)).not.toContain("auth_file");
        const dropIn = fileOf(b, NODE_PATHS.pgbouncerDropIn);
        expect(dropIn).toMatch(/^ExecStart=\n^ExecStart=\/usr\/sbin\/pgbouncer \/etc\/pgbouncer\/pgha\.ini$/m);
        expect(b.files.find((f) => f.path === NODE_PATHS.pgbouncerConfig)!.onChange).toEqual(["pooler"]);
      }
      const lb = bundles.find((b) => b.role === "haproxy")!;
      const sections = parseHaproxy(fileOf(lb, NODE_PATHS.haproxyConfig));
      const byName = (n: string) => sections.find((x) => x.name === n)!;
      const servers = (n: string) => byName(n).lines.filter((l) => l.startsWith("server "));
      expect(byName("pooled_primary").lines.slice(0, 2)).toEqual([`bind ${layout.addresses[lb.node]}:6432`, "maxconn 3000"]);
      expect(byName("pooled_replicas").lines).toContain("maxconn 3000");
      expect(sections.find((x) => x.kind === "global")!.lines).toContain("maxconn 10096"); // 4096 for the direct endpoints + 2 × 3000
      expect(servers("pooled_primary")).toEqual(["db1", "db2", "db3"].map((m) => `server ${m} ${layout.addresses[m]}:6432 track primary/${m}`));
      expect(byName("pooled_replicas").lines).toEqual(expect.arrayContaining([`bind ${layout.addresses[lb.node]}:6433`, "default_backend pooled_replicas_fallback_leader"]));
      const pooledReplicas = sections.find((x) => x.kind === "backend" && x.name === "pooled_replicas")!;
      expect(pooledReplicas.lines.filter((l) => l.startsWith("server ")).map((l) => l.split(" ").pop())).toEqual(["replicas/db1", "replicas/db2", "replicas/db3"]);
      expect(servers("pooled_replicas_fallback_leader").map((l) => l.split(" ").pop())).toEqual(["replicas_fallback_leader/db1", "replicas_fallback_leader/db2", "replicas_fallback_leader/db3"]);
      // Off (the default): no pooler files, no pooled endpoints.
      const off = specFor("prod");
      const offBundles = renderAll(off, sandboxLayout(off));
      expect(offBundles.flatMap((b) => b.files.map((f) => f.path)).filter((p) => p.includes("pgbouncer"))).toEqual([]);
      expect(parseHaproxy(fileOf(offBundles.find((b) => b.role === "haproxy")!, NODE_PATHS.haproxyConfig)).map((x) => x.name).filter((n) => n.startsWith("pooled"))).toEqual([]);
    });

    it("haproxy check timing: a DOWN server (a replica just promoted) is checked every fastinter, not every inter", () => {
      for (const [stack, inter, fast] of [["prod", 1000, 500], ["staging", 2000, 1000]] as const) {
        const s = specFor(stack);
        expect(s.haproxy.checkIntervalMs).toBe(inter);
        const lb = renderAll(s, sandboxLayout(s)).find((b) => b.role === "haproxy")!;
        const defaults = parseHaproxy(fileOf(lb, NODE_PATHS.haproxyConfig)).find((x) => x.kind === "defaults")!;
        expect(defaults.lines).toContain(`default-server inter ${inter}ms fastinter ${fast}ms downinter ${fast}ms fall ${s.haproxy.fall} rise ${s.haproxy.rise} on-marked-down shutdown-sessions`);
      }
      // Never below 200 ms, however short inter is.
      const quick = specFor("staging", { haproxy: { checkIntervalMs: 200 } });
      const lb = renderAll(quick, sandboxLayout(quick)).find((b) => b.role === "haproxy")!;
      expect(fileOf(lb, NODE_PATHS.haproxyConfig)).toContain("default-server inter 200ms fastinter 200ms downinter 200ms");
    });

    it("haproxy: 5000 → /primary, 5001 → /replica with fallback to the leader, stats on the private address", () => {
      for (const b of lbs) {
        const sections = parseHaproxy(fileOf(b, NODE_PATHS.haproxyConfig));
        const byName = (n: string) => sections.find((s) => s.name === n)!;
        const servers = (s: { lines: string[] }) => s.lines.filter((l) => l.startsWith("server ")).map((l) => l.split(/\s+/)[1]);
        const members = db.map((m) => m.node);
        expect(byName("primary").lines).toContain(`bind ${addr(b.node)}:5000`);
        expect(byName("primary").lines).toContain("http-check send meth OPTIONS uri /primary");
        expect(servers(byName("primary"))).toEqual(members);
        expect(byName("replicas").kind).toBe("frontend");
        expect(byName("replicas").lines).toContain(`bind ${addr(b.node)}:5001`);
        expect(byName("replicas").lines).toContain("default_backend replicas_fallback_leader");
        const replicaBackend = sections.find((s) => s.kind === "backend" && s.name === "replicas")!;
        // Only replicas within the lag bound (the tier's default, 100 MiB unless the stack says otherwise).
        expect(replicaBackend.lines).toContain(`http-check send meth OPTIONS uri /replica?lag=${spec.haproxy.readOnlyMaxLagBytes}`);
        expect(servers(replicaBackend)).toEqual(members);
        expect(byName("replicas_fallback_leader").lines).toContain("http-check send meth OPTIONS uri /primary");
        expect(byName("stats").lines).toContain(`bind ${addr(b.node)}:7000`);
        expect(byName("stats").lines.some((l) => l.startsWith("stats auth") && l.includes("${PGHA_STATS_PASSWORD}"))).toBe(true);
        for (const l of byName("primary").lines.filter((x) => x.startsWith("server "))) {
          expect(l).toContain("check port 8008");
          if (spec.tls.enabled) expect(l).toMatch(/check-ssl verify required ca-file \S+ crt \S+ verifyhost db\d/);
        }
      }
    });

    it("pgbackrest.conf: S3 repository, time-based retention, async archiving", () => {
      for (const b of db) {
        const ini = parseIni(fileOf(b, NODE_PATHS.pgbackrestConf));
        const g = ini.global;
        expect(g["repo1-type"]).toBe("s3");
        expect(g["repo1-s3-bucket"]).toBe(spec.backup.bucketName);
        expect(g["repo1-path"]).toBe(spec.backup.repoPath);
        expect(g["repo1-retention-full-type"]).toBe("time");
        expect(g["repo1-retention-full"]).toBe(String(spec.backup.fullRetentionDays));
        expect(g["archive-async"]).toBe("y");
        expect(g["spool-path"]).toBeDefined();
        expect(JSON.stringify(ini)).not.toMatch(/cipher-pass|key-secret/);
        if (layout.kind === "ec2") {
          expect(g["repo1-s3-key-type"]).toBe("auto");
          expect(g["repo1-s3-kms-key-id"]).toBe(spec.names.kmsAlias);
          expect(g["repo1-s3-endpoint"]).toBe(`s3.${spec.region}.amazonaws.com`);
        } else {
          expect(g["repo1-s3-key-type"]).toBe("shared");
          expect(g["repo1-storage-ca-file"]).toBe("/run/pgha-aws/ca.pem");
        }
        expect(g["repo1-cipher-type"]).toBe(spec.backup.repoEncryption ? "aes-256-cbc" : undefined);
        expect(ini[spec.scope]["pg1-path"]).toBe(NODE_PATHS.dataDir);
      }
    });

    it("cron: valid lines, full backup at 02:00 daily, weekly logical, jobs run as postgres", () => {
      for (const b of db) {
        const lines = parseCronD(fileOf(b, NODE_PATHS.cron));
        expect(lines.every(cronFieldsValid)).toBe(true);
        expect(lines.every((l) => l.user === "postgres")).toBe(true);
        const full = lines.find((l) => l.command.includes("pgha-backup full"))!;
        expect([full.minute, full.hour, full.dayOfMonth, full.month, full.dayOfWeek]).toEqual(["0", "2", "*", "*", "*"]);
        const logical = lines.find((l) => l.command.includes("pgha-backup logical"))!;
        expect(logical.dayOfWeek).not.toBe("*");
        expect(lines.some((l) => l.command.includes("pgha-backup drill"))).toBe(true);
      }
    });

    it("user-data is a small bootstrap, the same shape on every node: it names the node and its bundles, nothing else", () => {
      for (const b of bundles) {
        const cc = parseYaml(b.cloudConfig);
        expect(b.cloudConfig.startsWith("#cloud-config\n")).toBe(true);
        expect(cc.hostname).toBe(b.node);
        // On EC2 a PostgreSQL node also gets postgresql-common's setting before its packages
        // install: no "main" cluster (the sandbox image is built with the same file).
        const role = spec.nodes.find((n) => n.name === b.node)!.role;
        const createcluster = layout.kind === "ec2" && role === "postgres" ? ["/etc/postgresql-common/createcluster.d/pgha.conf"] : [];
        expect(cc.write_files.map((f: { path: string }) => f.path)).toEqual([NODE_PATHS.bootstrapEnv, NODE_PATHS.awsEnv, NODE_PATHS.bootstrap, ...createcluster]);
        if (createcluster.length) expect(cc.write_files[3].content).toBe("create_main_cluster = false\n");
        const env = Object.fromEntries(parseIni(`[x]\n${cc.write_files[0].content}`).x ? Object.entries(parseIni(`[x]\n${cc.write_files[0].content}`).x) : []);
        expect(env).toMatchObject({ PGHA_NODE: b.node, PGHA_CLUSTER: spec.scope, PGHA_BUNDLES_URI: `s3://${spec.backup.bucketName}/bundles/${spec.clusterName}` });
        // The bootstrap is the node software's own file, verbatim.
        expect(cc.write_files[2].content).toBe(nodeSoftwareFile(NODE_PATHS.bootstrap));
        expect(cc.write_files[2].permissions).toBe("0755");
        expect(cc.runcmd).toEqual([[NODE_PATHS.bootstrap]]);
        expect(gunzipSync(b.userDataGzip).toString()).toBe(b.cloudConfig);
        // A few KiB whatever the stack holds (EC2 allows 16 KiB): the files travel in the bundle.
        expect(b.userDataGzip.length).toBeLessThan(4 * 1024);
        expect(Boolean(cc.packages)).toBe(layout.kind === "ec2");
        if (layout.kind === "ec2") {
          expect(cc.packages).toEqual(expect.arrayContaining(["postgresql-17", "patroni", "python3-etcd", "etcd-server", "haproxy", "pgbackrest", "e2fsprogs", "prometheus-node-exporter"]));
          // The monitoring node's packages (`@monitor` in the list) only on a monitor node.
          const monitor = spec.nodes.find((n) => n.name === b.node)!.role === "monitor";
          expect([b.node, cc.packages.filter((p: string) => p === "prometheus" || p === "prometheus-alertmanager")]).toEqual([b.node, monitor ? ["prometheus", "prometheus-alertmanager"] : []]);
        }
      }
    });

    it("each bundle is a content-addressed archive of its manifest and files, naming the node software it runs", () => {
      const software = nodeSoftware();
      for (const b of bundles) {
        expect(b.hash).toBe(sha256(b.archive));
        const unpacked = unpackNodeBundle(b.archive);
        expect(unpacked.manifest).toEqual(b.manifest);
        expect(unpacked.manifest).toMatchObject({ format: 1, cluster: spec.scope, stack: spec.stack, node: b.node, role: b.role });
        expect(unpacked.manifest.software.sha256).toBe(software.sha256);
        expect([...unpacked.files.keys()]).toEqual(b.files.map((f) => f.path));
        for (const f of b.files) {
          expect(unpacked.files.get(f.path)!.content).toBe(f.content);
          for (const a of f.onChange) expect(CHANGE_ACTIONS).toContain(a);
        }
        // Scripts are node software, not configuration: no executable travels in a bundle.
        expect(b.files.filter((f) => f.mode !== "0644")).toEqual([]);
      }
    });

    it("what a change does on a running node is decided here: reloads live, restarts only ever pending", () => {
      const actions = (b: NodeBundle, p: string) => b.files.find((f) => f.path === p)!.onChange;
      for (const b of db) {
        expect(actions(b, NODE_PATHS.patroniConfig)).toEqual(["patroni-reload"]);
        expect(actions(b, NODE_PATHS.dynamicFile)).toEqual(["patroni-dynamic"]);
        expect(actions(b, NODE_PATHS.cron)).toEqual(["cron"]);
        expect(actions(b, NODE_PATHS.pgbackrestConf)).toEqual([]);
        expect(actions(b, "/etc/systemd/system/patroni.service.d/pgha.conf")).toEqual(["systemd", "patroni-restart"]);
      }
      for (const b of etcd) expect(actions(b, NODE_PATHS.etcdConfig)).toEqual(["etcd-restart"]);
      for (const b of etcd) expect(actions(b, NODE_PATHS.etcdMembers)).toEqual(["etcd-members"]);
      for (const b of lbs) expect(actions(b, NODE_PATHS.haproxyConfig)).toEqual(["haproxy-reload"]);
    });

    it("secrets are never in rendered files: nodes fetch them from Secrets Manager by name", () => {
      for (const b of bundles) {
        const env = fileOf(b, NODE_PATHS.nodeEnv);
        expect(env).toContain(`PGHA_NODE_SECRET=${spec.names.nodeSecret[b.node]}`);
        if (b.role === "postgres") expect(env).toContain(`PGHA_CLUSTER_SECRET=${spec.names.clusterSecret}`);
        for (const text of [b.cloudConfig, ...b.files.map((f) => f.content)]) expect(text).not.toMatch(/BEGIN [A-Z ]*PRIVATE KEY|password\s*[:=]\s*\S{8,}/i);
      }
    });
  });

  it("EC2 and sandbox bundles differ only where the layout differs", () => {
    const ec2 = renderAll(spec, ec2Layout(spec));
    const sbx = renderAll(spec, sandboxLayout(spec));
    const e = ec2Layout(spec);
    const s = sandboxLayout(spec);
    // Replace every layout value by a token; what remains must be identical, line for line,
    // except the lines that carry a layout field by name (anchored: nothing else is dropped).
    const LAYOUT_LINES = [
      /^PGHA_(LAYOUT|SSM_AGENT_URL|S3_SSE_KMS_KEY)=/,
      /^repo1-(s3-key-type|s3-uri-style|storage-ca-file|s3-kms-key-id)=/,
      // pgbackrest.conf's comment on where its secrets come from (instance role vs. keys).
      /^# (Secrets \(|written at boot from the secret store|No secret is needed: S3 access comes from the instance role)/,
      // Patroni's watchdog: softdog on EC2, none in the sandbox (one kernel for every host).
      /^  mode: "(off|automatic|required)"$/,
      /^  (device: \/dev\/watchdog|safety_margin: \d+)$/,
      // Alertmanager's SNS API: AWS's own for the region on EC2; moto's, verified by the sandbox's CA.
      /^ {8}api_url: https:\/\/aws\.sandbox\.internal$/,
      /^ {8}http_config:$/,
      /^ {10}tls_config:$/,
      /^ {12}ca_file: \/run\/pgha-aws\/ca\.pem$/,
    ];
    const normalise = (text: string, l: Layout) => {
      let t = text;
      const pairs: [string, string][] = [
        ...Object.entries(l.addresses).map(([n, a]) => [a, `<addr:${n}>`] as [string, string]),
        ...l.clientCidrs.map((c, i) => [c, `<clients:${i}>`] as [string, string]),
        [l.s3.endpoint, "<s3>"],
      ];
      for (const [from, to] of pairs.sort((a, b) => b[0].length - a[0].length)) t = t.split(from).join(to);
      return t
        .split("\n")
        // pg_hba's direct-client rules exist only where the layout has client networks.
        .filter((line) => !line.includes("<clients:"))
        .map((line) => line.replace(/,$/, ""))
        .filter((line) => !LAYOUT_LINES.some((re) => re.test(line)))
        .join("\n");
    };
    for (const [i, b] of ec2.entries()) {
      const other = sbx[i];
      const layoutOnly = (p: string) => p === NODE_PATHS.extraHosts || p === NODE_PATHS.watchdogModules;
      const ePaths = b.files.map((f) => f.path).filter((p) => !layoutOnly(p));
      const sPaths = other.files.map((f) => f.path).filter((p) => !layoutOnly(p));
      expect(sPaths).toEqual(ePaths);
      for (const p of ePaths) {
        expect(`${b.node}:${p}\n${normalise(fileOf(other, p), s)}`).toBe(`${b.node}:${p}\n${normalise(fileOf(b, p), e)}`);
      }
    }
  });
});

describe("invariants for every valid config (property tests)", () => {
  const arbConfig = fc.record({
    tier: fc.constantFrom("dev", "staging", "prod"),
    nodes: fc.integer({ min: 1, max: 9 }),
    etcd: fc.constantFrom(3, 5, 7),
    haproxy: fc.integer({ min: 1, max: 5 }),
    azs: fc.integer({ min: 1, max: 6 }),
    tls: fc.boolean(),
    sync: fc.constantFrom("off", "on", "strict", "quorum"),
  });

  it("each member's pg_hba admits replication from every other member and from nothing else; etcd members agree; HAProxy backends = members", () => {
    fc.assert(
      fc.property(arbConfig, (a) => {
        const sync = a.nodes < 2 || (a.sync === "quorum" && a.nodes < 3) ? "off" : a.sync;
        const spec = specFor(a.tier, {
          postgres: { nodes: a.nodes, syncMode: sync },
          etcd: { nodes: a.etcd },
          haproxy: { nodes: a.haproxy },
          network: { availabilityZones: a.azs },
          tls: { enabled: a.tls },
          objectives: { failoverRpoSeconds: sync === "off" ? 60 : 0 },
        });
        for (const layout of [ec2Layout(spec), sandboxLayout(spec)]) {
          const members = nodesOf(spec, "postgres").map((n) => layout.addresses[n.name]);
          const others = spec.nodes.filter((n) => n.role !== "postgres").map((n) => layout.addresses[n.name]);
          const rules = parseHba(dynamicConfig(spec, layout).postgresql.pg_hba).filter((r) => r.database === "replication" && r.type !== "local");
          const admits = (ip: string) => rules.some((r) => r.method === "scram-sha-256" && inCidr(ip, r.address!));
          for (const m of members) if (!admits(m)) return false;
          for (const o of others) if (admits(o)) return false;
          if (admits(layout.kind === "ec2" ? "192.0.2.1" : "10.88.0.254")) return false;

          const bundles = renderAll(spec, layout);
          const initial = bundles.filter((b) => b.role === "etcd").map((b) => fileOf(b, NODE_PATHS.etcdMembers));
          if (new Set(initial).size !== 1 || initial[0].split("\n").filter((l) => /^etcd\d+=/.test(l)).length !== a.etcd) return false;
          for (const lb of bundles.filter((b) => b.role === "haproxy")) {
            const servers = parseHaproxy(fileOf(lb, NODE_PATHS.haproxyConfig))
              .filter((s) => s.name === "primary")[0]
              .lines.filter((l) => l.startsWith("server "))
              .map((l) => l.split(/\s+/)[2].split(":")[0]);
            if (servers.join() !== members.join()) return false;
          }
          // Every node address is unique and inside its subnet.
          if (new Set(Object.values(layout.addresses)).size !== spec.nodes.length) return false;
          if (layout.kind === "ec2" && !spec.nodes.every((n) => inCidr(n.privateIp, spec.network.subnets[n.subnetIndex].cidr))) return false;
          if (bundles.some((b) => b.userDataGzip.length >= 16 * 1024)) return false;
        }
        return true;
      }),
      { numRuns: 60 },
    );
  });

  it("a stack with 300 custom PostgreSQL parameters renders; its user-data does not grow", () => {
    const parameters = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`pgha_custom.setting_${i}`, `value-${i}`]));
    const big = specFor("prod", { postgres: { parameters } });
    const small = specFor("prod");
    for (const n of big.nodes) {
      const b = renderBundle(big, n.name, ec2Layout(big));
      expect(b.userDataGzip.length).toBe(renderBundle(small, n.name, ec2Layout(small)).userDataGzip.length);
      if (n.role === "postgres") expect(Object.keys(JSON.parse(fileOf(b, NODE_PATHS.dynamicFile)).postgresql.parameters).filter((k) => k.startsWith("pgha_custom."))).toHaveLength(300);
    }
  });

  it("nodes are spread round-robin over the subnets", () => {
    const spec = specFor("prod");
    for (const role of ["postgres", "etcd"] as const) {
      expect(new Set(nodesOf(spec, role).map((n) => n.subnetIndex)).size).toBe(3);
    }
  });

  it("user parameter overrides land in the DCS; null removes a derived one", () => {
    const spec = specFor("prod", { postgres: { parameters: { max_connections: 250, huge_pages: null, log_statement: "ddl" } } });
    const p = dynamicConfig(spec, ec2Layout(spec)).postgresql.parameters;
    expect(p.max_connections).toBe("250");
    expect(p.log_statement).toBe("ddl");
    expect(p.huge_pages).toBeUndefined();
  });

  it("a cascading member carries replicatefrom; other members do not", () => {
    const spec = specFor("staging", { postgres: { members: { db3: { replicatefrom: "db2", nofailover: true } } } });
    const tags = (n: string) => parseYaml(fileOf(renderBundle(spec, n, ec2Layout(spec)), NODE_PATHS.patroniConfig)).tags;
    expect(tags("db3")).toMatchObject({ replicatefrom: "db2", nofailover: true });
    expect(tags("db2").replicatefrom).toBeUndefined();
  });

  it("rendering is deterministic, including the gzip bytes and the bundle archives", () => {
    const spec = specFor("prod");
    const a = renderAll(spec, ec2Layout(spec));
    const b = renderAll(spec, ec2Layout(spec));
    expect(a.map((x) => x.userDataGzip.toString("base64"))).toEqual(b.map((x) => x.userDataGzip.toString("base64")));
    expect(a.map((x) => x.hash)).toEqual(b.map((x) => x.hash));
  });

  it("memory settings follow the instance type", () => {
    const small = dynamicConfig(specFor("dev"), ec2Layout(specFor("dev"))).postgresql.parameters;
    const big = dynamicConfig(specFor("prod"), ec2Layout(specFor("prod"))).postgresql.parameters;
    expect(small.shared_buffers).toBe("1GB"); // t4g.medium: 4 GiB
    expect(big.shared_buffers).toBe("4GB"); // r7g.large: 16 GiB
    expect(big.effective_cache_size).toBe("12GB");
  });
});
