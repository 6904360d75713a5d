// pgha-dynamic against a fake Patroni REST API: show, diff, apply (from the bundle's file or
// stdin), pending; dynamic.json is the DCS's configuration only once the DCS accepted it.
import { fakeNodes, type FakeNode } from "./harness";
import { asDevNode } from "./fixtures";

jest.setTimeout(120_000); // real processes: seconds each on a busy machine
const node = fakeNodes();

const DCS = { loop_wait: 10, ttl: 30, postgresql: { parameters: { max_connections: 200 } } };
const WANT = { loop_wait: 10, ttl: 30, postgresql: { parameters: { max_connections: 300 } } };

function db1(): FakeNode {
  const n = asDevNode(node(), "db1");
  n.write("/etc/pgha/restapi.curlrc", 'user = "patroni:x"\n', 0o600);
  n.write("/etc/patroni/dynamic.json", JSON.stringify(DCS, null, 2) + "\n");
  return n.http("GET", "/config", DCS).http("PUT", "/config", WANT);
}

describe("pgha-dynamic", () => {
  it("show prints the DCS configuration, keys sorted", () => {
    const r = db1().run("pgha-dynamic", ["show"]);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(DCS);
    expect(r.stdout.indexOf('"loop_wait"')).toBeLessThan(r.stdout.indexOf('"postgresql"'));
  });

  it("diff shows what apply would change, or says there is nothing", () => {
    const n = db1();
    expect(n.run("pgha-dynamic", ["diff"]).stdout).toContain("pgha-dynamic: the DCS already has this configuration");
    n.write("/tmp/want.json", JSON.stringify(WANT));
    const r = n.run("pgha-dynamic", ["diff", n.path("/tmp/want.json")]);
    expect(r.stdout).toMatch(/-\s+"max_connections": 200\n\+\s+"max_connections": 300/);
    expect(n.httpRequest("PUT", "/config")).toBeUndefined();
  });

  it("apply PUTs the file with the REST API's credentials and TLS client certificate", () => {
    const n = db1();
    n.write("/etc/patroni/dynamic.json", JSON.stringify(WANT));
    const r = n.run("pgha-dynamic", ["apply"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("pgha-dynamic: applied; reloadable settings take effect within loop_wait");
    expect(JSON.parse(n.httpRequest("PUT", "/config")!)).toEqual(WANT);
    const put = n.calls("curl").find((c) => c.includes("PUT"))!;
    expect(put).toEqual(expect.arrayContaining(["--fail", "-K", n.path("/etc/pgha/restapi.curlrc"), "--cacert", n.path("/etc/pgha/tls/ca.crt"), "--cert", n.path("/etc/pgha/tls/node.crt"), "https://10.20.0.10:8008/config"]));
  });

  it("apply of what the DCS already has sends nothing", () => {
    const n = db1();
    const r = n.run("pgha-dynamic", ["apply"]);
    expect([r.status, r.stdout]).toEqual([0, "pgha-dynamic: no change\n"]);
    expect(n.httpRequest("PUT", "/config")).toBeUndefined();
  });

  it("apply - stores the JSON as dynamic.json once the PUT succeeded", () => {
    const n = db1();
    const r = n.run("pgha-dynamic", ["apply", "-"], { input: JSON.stringify(WANT) });
    expect(r.status).toBe(0);
    expect(JSON.parse(n.httpRequest("PUT", "/config")!)).toEqual(WANT);
    expect(JSON.parse(n.read("/etc/patroni/dynamic.json"))).toEqual(WANT);
    expect(n.mode("/etc/patroni/dynamic.json")).toBe("0644");
    expect(n.leftInTmp()).toEqual([]);
  });

  it("apply - with a failing PUT leaves dynamic.json as it was and exits 1", () => {
    const n = db1().http("PUT", "/config", "Service Unavailable", 503);
    const before = n.read("/etc/patroni/dynamic.json");
    const r = n.run("pgha-dynamic", ["apply", "-"], { input: JSON.stringify(WANT) });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("PUT /config failed: the DCS keeps its previous configuration");
    expect(n.read("/etc/patroni/dynamic.json")).toBe(before);
    expect(n.leftInTmp()).toEqual([]);
  });

  it("apply refuses what is not a JSON object, and fails when Patroni does not answer", () => {
    const n = db1();
    const r = n.run("pgha-dynamic", ["apply", "-"], { input: "[1, 2]" });
    expect([r.status, r.stderr]).toEqual([2, expect.stringContaining("- is not a JSON object")]);
    expect(n.httpRequest("PUT", "/config")).toBeUndefined();
    const down = asDevNode(node(), "db1");
    down.write("/etc/patroni/dynamic.json", JSON.stringify(WANT));
    const d = down.run("pgha-dynamic", ["apply"]);
    expect([d.status, d.stderr]).toEqual([1, expect.stringContaining("Patroni's REST API does not answer on https://10.20.0.10:8008 (systemctl status patroni)")]);
  });

  it("pending lists the members waiting for a restart", () => {
    const n = db1().http("GET", "/cluster", { members: [{ name: "db1", pending_restart: true }, { name: "db2" }, { name: "db3", pending_restart: true }] });
    const r = n.run("pgha-dynamic", ["pending"]);
    expect([r.status, r.stdout]).toEqual([0, "db1\ndb3\n"]);
  });

  it("without a command it prints its usage and exits 2", () => {
    const r = db1().run("pgha-dynamic");
    expect(r.status).toBe(2);
    expect(r.stdout).toContain("pgha-dynamic apply [FILE|-]");
  });
  describe("standby_cluster follows the DCS, never the file", () => {
    const FOLLOWING = { host: "rw.orders.pgha.internal", port: 5000, primary_slot_name: "standby_prod_dr" };
    const withDcs = (dcs: object) => {
      const n = asDevNode(node(), "db1");
      n.write("/etc/pgha/restapi.curlrc", 'user = "patroni:x"\n', 0o600);
      n.write("/etc/patroni/dynamic.json", JSON.stringify(dcs, null, 2) + "\n");
      return n.http("GET", "/config", dcs).http("PUT", "/config", {});
    };

    it("a promoted cluster (no standby_cluster in the DCS) is not demoted by a file that still has one", () => {
      const n = withDcs(DCS);
      const r = n.run("pgha-dynamic", ["apply", "-"], { input: JSON.stringify({ ...WANT, standby_cluster: FOLLOWING }) });
      expect(r.status).toBe(0);
      expect(JSON.parse(n.httpRequest("PUT", "/config")!)).toEqual(WANT);
      expect(r.stderr).toContain("the cluster was promoted");
    });

    it("a fenced cluster (standby_cluster in the DCS) is not promoted by a file without one", () => {
      const n = withDcs({ ...DCS, standby_cluster: FOLLOWING });
      const r = n.run("pgha-dynamic", ["apply", "-"], { input: JSON.stringify(WANT) });
      expect(r.status).toBe(0);
      expect(JSON.parse(n.httpRequest("PUT", "/config")!)).toEqual({ ...WANT, standby_cluster: FOLLOWING });
      expect(r.stderr).toContain("the cluster follows rw.orders.pgha.internal");
    });

    it("a standby cluster's new standby_cluster (its primary moved) is applied", () => {
      const moved = { ...FOLLOWING, host: "10.20.0.5" };
      const n = withDcs({ ...DCS, standby_cluster: FOLLOWING });
      expect(n.run("pgha-dynamic", ["apply", "-"], { input: JSON.stringify({ ...WANT, standby_cluster: moved }) }).status).toBe(0);
      expect(JSON.parse(n.httpRequest("PUT", "/config")!)).toEqual({ ...WANT, standby_cluster: moved });
    });
  });
});
