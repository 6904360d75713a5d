// postgres.roles and postgres.databases on AWS (mocks): one Secrets Manager secret per login
// role, readable only by the PostgreSQL nodes; no password in user-data, in a node's bundle or in
// the stack outputs; a new passwordVersion generates a new password; the rollout waits for it.
import { gunzipSync } from "zlib";
import { readTar } from "../../src/bundle/tar";
import { TYPES, policyOf, runProgram, specOf, type ProgramRun } from "../helpers/mocks";

jest.setTimeout(120_000);

const access = {
  databases: { shop: { owner: "shop_owner", extensions: ["pg_trgm"] } },
  roles: { shop_owner: { login: false }, shop_app: { grants: { shop: "readWrite" } }, shop_ro: { grants: { shop: "readOnly" }, passwordVersion: 2 }, old_app: { absent: true } },
};

let run: ProgramRun;
beforeAll(async () => {
  run = await runProgram({ stack: "staging", overrides: { postgres: access } });
  if (run.error) throw run.error;
});

describe("declared login roles on AWS", () => {
  test("one secret per login role, named by the spec, holding the RDS-shaped document; none for a group or an absent role", () => {
    const spec = specOf(run);
    expect(spec.names.roleSecret).toEqual({ shop_app: "postgres-ha/staging/main/role/shop_app", shop_ro: "postgres-ha/staging/main/role/shop_ro" });
    const secrets = run.ofType(TYPES.secret).filter((s) => s.inputs.name.includes("/role/"));
    expect(secrets.map((s) => s.inputs.name).sort()).toEqual(Object.values(spec.names.roleSecret).sort());
    for (const [role, name] of Object.entries(spec.names.roleSecret)) {
      const secret = secrets.find((s) => s.inputs.name === name)!;
      expect(secret.inputs.kmsKeyId).toBe(run.ofType(TYPES.kmsKey)[0].state.arn);
      const version = run.ofType(TYPES.secretVersion).find((v) => v.parent === secret.urn)!;
      expect(version.secretPaths).toContain("secretString");
      const doc = JSON.parse(version.inputs.secretString);
      const password = run.ofType(TYPES.randomPassword).find((p) => p.name === `${spec.names.prefix}-role-${role}`)!;
      expect(doc).toEqual({ engine: "postgres", username: role, password: password.state.result, host: spec.serviceNames.readWrite, port: 5000, dbname: "shop", passwordVersion: role === "shop_ro" ? 2 : 1 });
      expect(password.inputs).toMatchObject({ length: 32, special: false, keepers: { passwordVersion: String(doc.passwordVersion) } });
    }
  });

  test("only the PostgreSQL nodes may read the role secrets", () => {
    const spec = specOf(run);
    const arns = run.ofType(TYPES.secret).filter((s) => s.inputs.name.includes("/role/")).map((s) => s.state.arn);
    expect(arns).toHaveLength(2);
    for (const n of spec.nodes) {
      const policy = policyOf(run.ofType(TYPES.rolePolicy).find((p) => p.name === `${spec.names.prefix}-${n.name}-node`)!.inputs.policy);
      const readable: string[] = policy.Statement.find((s) => s.Sid === "ReadOwnSecrets").Resource;
      for (const arn of arns) expect([n.name, readable.includes(arn)]).toEqual([n.name, n.role === "postgres"]);
    }
  });

  test("no role password in user-data, in any bundle file or in the stack outputs; the outputs carry the ARNs", () => {
    const passwords = run.ofType(TYPES.randomPassword).filter((p) => p.name.includes("-role-")).map((p) => p.state.result as string);
    expect(passwords).toHaveLength(2);
    const texts: string[] = [JSON.stringify(run.stackOutputs)];
    for (const i of run.ofType(TYPES.instance)) texts.push(gunzipSync(Buffer.from(i.inputs.userDataBase64, "base64")).toString());
    for (const o of run.ofType(TYPES.bucketObject)) {
      if (o.inputs.key.endsWith(".tar")) for (const e of readTar(Buffer.from(o.inputs.contentBase64, "base64"))) texts.push(e.content.toString());
      else texts.push(String(o.inputs.content ?? Buffer.from(o.inputs.contentBase64 ?? "", "base64")));
    }
    expect(texts.join("\n")).toContain("/role/shop_app"); // the bundles were read: they name the secret
    for (const text of texts) for (const p of passwords) expect(text).not.toContain(p);
    expect(Object.keys(run.stackOutputs.secretArns.roles).sort()).toEqual(["shop_app", "shop_ro"]);
    expect(run.stackOutputs.secretArns.roles.shop_app).toMatch(/^arn:aws:secretsmanager:/);
  });

  test("the node's access declaration names the secrets, never a value; the rollout waits for the role secrets' versions", () => {
    const spec = specOf(run);
    expect(spec.access.roles.map((r) => [r.name, r.login, r.secret ?? null])).toEqual([
      ["shop_app", true, "postgres-ha/staging/main/role/shop_app"],
      ["shop_owner", false, null],
      ["shop_ro", true, "postgres-ha/staging/main/role/shop_ro"],
    ]);
    expect(spec.access.absentRoles).toEqual(["old_app"]);
    const command = run.resources.find((r) => r.type === "command:local:Command" && r.name.endsWith("-rollout"))!;
    const versions = run.ofType(TYPES.secretVersion).filter((v) => run.byUrn(v.parent)!.inputs.name?.includes("/role/")).map((v) => v.urn);
    expect(versions).toHaveLength(2);
    for (const v of versions) expect(command.options.dependencies).toContain(v);
  });
});

