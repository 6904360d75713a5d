// A standby cluster in a second region (postgres-ha:standby) and its primary
// (postgres-ha:standbyClusters), under mocks. The shipped prod-dr stack follows prod from
// eu-central-1: it creates no cluster secret (it reads prod's, replicated to its region), its
// PostgreSQL nodes may read that secret and prod's repository copy there (read-only), and only
// prod's network may reach its read-write endpoint beyond its own clients. prod with
// standbyClusters admits the read-write port from the declared CIDRs only.
import { securityRules, validateNetworkArgs } from "../../components/network";
import { ACCOUNT_ID, TYPES, policyOf, runProgram, specOf, type ProgramRun, type RecordedResource } from "../helpers/mocks";

jest.setTimeout(120_000);

const PRIMARY_NET = "10.20.0.0/16";
const DR_NET = "10.21.0.0/16";
const COPY_BUCKET = "pgha-prod-orders-eu-central-1";
const LABEL: Record<string, string> = { postgres: "db", etcd: "etcd", haproxy: "lb", monitor: "mon", loadBalancer: "nlb" };

let dr: ProgramRun;
let drDerived: ProgramRun;
let prodFollowed: ProgramRun;
let prod: ProgramRun;
beforeAll(async () => {
  // One program run at a time (each isolates its own module registry).
  dr = await runProgram({ stack: "prod-dr" });
  // prod-dr naming only its primary: the program derives the rest from Pulumi.prod.yaml.
  drDerived = await runProgram({ stack: "prod-dr", overrides: { standby: { host: undefined, cidrs: undefined, repositoryBucket: undefined } } });
  prodFollowed = await runProgram({ stack: "prod", overrides: { standbyClusters: { "prod-dr": { cidrs: [DR_NET] } } } });
  prod = await runProgram({ stack: "prod" });
  for (const r of [dr, drDerived, prodFollowed, prod]) if (r.error) throw r.error;
});

/** Every rule whose peer is `cidr`, as "<group> <in|out> <port>". */
function rulesWith(run: ProgramRun, cidr: string): string[] {
  const groupById = new Map(run.ofType(TYPES.securityGroup).map((g) => [g.id, LABEL[g.inputs.tags["pgha:role"]]]));
  const describe = (r: RecordedResource, dir: string) => `${groupById.get(r.inputs.securityGroupId)} ${dir} ${r.inputs.fromPort}`;
  return [
    ...run.ofType(TYPES.ingress).filter((r) => r.inputs.cidrIpv4 === cidr).map((r) => describe(r, "in")),
    ...run.ofType(TYPES.egress).filter((r) => r.inputs.cidrIpv4 === cidr).map((r) => describe(r, "out")),
  ].sort();
}

const nodeOfPolicy = (p: RecordedResource) => p.name.replace(/^orders-prod-dr-/, "").replace(/-node$/, "");

