// pooler.enabled on AWS (mocks): the pooled endpoints' NLB listeners and target groups, the
// security-group rules (clients → 6432/6433 as for 5000/5001, HAProxy → PgBouncer 6432 on the
// members and nothing else), the endpoints output; PgBouncer's files in every PostgreSQL bundle
// and in no other; off, none of it.
import { readTar } from "../../src/bundle/tar";
import { TYPES, runProgram, type ProgramRun } from "../helpers/mocks";

jest.setTimeout(120_000);

let on: ProgramRun;
let off: ProgramRun;
beforeAll(async () => {
  on = await runProgram({ stack: "prod" }); // Pulumi.prod.yaml turns the pooler on
  off = await runProgram({ stack: "prod", overrides: { pooler: { enabled: false } } });
  if (on.error) throw on.error;
  if (off.error) throw off.error;
});

const rulesOf = (run: ProgramRun, port: number) => {
  const role = new Map(run.ofType(TYPES.securityGroup).map((g) => [g.id, g.inputs.tags["pgha:role"]]));
  return run.ofType(TYPES.ingress)
    .filter((r) => r.inputs.fromPort === port)
    .map((r) => `${role.get(r.inputs.securityGroupId)} ← ${r.inputs.cidrIpv4 ?? role.get(r.inputs.referencedSecurityGroupId)}`)
    .sort();
};

describe("the pooled endpoints on AWS (pooler.enabled)", () => {
  test("ports 6432 and 6433: NLB listeners and target groups; clients reach them where they reach 5000/5001", () => {
    expect(on.ofType(TYPES.listener).map((l) => l.inputs.port).sort()).toEqual([5000, 5001, 6432, 6433]);
    expect(on.ofType(TYPES.targetGroup).map((t) => t.inputs.port).sort()).toEqual([5000, 5001, 6432, 6433]);
    expect(off.ofType(TYPES.listener).map((l) => l.inputs.port).sort()).toEqual([5000, 5001]);
    const direct = rulesOf(on, 5000);
    expect(direct).toContain("haproxy ← loadBalancer");
    // 6432 also lands on the members (PgBouncer), from HAProxy only.
    expect(rulesOf(on, 6432)).toEqual([...direct, "postgres ← haproxy"].sort());
    expect(rulesOf(on, 6433)).toEqual(rulesOf(on, 5001));
    expect(rulesOf(off, 6432)).toEqual([]);
    expect(rulesOf(off, 6433)).toEqual([]);
  });

  test("the endpoints output names them on the rw and ro names", () => {
    expect(on.stackOutputs.endpoints.pooledReadWrite).toEqual({ host: "rw.orders.pgha.internal", port: 6432 });
    expect(on.stackOutputs.endpoints.pooledReadOnly).toEqual({ host: "ro.orders.pgha.internal", port: 6433 });
    expect(off.stackOutputs.endpoints.pooledReadWrite).toBeUndefined();
  });

  test("PgBouncer's configuration reaches every PostgreSQL node's bundle and no other; it holds no password", () => {
    // node → its bundle's files (path → text), from the bundle objects the program uploads.
    const bundleFiles = (run: ProgramRun) => {
      const out = new Map<string, Map<string, string>>();
      for (const o of run.ofType(TYPES.bucketObject).filter((x) => x.name.endsWith("-bundle"))) {
        const node = /-(\w+)-bundle$/.exec(o.name)![1];
        out.set(node, new Map(readTar(Buffer.from(o.inputs.contentBase64, "base64")).map((e) => [e.path, e.content.toString()])));
      }
      return out;
    };
    const bundles = bundleFiles(on);
    expect(bundles.size).toBeGreaterThan(0);
    const withPooler = [...bundles].filter(([, files]) => files.has("files/etc/pgbouncer/pgha.ini")).map(([n]) => n).sort();
    expect(withPooler).toEqual(["db1", "db2", "db3"]);
    for (const [, files] of bundles) {
      const ini = files.get("files/etc/pgbouncer/pgha.ini");
      if (!ini) continue;
      expect(ini).not.toMatch(/auth_file|password\s*=/i);
    }
    expect([...bundleFiles(off)].filter(([, files]) => files.has("files/etc/pgbouncer/pgha.ini"))).toEqual([]);
  });
});
