// Reading back what the program delivers (src/delivery): which bundle object a key names, the
// desired pointer, and — for `pgha diff` — what a change of a node's files does on the running
// node: live (reloads, the DCS, cron, timers) or pending a restart, from each file's onChange.
import { bundleKeys, bundlePrefix, CHANGE_ACTIONS, desiredPointer } from "../../src/bundle/format";
import { RESTART_ACTIONS, decodeNodeBundle, objectTexts, parseBundleKey, parseDesiredPointer } from "../../src/delivery/bundle-objects";
import { diffDeliveredFiles, nodeConvergence, SOFTWARE_NODE, type DeliveredNodes } from "../../src/plan/diff";
import { ec2Layout } from "../../src/layout";
import { renderBundle } from "../../src/render/bundle";
import { buildSpec } from "../../src/spec";
import { stackConfig } from "../helpers/mocks";
import { loadStackConfig } from "../../src/config/load";

const H1 = "a".repeat(64);
const H2 = "b".repeat(64);

describe("bundle object keys", () => {
  test("every key bundleKeys makes is read back as what it is", () => {
    const prefix = bundlePrefix("orders");
    expect(parseBundleKey(bundleKeys.bundle(prefix, "db1", H1))).toEqual({ kind: "node-bundle", key: `bundles/orders/nodes/db1/${H1}.tar`, cluster: "orders", node: "db1", hash: H1 });
    expect(parseBundleKey(bundleKeys.desired(prefix, "lb2"))).toEqual({ kind: "desired", key: "bundles/orders/nodes/lb2/desired.json", cluster: "orders", node: "lb2" });
    expect(parseBundleKey(bundleKeys.software(prefix, H2))).toEqual({ kind: "software", key: `bundles/orders/software/${H2}.tar`, cluster: "orders", hash: H2 });
  });

  test("other keys are not bundle objects", () => {
    for (const key of ["pgbackrest/orders/archive/x", "bundles/orders/nodes/db1/latest.tar", `bundles/orders/nodes/db1/${H1.slice(1)}.tar`, "bundles/orders/software/x.tar", `bundles/orders/nodes/a/b/${H1}.tar`, undefined, 3]) {
      expect(parseBundleKey(key)).toBeUndefined();
    }
  });

  test("a desired pointer round-trips; a malformed one says what is wrong", () => {
    expect(parseDesiredPointer(desiredPointer(H1, H2))).toEqual({ bundle: H1, software: H2 });
    expect(() => parseDesiredPointer("{")).toThrow("is not JSON");
    expect(() => parseDesiredPointer(JSON.stringify({ bundle: "abc", software: H2 }))).toThrow(/is not \{"bundle": <sha256>/);
  });

  test("a rendered bundle decodes to the manifest and files the render path made; every tar entry is scanned", () => {
    const spec = buildSpec(loadStackConfig(stackConfig("dev"), { stack: "dev" }), "dev");
    const b = renderBundle(spec, "db1", ec2Layout(spec));
    const decoded = decodeNodeBundle(b.archive);
    expect(decoded.sha256).toBe(b.hash);
    expect(decoded.manifest.node).toBe("db1");
    expect([...decoded.files.keys()].sort()).toEqual(b.files.map((f) => f.path).sort());
    const texts = objectTexts("node-bundle", b.archive);
    expect(texts.map((t) => t.where).sort()).toEqual(["manifest.json", ...b.files.map((f) => f.path)].sort());
  });
});

describe("what a change converges on a running node", () => {
  const file = (content: string, onChange: string[], source: "bundle" | "user-data" | "software" = "bundle") => ({ content, onChange, source });
  const base: DeliveredNodes = {
    db1: {
      bundle: H1,
      software: H1,
      files: {
        "/etc/patroni/config.d/config.yml": file("tags: {}\n", ["patroni-reload"]),
        "/etc/systemd/system/patroni.service.d/pgha.conf": file("[Service]\n", ["systemd", "patroni-restart"]),
        "/etc/pgbackrest/pgbackrest.conf": file("[global]\n", []),
        "/etc/pgha/bootstrap.env": file("PGHA_NODE=db1\n", [], "user-data"),
      },
    },
    etcd1: { bundle: H1, software: H1, files: { "/etc/etcd/pgha-etcd.yml": file("name: etcd1\n", ["etcd-restart"]) } },
    lb1: { bundle: H1, software: H1, files: { "/etc/haproxy/pgha.cfg": file("inter 1000ms\n", ["haproxy-reload"]) } },
    [SOFTWARE_NODE]: { software: H1, files: { "/usr/local/sbin/pgha-node": file("#!/bin/bash\n", [], "software") } },
  };

  test("restart actions are reported as needing a restart, everything else is live; user-data is first boot only", () => {
    const head: DeliveredNodes = structuredClone(base);
    head.db1.bundle = H2;
    head.db1.files["/etc/patroni/config.d/config.yml"].content = "tags: {nofailover: true}\n";
    head.db1.files["/etc/systemd/system/patroni.service.d/pgha.conf"].content = "[Service]\nTimeoutStopSec=60\n";
    head.db1.files["/etc/pgbackrest/pgbackrest.conf"].content = "[global]\nrepo1-retention-full=14\n";
    head.db1.files["/etc/pgha/bootstrap.env"].content = "PGHA_NODE=db1\nPGHA_X=1\n";
    head.etcd1.bundle = H2;
    head.etcd1.files["/etc/etcd/pgha-etcd.yml"].content = "name: etcd1\nheartbeat-interval: 200\n";
    const files = diffDeliveredFiles(base, head);
    expect(files.map((f) => `${f.node}:${f.path}:${f.change}`)).toEqual([
      "db1:/etc/patroni/config.d/config.yml:changed",
      "db1:/etc/pgbackrest/pgbackrest.conf:changed",
      "db1:/etc/pgha/bootstrap.env:changed",
      "db1:/etc/systemd/system/patroni.service.d/pgha.conf:changed",
      "etcd1:/etc/etcd/pgha-etcd.yml:changed",
    ]);
    expect(nodeConvergence(base, head, files)).toEqual([
      {
        node: "db1",
        bundle: { before: H1, after: H2 },
        software: { before: H1, after: H1 },
        live: [
          { action: "patroni-reload", paths: ["/etc/patroni/config.d/config.yml"] },
          { action: "installed (read at next use)", paths: ["/etc/pgbackrest/pgbackrest.conf"] },
          { action: "systemd", paths: ["/etc/systemd/system/patroni.service.d/pgha.conf"] },
        ],
        restart: [{ action: "patroni-restart", paths: ["/etc/systemd/system/patroni.service.d/pgha.conf"] }],
        firstBootOnly: ["/etc/pgha/bootstrap.env"],
        problems: [],
      },
      { node: "etcd1", bundle: { before: H1, after: H2 }, software: { before: H1, after: H1 }, live: [], restart: [{ action: "etcd-restart", paths: ["/etc/etcd/pgha-etcd.yml"] }], firstBootOnly: [], problems: [] },
    ]);
  });

  test("new node software: its files diff once, and every node installs it live", () => {
    const head: DeliveredNodes = structuredClone(base);
    for (const n of ["db1", "etcd1", "lb1"]) Object.assign(head[n], { bundle: H2, software: H2 });
    head[SOFTWARE_NODE] = { software: H2, files: { "/usr/local/sbin/pgha-node": file("#!/bin/bash\nset -euo pipefail\n", [], "software") } };
    const files = diffDeliveredFiles(base, head);
    expect(files.map((f) => `${f.node}:${f.path}`)).toEqual([`${SOFTWARE_NODE}:/usr/local/sbin/pgha-node`]);
    const nodes = nodeConvergence(base, head, files);
    expect(nodes.map((n) => [n.node, n.live, n.restart])).toEqual(
      ["db1", "etcd1", "lb1"].map((n) => [n, [{ action: "node software installed", paths: [`${H1.slice(0, 12)} → ${H2.slice(0, 12)}`] }], []]),
    );
  });

  test("the restart actions are the format's pending-restart actions", () => {
    for (const a of RESTART_ACTIONS) expect(CHANGE_ACTIONS).toContain(a);
    expect(CHANGE_ACTIONS.filter((a) => a.endsWith("-restart"))).toEqual([...RESTART_ACTIONS].sort((x, y) => CHANGE_ACTIONS.indexOf(x) - CHANGE_ACTIONS.indexOf(y)));
  });
});