describe("prod-dr: the standby cluster of prod, in eu-central-1", () => {
  test("the spec: a standby of prod through its rw endpoint and slot, prod's secret name, prod's copy", () => {
    const spec = specOf(dr);
    expect(spec.region).toBe("eu-central-1");
    expect(spec.standby).toMatchObject({ primaryStack: "prod", host: "rw.orders.pgha.internal", port: 5000, cidrs: [PRIMARY_NET], slot: "standby_prod_dr" });
    expect(spec.standby!.repository).toMatchObject({ region: "eu-central-1", bucketName: COPY_BUCKET });
    expect(spec.names.clusterSecret).toBe(specOf(prod).names.clusterSecret);
    expect(spec.nodes.map((n) => n.name)).toEqual(["dr-db1", "dr-db2", "dr-etcd1", "dr-etcd2", "dr-etcd3", "dr-lb1"]);
  });

  test("no cluster secret and no cluster password: only node secrets, its own", () => {
    const names = dr.ofType(TYPES.secret).map((s) => s.inputs.name);
    expect(names).not.toContain(specOf(dr).names.clusterSecret);
    expect(names.every((n: string) => n.startsWith("postgres-ha/prod-dr/orders/node/"))).toBe(true);
    expect(names).toHaveLength(specOf(dr).nodes.length);
    const passwords = dr.ofType(TYPES.randomPassword).map((p) => p.name);
    for (const purpose of ["superuser", "replication", "rewind", "restApi", "repoCipher"]) expect(passwords.some((p) => p.endsWith(`-${purpose}`))).toBe(false);
    expect(passwords.some((p) => p.endsWith("-haproxyStats"))).toBe(true);
    expect(dr.outputs.secretArns.cluster).toBeNull();
    expect(dr.outputs.standby).toEqual({
      primaryStack: "prod", host: "rw.orders.pgha.internal", port: 5000, slot: "standby_prod_dr",
      clusterSecretName: specOf(prod).names.clusterSecret, repositoryBucket: COPY_BUCKET,
    });
  });

  test("PostgreSQL nodes read prod's secret replica in eu-central-1 by ARN pattern; etcd and HAProxy may not", () => {
    const pattern = `arn:aws:secretsmanager:eu-central-1:${ACCOUNT_ID}:secret:${specOf(prod).names.clusterSecret}-??????`;
    const checked: string[] = [];
    for (const p of dr.ofType(TYPES.rolePolicy).filter((x) => x.name.endsWith("-node"))) {
      const read = policyOf(p.inputs.policy).Statement.find((s: any) => s.Sid === "ReadOwnSecrets");
      if (nodeOfPolicy(p).startsWith("dr-db")) {
        expect(read.Resource).toContain(pattern);
        checked.push(nodeOfPolicy(p));
      } else expect(read.Resource).not.toContain(pattern);
    }
    expect(checked.sort()).toEqual(["dr-db1", "dr-db2"]);
  });

  test("PostgreSQL nodes read prod's repository copy (its prefixes, GetObject/ListBucket only; its key by alias, through S3 here); nobody writes it", () => {
    const copyArn = `arn:aws:s3:::${COPY_BUCKET}`;
    const checked: string[] = [];
    for (const p of dr.ofType(TYPES.rolePolicy).filter((x) => x.name.endsWith("-node"))) {
      const doc = policyOf(p.inputs.policy);
      const touching = doc.Statement.filter((s: any) => JSON.stringify(s.Resource).includes(COPY_BUCKET));
      if (!nodeOfPolicy(p).startsWith("dr-db")) {
        expect(touching).toEqual([]);
        expect(doc.Statement.map((s: any) => s.Sid)).not.toContain("UsePrimaryCopyKey");
        continue;
      }
      expect(touching.flatMap((s: any) => s.Action).sort()).toEqual(["s3:GetObject", "s3:ListBucket"]);
      const bySid = Object.fromEntries(doc.Statement.map((s: any) => [s.Sid, s]));
      expect(bySid.PrimaryCopyObjects.Resource).toEqual([`${copyArn}/pgbackrest/orders/*`, `${copyArn}/restore-points/orders/*`]);
      expect(bySid.ListPrimaryCopy.Resource).toBe(copyArn);
      expect(bySid.ListPrimaryCopy.Condition.StringLike["s3:prefix"]).toEqual(["pgbackrest/orders", "pgbackrest/orders/*", "restore-points/orders", "restore-points/orders/*"]);
      expect(bySid.UsePrimaryCopyKey).toEqual({
        Sid: "UsePrimaryCopyKey",
        Effect: "Allow",
        Action: ["kms:Decrypt", "kms:DescribeKey"],
        Resource: `arn:aws:kms:eu-central-1:${ACCOUNT_ID}:key/*`,
        Condition: {
          StringEquals: { "kms:ViaService": ["s3.eu-central-1.amazonaws.com"] },
          "ForAnyValue:StringEquals": { "kms:ResourceAliases": [specOf(prod).names.kmsAlias] },
        },
      });
      checked.push(nodeOfPolicy(p));
    }
    expect(checked.sort()).toEqual(["dr-db1", "dr-db2"]);
    // Its own bucket is its own (backups once promoted); the copy is not created here.
    expect(dr.ofType(TYPES.bucket).map((b) => b.inputs.bucket)).toEqual(["pgha-prod-dr-orders-eu-central-1"]);
    expect(dr.ofType("aws:s3/bucketReplicationConfig:BucketReplicationConfig")).toEqual([]);
  });

  test("prod's network reaches the read-write endpoint (HAProxy 5000) and nothing else; the members may stream from prod's endpoint", () => {
    expect(rulesWith(dr, PRIMARY_NET)).toEqual(["db out 5000", "lb in 5000"]);
    // No other foreign network anywhere: its own VPC's clients and the internet egress only.
    const cidrs = new Set([...dr.ofType(TYPES.ingress), ...dr.ofType(TYPES.egress)].map((r) => r.inputs.cidrIpv4).filter(Boolean));
    expect([...cidrs].sort()).toEqual(["0.0.0.0/0", PRIMARY_NET, ...specOf(dr).network.allowedClientCidrs].sort());
  });
});

