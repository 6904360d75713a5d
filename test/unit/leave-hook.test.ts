// The hook `pulumi up` runs before it deletes a PostgreSQL member's data-volume attachment
// (src/rollout/leave-hook.ts): `pgha-node leave` on that instance over SSM — without --stay when
// the member leaves the stack, with it when its instance is replaced — against a stub awscli that
// plays SSM Run Command here with a stub pgha-node. (`pgha-node leave` itself runs on booted hosts
// in test/integration/day2.test.ts.)
import { etcdHandoverBeforeDelete, leaveBeforeDelete, nodeOfAttachment } from "../../src/rollout/leave-hook";
import { ssmStub, type SsmStub } from "../helpers/ssm-stub";

jest.setTimeout(60_000);

let stub: SsmStub;
beforeEach(() => {
  stub = ssmStub({ offline: ["i-dead"] });
  // The node command: what it was asked, on which instance; `fail` in its arguments fails it.
  stub.command("pgha-node", `#!/bin/bash\nif [ "$PGHA_INSTANCE" = i-refuses ]; then echo "pgha-node: db4 leads and could not hand over: nothing was stopped" >&2; exit 1; fi\necho "{\\"node\\": \\"$PGHA_INSTANCE\\", \\"args\\": \\"$*\\"}"\n`);
});
afterEach(() => stub.remove());

const opts = (extra: Record<string, unknown> = {}) => ({ region: "eu-west-1", componentName: "orders-prod", stackNodes: ["db1", "db2", "db3"], pollMs: 5, env: {}, aws: `${stub.bin}/aws`, ...extra });
// (jest gives a test file its own copy of process.env: the stub awscli is named by path, and puts its bin first on PATH.)

describe("leave before an attachment is deleted", () => {
  it("names the member from the attachment `<component>-<node>-data`", () => {
    expect(nodeOfAttachment("orders-prod", "orders-prod-db4-data")).toBe("db4");
    expect(nodeOfAttachment("orders-prod", "orders-prod-db4")).toBeUndefined();
    expect(nodeOfAttachment("orders-prod", "other-db4-data")).toBeUndefined();
  });

  it("a member that left the stack: pgha-node leave (no --stay) on its instance", async () => {
    const out = await leaveBeforeDelete({ name: "orders-prod-db4-data", oldInputs: { instanceId: "i-0db4" } }, opts());
    expect(out).toMatchObject({ node: "db4", instanceId: "i-0db4", action: "left" });
    expect(stub.sent()).toEqual(["i-0db4: pgha-node leave --json"]);
    expect(stub.calls().some((c) => c.startsWith("ssm send-command --region eu-west-1 --instance-ids i-0db4 --document-name AWS-RunShellScript"))).toBe(true);
  });

  it("a member still in the stack (its instance is replaced): leave --stay", async () => {
    const out = await leaveBeforeDelete({ name: "orders-prod-db2-data", oldInputs: { instanceId: "i-0db2" } }, opts());
    expect(out.action).toBe("stopped for replacement");
    expect(stub.sent()).toEqual(["i-0db2: pgha-node leave --json --stay"]);
  });

  it("a failed leave throws (the deletion stops) and says what to do", async () => {
    await expect(leaveBeforeDelete({ name: "orders-prod-db4-data", oldInputs: { instanceId: "i-refuses" } }, opts()))
      .rejects.toThrow(/db4 \(i-refuses\) did not leave the cluster, so its volume attachment and instance stay: pgha-node: db4 leads and could not hand over.*PGHA_DRAIN=off/);
  });

  it("an instance SSM cannot reach is taken for dead, not waited for", async () => {
    const out = await leaveBeforeDelete({ name: "orders-prod-db4-data", oldInputs: { instanceId: "i-dead" } }, opts({ onlineTimeoutSeconds: 0 }));
    expect(out.action).toBe("unreachable");
    expect(stub.sent()).toEqual([]);
  });

  it("PGHA_DRAIN=off skips it; an attachment it cannot place is refused", async () => {
    const out = await leaveBeforeDelete({ name: "orders-prod-db4-data", oldInputs: { instanceId: "i-0db4" } }, opts({ env: { PGHA_DRAIN: "off" } }));
    expect(out).toMatchObject({ action: "not drained", detail: "PGHA_DRAIN=off" });
    expect(stub.sent()).toEqual([]);
    await expect(leaveBeforeDelete({ name: "something-else", oldInputs: { instanceId: "i-1" } }, opts())).rejects.toThrow(/cannot tell which member the attachment something-else belongs to/);
  });
});

describe("etcd leadership handed over before an etcd instance is deleted", () => {
  it("runs pgha-etcd handover on the instance; an unreachable one or a failure is logged, never thrown", async () => {
    stub.command("pgha-etcd", `#!/bin/bash\necho "[pgha-etcd] moving etcd leadership from $PGHA_INSTANCE" >&2\n[ "$PGHA_INSTANCE" != i-fails ]\n`);
    const lines: string[] = [];
    const o = { region: "eu-west-1", componentName: "orders-prod", pollMs: 5, env: {}, aws: `${stub.bin}/aws`, log: (l: string) => lines.push(l) };
    expect(await etcdHandoverBeforeDelete({ name: "orders-prod-etcd2", oldOutputs: { id: "i-0e2" } }, o)).toMatchObject({ node: "etcd2", instanceId: "i-0e2", action: "left" });
    expect(stub.sent()).toEqual(["i-0e2: pgha-etcd handover"]);
    expect(await etcdHandoverBeforeDelete({ name: "orders-prod-etcd3", oldOutputs: { id: "i-fails" } }, o)).toMatchObject({ action: "unreachable" });
    expect(lines.some((l) => /etcd3: pgha-etcd handover failed \(exit 1\)/.test(l))).toBe(true);
    expect(await etcdHandoverBeforeDelete({ name: "orders-prod-etcd1", oldOutputs: { id: "i-dead" } }, { ...o, onlineTimeoutSeconds: 0 })).toMatchObject({ action: "unreachable" });
    const sentBefore = stub.sent().length;
    expect(await etcdHandoverBeforeDelete({ name: "orders-prod-etcd1", oldOutputs: { id: "i-0e1" } }, { ...o, env: { PGHA_DRAIN: "off" } })).toMatchObject({ action: "not drained", detail: "PGHA_DRAIN=off" });
    expect(stub.sent().length).toBe(sentBefore); // nothing sent to SSM
    expect(await etcdHandoverBeforeDelete({ name: "other-etcd1", oldOutputs: { id: "i-0e1" } }, o)).toMatchObject({ action: "not drained", detail: "unknown member" });
  });
});