describe("the synchronous read endpoint on AWS (haproxy.synchronousReadOnly)", () => {
  let sync: ProgramRun;
  beforeAll(async () => {
    sync = await runProgram({ stack: "prod", overrides: { postgres: { syncMode: "on" }, haproxy: { synchronousReadOnly: true } } });
    if (sync.error) throw sync.error;
  });

  test("port 5002: an NLB listener and target group, the clients' ingress at the NLB, the NLB's to HAProxy; the endpoints output names it", () => {
    expect(run.ofType(TYPES.listener).map((l) => l.inputs.port)).not.toContain(5002); // off by default (staging above)
    const listeners = sync.ofType(TYPES.listener).map((l) => l.inputs.port).sort();
    expect(listeners).toEqual([5000, 5001, 5002, 6432, 6433]); // the prod example also runs the pooler
    expect(sync.ofType(TYPES.targetGroup).map((t) => t.inputs.port).sort()).toEqual([5000, 5001, 5002, 6432, 6433]);
    const role = new Map(sync.ofType(TYPES.securityGroup).map((g) => [g.id, g.inputs.tags["pgha:role"]]));
    const rules = sync.ofType(TYPES.ingress).filter((r) => r.inputs.fromPort === 5002).map((r) => `${role.get(r.inputs.securityGroupId)} ← ${r.inputs.cidrIpv4 ?? role.get(r.inputs.referencedSecurityGroupId)}`);
    // The same sources as the ro endpoint's, at the NLB; HAProxy takes 5002 only from the NLB.
    const rules5001 = sync.ofType(TYPES.ingress).filter((r) => r.inputs.fromPort === 5001).map((r) => `${role.get(r.inputs.securityGroupId)} ← ${r.inputs.cidrIpv4 ?? role.get(r.inputs.referencedSecurityGroupId)}`);
    expect(rules.sort()).toEqual(rules5001.sort());
    expect(rules).toContain("haproxy ← loadBalancer");
    expect(sync.stackOutputs.endpoints.synchronousReadOnly).toEqual({ host: "ro.orders.pgha.internal", port: 5002 });
    expect(run.stackOutputs.endpoints.synchronousReadOnly).toBeUndefined();
  });
});