describe("standby: {primaryStack: prod} alone, and prod's standbySource output", () => {
  test("the program derives host, cidrs and the copy from prod's stack file: every resource as with the values spelled out", () => {
    expect(drDerived.config["postgres-ha:standby"]).toBe(JSON.stringify({ primaryStack: "prod" }));
    expect(specOf(drDerived).standby).toEqual(specOf(dr).standby);
    const view = (run: ProgramRun) => run.resources.map((r) => [r.type, r.name, JSON.stringify(r.inputs)]);
    expect(view(drDerived)).toEqual(view(dr));
  });

  test("every stack exports what a standby of it needs (a stack of another project reads it with a StackReference); prod-dr's values are prod's", () => {
    expect(prod.outputs.standbySource).toEqual({
      stack: "prod", clusterName: "orders", host: "rw.orders.pgha.internal", port: 5000, cidrs: [PRIMARY_NET],
      repositoryBuckets: { "eu-west-1": "pgha-prod-orders-eu-west-1", "eu-central-1": COPY_BUCKET }, repoEncryption: true,
    });
    const s = specOf(dr).standby!;
    expect([s.host, s.port, s.cidrs, s.repository.bucketName]).toEqual([prod.outputs.standbySource.host, prod.outputs.standbySource.port, prod.outputs.standbySource.cidrs, prod.outputs.standbySource.repositoryBuckets[specOf(dr).region]]);
  });
});

describe("the two private zones across the VPCs (standby.associateZones, a StackReference to prod)", () => {
  test("prod-dr reads prod's network output and associates prod's zone with its VPC, and its own zone with prod's VPC", () => {
    const [ref] = dr.ofType(TYPES.stackReference);
    expect(ref.inputs.name).toBe("organization/postgres-ha/prod");
    const net = ref.state.outputs.network;
    expect(net.region).toBe("eu-west-1"); // prod's, from its stack
    const ownZone = dr.ofType(TYPES.zone)[0];
    const ownVpc = dr.ofType(TYPES.vpc)[0];
    const associations = dr.ofType(TYPES.zoneAssociation).map((a) => ({ zoneId: a.inputs.zoneId, vpcId: a.inputs.vpcId, vpcRegion: a.inputs.vpcRegion }));
    expect(associations).toEqual(expect.arrayContaining([
      { zoneId: net.privateZoneId, vpcId: ownVpc.id, vpcRegion: "eu-central-1" },
      { zoneId: ownZone.state.zoneId, vpcId: net.vpcId, vpcRegion: "eu-west-1" },
    ]));
    expect(associations).toHaveLength(2);
    // Each zone ignores associations it did not make, or the next update of either stack removes the other's.
    expect(ownZone.options.ignoreChanges).toEqual(["vpcs"]);
    expect(prodFollowed.ofType(TYPES.zone)[0].options.ignoreChanges).toEqual(["vpcs"]);
  });

  test("every stack exports its network (region, VPC, zone); a stack with no standby relation keeps its zone's associations managed", () => {
    expect(Object.keys(prod.outputs.network).sort()).toEqual(["privateZoneId", "region", "vpcId"]);
    expect(prod.outputs.network.region).toBe("eu-west-1");
    expect(prod.outputs.network.privateZoneId).toBe(prod.ofType(TYPES.zone)[0].state.zoneId);
    expect(prod.ofType(TYPES.zone)[0].options.ignoreChanges).toEqual([]);
    expect(prod.ofType(TYPES.stackReference)).toEqual([]);
    expect(prod.ofType(TYPES.zoneAssociation)).toEqual([]);
  });

  test("associateZones: false (a primary not deployed by this project): no StackReference, no association", async () => {
    const run = await runProgram({ stack: "prod-dr", overrides: { standby: { associateZones: false } } });
    if (run.error) throw run.error;
    expect(run.ofType(TYPES.stackReference)).toEqual([]);
    expect(run.ofType(TYPES.zoneAssociation)).toEqual([]);
  });
});

describe("prod with standbyClusters: {prod-dr: {cidrs: [10.21.0.0/16]}}", () => {
  test("the read-write port (NLB and HAProxy) admits the standby's network; its members may stream from it after a promotion; nothing else", () => {
    expect(rulesWith(prodFollowed, DR_NET)).toEqual(["db out 5000", "lb in 5000", "nlb in 5000"]);
    expect(rulesWith(prod, DR_NET)).toEqual([]);
    // Every other rule is as without standbyClusters.
    const names = (run: ProgramRun) => [...run.ofType(TYPES.ingress), ...run.ofType(TYPES.egress)].map((r) => r.name).filter((n) => !n.endsWith("-10-21-0-0-16")).sort();
    expect(names(prodFollowed)).toEqual(names(prod));
  });

  test("it still creates its cluster secret, and its slot is in the dynamic configuration", () => {
    const spec = specOf(prodFollowed);
    expect(prodFollowed.ofType(TYPES.secret).map((s) => s.inputs.name)).toContain(spec.names.clusterSecret);
    expect(spec.standbyClusters).toEqual([{ stack: "prod-dr", slot: "standby_prod_dr", cidrs: [DR_NET] }]);
    expect(prodFollowed.outputs.standbyClusters).toEqual([{ stack: "prod-dr", slot: "standby_prod_dr" }]);
    expect(prodFollowed.outputs.dynamicConfigHash).not.toBe(prod.outputs.dynamicConfigHash);
    expect(prod.outputs.standby).toBeNull();
  });
});

describe("securityRules with replication peers", () => {
  const base = { allowedClientCidrs: [PRIMARY_NET], allowedClientSecurityGroupIds: [], networkLoadBalancer: true, synchronousReadOnly: false, pooler: false, monitoring: false };
  test("a peer CIDR that is also a client CIDR gives each rule once (AWS refuses duplicates)", () => {
    const rules = securityRules({ ...base, replicationPeers: { cidrs: [PRIMARY_NET, DR_NET], port: 5000, what: "x" } });
    const keys = rules.map((r) => `${r.group}|${r.direction}|${r.port}|${JSON.stringify(r.peer)}`);
    expect(new Set(keys).size).toBe(keys.length);
    const from = (cidr: string) => rules.filter((r) => r.peer.kind === "cidr" && r.peer.cidr === cidr).map((r) => `${r.group} ${r.direction} ${r.port}`).sort();
    expect(from(DR_NET)).toEqual(["haproxy ingress 5000", "loadBalancer ingress 5000", "postgres egress 5000"]);
    expect(from(PRIMARY_NET)).toEqual(["haproxy ingress 5000", "haproxy ingress 7000", "loadBalancer ingress 5000", "loadBalancer ingress 5001", "postgres egress 5000"]);
  });

  test("the egress port is the peer's endpoint port (standby.port)", () => {
    const rules = securityRules({ ...base, networkLoadBalancer: false, replicationPeers: { cidrs: [DR_NET], port: 6543, what: "x" } });
    expect(rules.filter((r) => r.peer.kind === "cidr" && r.peer.cidr === DR_NET).map((r) => `${r.group} ${r.direction} ${r.port}`).sort()).toEqual(["haproxy ingress 5000", "postgres egress 6543"]);
  });

  test("a /0 peer is refused", () => {
    const problems = validateNetworkArgs({ tags: {}, clusterName: "c", stack: "s", region: "eu-west-1", vpcCidr: "10.0.0.0/16", subnets: [{ index: 0, cidr: "10.0.0.0/24" }], allowedClientCidrs: [], allowedClientSecurityGroupIds: [], replicationPeers: { cidrs: ["0.0.0.0/0"], port: 5000, what: "x" } });
    expect(problems).toEqual(["replicationPeers.cidrs: 0.0.0.0/0 is the whole internet; name the other region's networks"]);
  });
});
