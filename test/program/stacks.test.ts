// The resource graph of each shipped stack (Pulumi.dev/staging/prod.yaml), under mocks.
import YAML from "yaml";
import { DEBIAN_AMI_OWNER } from "../../components/common";
import { ROLLOUT_COMMAND } from "../../components/rollout";
import { readTar } from "../../src/bundle/tar";
import { rolloutTrigger, unpackNodeBundle, type BundleManifest } from "../../src/bundle/format";
import { ec2Layout } from "../../src/layout";
import { renderBundle, sha256 } from "../../src/render/bundle";
import { nodeSoftware } from "../../src/render/software";
import { dynamicConfig } from "../../src/render/dynamic";
import { nodesOf, type ClusterSpec, type Role } from "../../src/spec";
import { nodeCertificateProfiles } from "../../src/tls/profile";
import { TYPES, decodeUserData, policyOf, runProgram, specOf, type ProgramRun, type RecordedResource } from "../helpers/mocks";

interface Expected {
  /** monitor: the monitoring node (monitoring.enabled: staging and prod). */
  counts: Record<Role, number>;
  subnets: number;
  natGateways: number;
  nlb: boolean;
  keepsData: boolean;
}
const EXPECTED: Record<string, Expected> = {
  dev: { counts: { postgres: 1, etcd: 1, haproxy: 1, monitor: 0 }, subnets: 1, natGateways: 1, nlb: false, keepsData: false },
  staging: { counts: { postgres: 3, etcd: 3, haproxy: 1, monitor: 1 }, subnets: 3, natGateways: 1, nlb: false, keepsData: false },
  prod: { counts: { postgres: 3, etcd: 3, haproxy: 2, monitor: 1 }, subnets: 3, natGateways: 3, nlb: true, keepsData: true },
};

const LABEL: Record<string, string> = { postgres: "db", etcd: "etcd", haproxy: "lb", monitor: "mon", loadBalancer: "nlb" };

/** Every security-group rule a stack must have, written out by hand (client CIDR 10.20.0.0/16). */
function expectedRules(nlb: boolean, pooler: boolean, monitoring: boolean): string[] {
  const c = "10.20.0.0/16";
  const common = [
    "db in 5432 from db", "db in 8008 from db", "db in 5432 from lb", "db in 8008 from lb",
    "etcd in 2379 from etcd", "etcd in 2380 from etcd", "etcd in 2379 from db",
    `lb in 7000 from ${c}`,
    "db out 5432 to db", "db out 8008 to db", "db out 2379 to etcd", "db out 443 to 0.0.0.0/0", "db out 80 to 0.0.0.0/0",
    "etcd out 2379 to etcd", "etcd out 2380 to etcd", "etcd out 443 to 0.0.0.0/0", "etcd out 80 to 0.0.0.0/0",
    "lb out 5432 to db", "lb out 8008 to db", "lb out 443 to 0.0.0.0/0", "lb out 80 to 0.0.0.0/0",
  ];
  const endpoints = nlb
    ? [`nlb in 5000 from ${c}`, `nlb in 5001 from ${c}`, "lb in 5000 from nlb", "lb in 5001 from nlb", "nlb out 5000 to lb", "nlb out 5001 to lb"]
    : [`lb in 5000 from ${c}`, `lb in 5001 from ${c}`];
  // pooler.enabled: 6432/6433 like 5000/5001, and HAProxy → PgBouncer (6432) on the members.
  const pooled = !pooler ? [] : [
    "db in 6432 from lb", "lb out 6432 to db",
    ...(nlb
      ? [`nlb in 6432 from ${c}`, `nlb in 6433 from ${c}`, "lb in 6432 from nlb", "lb in 6433 from nlb", "nlb out 6432 to lb", "nlb out 6433 to lb"]
      : [`lb in 6432 from ${c}`, `lb in 6433 from ${c}`]),
  ];
  // monitoring.enabled: mon scrapes every node's exporters; the clients reach Prometheus and Alertmanager.
  const monitored = !monitoring ? [] : [
    "db in 9100 from mon", "db in 9187 from mon", "db in 8008 from mon", "etcd in 9100 from mon", "etcd in 2379 from mon", "lb in 9100 from mon", "lb in 8405 from mon",
    "mon out 9100 to db", "mon out 9187 to db", "mon out 8008 to db", "mon out 9100 to etcd", "mon out 2379 to etcd", "mon out 9100 to lb", "mon out 8405 to lb",
    `mon in 9090 from ${c}`, `mon in 9093 from ${c}`, "mon out 443 to 0.0.0.0/0", "mon out 80 to 0.0.0.0/0",
    // Central logs: every node's systemd-journal-upload → journal-remote on mon.
    "mon in 19532 from db", "mon in 19532 from etcd", "mon in 19532 from lb", "db out 19532 to mon", "etcd out 19532 to mon", "lb out 19532 to mon",
  ];
  return [...common, ...endpoints, ...pooled, ...monitored].sort();
}

describe.each(Object.keys(EXPECTED))("stack %s as shipped", (stack) => {
  const expected = EXPECTED[stack];
  let run: ProgramRun;
  let spec: ClusterSpec;
  let instances: RecordedResource[];
  let kmsKeyArn: string;
  const roleOf = (r: RecordedResource) => r.inputs.tags["pgha:role"] as Role;
  // The stack's own region: what backup.secondRepository adds in its region (and the replication
  // between them) is test/program/second-repository.test.ts's.
  const home = (type: string) => run.ofType(type).filter((r) => !r.urn.includes("postgres-ha:index:SecondRegionRepository"));
  // The cluster's own (the alert topic's KMS key and alias are test/program/monitoring.test.ts's).
  const cluster = (type: string) => home(type).filter((r) => !r.urn.includes("postgres-ha:index:AlertTopic"));
  const nodeOf = (r: RecordedResource) => r.inputs.tags["pgha:node"] as string;

  beforeAll(async () => {
    run = await runProgram({ stack });
    if (run.error) throw run.error;
    spec = specOf(run);
    instances = home(TYPES.instance);
    // The cluster's key, in the stack's region (backup.secondRepository adds one in its region).
    const keys = cluster(TYPES.kmsKey).filter((k) => !k.options.provider);
    expect(keys).toHaveLength(1);
    kmsKeyArn = keys[0].state.arn;
  });

  test("instance counts by role", () => {
    const counts = { postgres: 0, etcd: 0, haproxy: 0, monitor: 0 };
    for (const i of instances) counts[roleOf(i)]++;
    expect(counts).toEqual(expected.counts);
    expect(instances.map(nodeOf).sort()).toEqual(spec.nodes.map((n) => n.name).sort());
  });

  test("nodes spread over the AZs: one private subnet per AZ, node → subnet as the spec says", () => {
    const privateSubnets = home(TYPES.subnet).filter((s) => s.inputs.tags["pgha:tier"] === "private");
    expect(privateSubnets).toHaveLength(expected.subnets);
    expect(new Set(privateSubnets.map((s) => s.inputs.availabilityZone)).size).toBe(expected.subnets);
    expect(privateSubnets.map((s) => s.inputs.cidrBlock)).toEqual(spec.network.subnets.map((s) => s.cidr));
    for (const s of privateSubnets) expect(s.inputs.mapPublicIpOnLaunch).toBe(false);
    const subnetById = new Map(privateSubnets.map((s) => [s.id, s]));
    for (const i of instances) {
      const node = spec.nodes.find((n) => n.name === nodeOf(i))!;
      const subnet = subnetById.get(i.inputs.subnetId);
      expect(subnet).toBeDefined();
      expect(subnet!.inputs.cidrBlock).toBe(spec.network.subnets[node.subnetIndex].cidr);
      expect(i.inputs.privateIp).toBe(node.privateIp);
    }
    if (stack === "prod") {
      for (const role of ["postgres", "etcd"] as const) {
        const subnets = instances.filter((i) => roleOf(i) === role).map((i) => i.inputs.subnetId);
        expect(new Set(subnets).size).toBe(3);
      }
      expect(new Set(instances.filter((i) => roleOf(i) === "haproxy").map((i) => i.inputs.subnetId)).size).toBe(2);
    }
  });

  test("NAT gateways: one per AZ in prod, one otherwise; an S3 gateway endpoint on the private routes", () => {
    expect(home(TYPES.natGateway)).toHaveLength(expected.natGateways);
    const endpoints = home(TYPES.vpcEndpoint);
    expect(endpoints).toHaveLength(1);
    expect(endpoints[0].inputs).toMatchObject({ vpcEndpointType: "Gateway", serviceName: `com.amazonaws.${spec.region}.s3` });
    expect(endpoints[0].inputs.routeTableIds).toHaveLength(expected.natGateways);
  });

  test("every security-group rule: ports and sources, least privilege", () => {
    const groups = home(TYPES.securityGroup);
    const groupById = new Map(groups.map((g) => [g.id, LABEL[g.inputs.tags["pgha:role"]]]));
    expect([...groupById.values()].sort()).toEqual(["db", "etcd", "lb", ...(expected.counts.monitor ? ["mon"] : []), ...(expected.nlb ? ["nlb"] : [])].sort());
    const describe = (r: RecordedResource, dir: "in" | "out") => {
      const i = r.inputs;
      expect(i.ipProtocol).toBe("tcp");
      expect(i.fromPort).toBe(i.toPort);
      const peer = i.cidrIpv4 ?? groupById.get(i.referencedSecurityGroupId) ?? i.referencedSecurityGroupId;
      return `${groupById.get(i.securityGroupId)} ${dir} ${i.fromPort} ${dir === "in" ? "from" : "to"} ${peer}`;
    };
    const ingress = home(TYPES.ingress);
    const egress = home(TYPES.egress);
    const rules = [...ingress.map((r) => describe(r, "in")), ...egress.map((r) => describe(r, "out"))].sort();
    expect(rules).toEqual(expectedRules(expected.nlb, spec.pooler.enabled, spec.monitoring.enabled));
    // Nothing open to the world inbound, no SSH anywhere.
    for (const r of ingress) expect(r.inputs.cidrIpv4).not.toBe("0.0.0.0/0");
    for (const r of [...ingress, ...egress]) {
      expect(r.inputs.fromPort).not.toBe(22);
      expect(r.inputs.cidrIpv6).toBeUndefined();
    }
    // Each rule is a child of its group (the preview reads as a tree).
    const groupUrn = new Map(groups.map((g) => [g.id, g.urn]));
    for (const r of [...ingress, ...egress]) expect(r.parent).toBe(groupUrn.get(r.inputs.securityGroupId));
    // Each node sits in its role's group only.
    for (const i of instances) {
      expect(i.inputs.vpcSecurityGroupIds).toHaveLength(1);
      expect(groupById.get(i.inputs.vpcSecurityGroupIds[0])).toBe(LABEL[roleOf(i)]);
    }
  });

  test("IMDSv2 required, no public IP, encrypted gp3 root volume with the cluster key (20 GiB; the monitoring node's 30, its TSDB's)", () => {
    for (const i of instances) {
      expect(i.inputs.metadataOptions).toMatchObject({ httpTokens: "required", httpEndpoint: "enabled", httpPutResponseHopLimit: 1 });
      expect(i.inputs.associatePublicIpAddress).toBe(false);
      expect(i.inputs.rootBlockDevice).toMatchObject({ encrypted: true, kmsKeyId: kmsKeyArn, volumeType: "gp3", deleteOnTermination: true, volumeSize: roleOf(i) === "monitor" ? 30 : 20 });
      expect(i.inputs.keyName).toBeUndefined();
      expect(i.inputs.monitoring).toBe(stack === "prod");
    }
  });

  test("PostgreSQL data volumes: encrypted gp3 with the spec's size, IOPS, throughput, in the node's AZ, at /dev/sdf", () => {
    const volumes = home(TYPES.volume);
    const attachments = home(TYPES.volumeAttachment);
    expect(volumes).toHaveLength(expected.counts.postgres);
    expect(attachments).toHaveLength(expected.counts.postgres);
    const subnetAz = new Map(home(TYPES.subnet).map((s) => [s.id, s.inputs.availabilityZone]));
    for (const v of volumes) {
      expect(v.inputs).toMatchObject({
        type: "gp3",
        encrypted: true,
        kmsKeyId: kmsKeyArn,
        size: spec.postgres.dataVolume.sizeGiB,
        iops: spec.postgres.dataVolume.iops,
        throughput: spec.postgres.dataVolume.throughputMiBps,
      });
      const attachment = attachments.find((a) => a.inputs.volumeId === v.id)!;
      expect(attachment.inputs.deviceName).toBe("/dev/sdf");
      const instance = instances.find((i) => i.id === attachment.inputs.instanceId)!;
      expect(roleOf(instance)).toBe("postgres");
      expect(nodeOf(instance)).toBe(v.inputs.tags["pgha:node"]);
      expect(v.inputs.availabilityZone).toBe(subnetAz.get(instance.inputs.subnetId));
      expect(v.options.protect).toBe(expected.keepsData);
      expect(v.options.retainOnDelete).toBe(expected.keepsData);
      expect(v.inputs.finalSnapshot).toBe(expected.keepsData);
    }
  });

  test("instances boot the official Debian 13 AMI for their architecture and ignore later user-data changes", () => {
    const amiCalls = run.invokes.filter((i) => i.token === "aws:ec2/getAmi:getAmi");
    expect(amiCalls.length).toBeGreaterThan(0);
    for (const call of amiCalls) {
      expect(call.inputs.owners).toEqual([DEBIAN_AMI_OWNER]);
      expect(call.inputs.mostRecent).toBe(true);
      const name = call.inputs.filters.find((f: { name: string }) => f.name === "name").values[0];
      expect(name).toBe("debian-13-arm64-*"); // every shipped tier uses Graviton types
    }
    for (const i of instances) {
      expect(i.inputs.ami).toMatch(/^ami-/);
      expect(i.options.ignoreChanges).toContain("userDataBase64");
    }
  });

  test("user-data is the bootstrap: a few KiB, the same shape on every node, no node configuration, no generated secret", () => {
    const layout = ec2Layout(spec);
    expect(run.generatedSecrets.length).toBeGreaterThanOrEqual(5 + spec.nodes.length + 1);
    const shapes = new Set<string>();
    for (const i of instances) {
      const node = nodeOf(i);
      const raw = Buffer.from(i.inputs.userDataBase64, "base64");
      expect(raw.length).toBeLessThanOrEqual(4 * 1024); // EC2 allows 16 KiB; the bootstrap does not grow with the config
      const text = decodeUserData(i.inputs.userDataBase64);
      const rendered = renderBundle(spec, node, layout);
      expect(text).toBe(rendered.cloudConfig);
      const doc = YAML.parse(text, { version: "1.1" });
      const written: { path: string; content: string }[] = doc.write_files;
      // A PostgreSQL node also tells postgresql-common, before its packages install, to create
      // no "main" cluster (Patroni makes its own).
      const createcluster = "/etc/postgresql-common/createcluster.d/pgha.conf";
      const isPostgres = roleOf(i) === "postgres";
      expect(written.map((f) => f.path)).toEqual(["/etc/pgha/bootstrap.env", "/etc/pgha/aws.env", "/usr/local/sbin/pgha-bootstrap", ...(isPostgres ? [createcluster] : [])]);
      if (isPostgres) expect(written[3].content).toBe("create_main_cluster = false\n");
      expect(doc.runcmd).toEqual([["/usr/local/sbin/pgha-bootstrap"]]);
      // No file of the node's bundle travels in its user-data.
      for (const f of rendered.files) expect(written.map((w) => w.path)).not.toContain(f.path);
      const env = Object.fromEntries(written[0].content.trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
      expect(env).toMatchObject({ PGHA_NODE: node, PGHA_BUNDLES_URI: `s3://${spec.backup.bucketName}/bundles/${spec.clusterName}` });
      // The same shape on every node: only the node's name differs — and the monitoring node also
      // installs Prometheus and Alertmanager (its packages: the two lines more).
      const shape = text
        .replaceAll(node, "<node>")
        .replace(/\(\w+\); layout/, "(<role>); layout")
        .replace(/  - path: \/etc\/postgresql-common\/createcluster\.d\/pgha\.conf\n(    .*\n|      .*\n)+/, "");
      if (roleOf(i) === "monitor") {
        const extra = ["  - prometheus", "  - prometheus-alertmanager"];
        for (const l of extra) expect(shape.split("\n")).toContain(l);
        shapes.add(shape.split("\n").filter((l) => !extra.includes(l)).join("\n"));
      } else shapes.add(shape);
      for (const secret of run.generatedSecrets) {
        expect(text).not.toContain(secret);
        // Also no fragment of a key body (a PEM line).
        for (const line of secret.split("\n").filter((l) => l.length >= 40 && !l.startsWith("-----"))) expect(text).not.toContain(line);
      }
      expect(i.inputs.userData).toBeUndefined();
    }
    expect(shapes.size).toBe(1);
  });

  test("bundle objects: per node its bundle and desired pointer, one node-software object; SSE-KMS with the cluster key; content is what the node gets", () => {
    const objects = home(TYPES.bucketObject);
    expect(objects).toHaveLength(2 * spec.nodes.length + 1);
    const bucket = home(TYPES.bucket)[0];
    const cluster = spec.clusterName;
    const software = nodeSoftware();
    const softwareObjects = objects.filter((o) => o.inputs.key.startsWith(`bundles/${cluster}/software/`));
    expect(softwareObjects.map((o) => o.inputs.key)).toEqual([`bundles/${cluster}/software/${software.sha256}.tar`]);
    const softwareBytes = Buffer.from(softwareObjects[0].inputs.contentBase64, "base64");
    expect(sha256(softwareBytes)).toBe(software.sha256);
    expect(readTar(softwareBytes).map((e) => `/${e.path}`)).toEqual(expect.arrayContaining(["/usr/local/sbin/pgha-node", "/usr/local/sbin/pgha-bootstrap", "/usr/local/lib/pgha/common.sh"]));
    const bucketSse = home(TYPES.bucketSse)[0];
    for (const o of objects) {
      expect(o.inputs).toMatchObject({ bucket: bucket.id, serverSideEncryption: "aws:kms", kmsKeyId: kmsKeyArn, bucketKeyEnabled: true });
      expect(o.inputs.tags).toMatchObject({ "pgha:cluster": cluster, "pgha:stack": stack });
      // Written only once the bucket is encrypted and locked down (a pointer: after its bundle, which waits for it).
      if (!o.inputs.key.endsWith("/desired.json")) expect(o.options.dependencies).toContain(bucketSse.urn);
    }
    const layout = ec2Layout(spec);
    for (const n of spec.nodes) {
      const rendered = renderBundle(spec, n.name, layout);
      const archive = objects.find((o) => o.name === `${spec.names.prefix}-${n.name}-bundle`)!;
      expect(archive.inputs.key).toMatch(new RegExp(`^bundles/${cluster}/nodes/${n.name}/[0-9a-f]{64}\\.tar$`));
      const bytes = Buffer.from(archive.inputs.contentBase64, "base64");
      expect(archive.inputs.key).toBe(`bundles/${cluster}/nodes/${n.name}/${sha256(bytes)}.tar`);
      const { manifest, files }: { manifest: BundleManifest; files: Map<string, { content: string }> } = unpackNodeBundle(bytes);
      expect(manifest).toMatchObject({ format: 1, stack, cluster: spec.scope, node: n.name, role: n.role, software: { sha256: software.sha256 } });
      expect(Object.fromEntries([...files].map(([p, f]) => [p, f.content]))).toEqual(Object.fromEntries(rendered.files.map((f) => [f.path, f.content])));
      // The pointer names that bundle and the software, and is written after both.
      const pointer = objects.find((o) => o.name === `${spec.names.prefix}-${n.name}-desired`)!;
      expect(pointer.inputs.key).toBe(`bundles/${cluster}/nodes/${n.name}/desired.json`);
      expect(JSON.parse(pointer.inputs.content)).toEqual({ bundle: sha256(bytes), software: software.sha256 });
      expect(pointer.options.dependencies).toEqual(expect.arrayContaining([archive.urn, softwareObjects[0].urn]));
      // The instance boots only once its pointer exists.
      const instance = instances.find((i) => nodeOf(i) === n.name)!;
      expect(instance.options.dependencies).toContain(pointer.urn);
    }
  });

  test("no generated secret in any stack output", () => {
    const text = JSON.stringify(run.outputs);
    for (const secret of run.generatedSecrets) expect(text).not.toContain(secret);
  });

  test("the KMS key rotates and has the spec's alias", () => {
    expect(cluster(TYPES.kmsKey)[0].inputs.enableKeyRotation).toBe(true);
    const aliases = cluster(TYPES.kmsAlias);
    expect(aliases.map((a) => a.inputs.name)).toEqual([spec.names.kmsAlias]);
  });

  test("Secrets Manager: exact names, KMS-encrypted, values are secrets in the shapes nodes expect", () => {
    const secrets = home(TYPES.secret);
    expect(secrets.map((s) => s.inputs.name).sort()).toEqual([spec.names.clusterSecret, ...Object.values(spec.names.nodeSecret), ...Object.values(spec.names.roleSecret)].sort());
    for (const s of secrets) expect(s.inputs.kmsKeyId).toBe(kmsKeyArn);
    const versions = home(TYPES.secretVersion);
    expect(versions).toHaveLength(secrets.length);
    const passwords = new Map(home(TYPES.randomPassword).map((p) => [p.name, p.state.result]));
    for (const v of versions) {
      expect(v.secretPaths).toContain("secretString");
      const secret = secrets.find((s) => s.id === v.inputs.secretId)!;
      const value = JSON.parse(v.inputs.secretString);
      if (secret.inputs.name === spec.names.clusterSecret) {
        const p = (purpose: string) => passwords.get(`${spec.names.prefix}-${purpose}`);
        expect(value).toEqual({
          superuserPassword: p("superuser"),
          replicationPassword: p("replication"),
          rewindPassword: p("rewind"),
          restApiPassword: p("restApi"),
          credentialsVersion: 1,
          ...(spec.backup.repoEncryption ? { repoCipherPass: p("repoCipher") } : {}),
        });
      } else if (secret.inputs.name.includes("/role/")) {
        // A declared login role (postgres.roles): test/program/access.test.ts checks the document.
        const role = Object.entries(spec.names.roleSecret).find(([, name]) => name === secret.inputs.name)![0];
        expect(value).toMatchObject({ username: role, password: passwords.get(`${spec.names.prefix}-role-${role}`) });
      } else {
        const node = Object.entries(spec.names.nodeSecret).find(([, name]) => name === secret.inputs.name)![0];
        expect(value.caCert).toContain("BEGIN CERTIFICATE");
        expect(value.nodeCert).toContain("BEGIN CERTIFICATE");
        expect(value.nodeKey).toBe(run.get(TYPES.privateKey, `${spec.names.prefix}-${node}`).state.privateKeyPem);
        if (node.startsWith("lb")) expect(value).toMatchObject({ statsUser: "pgha-stats", statsPassword: passwords.get(`${spec.names.prefix}-haproxyStats`) });
        else expect(value.statsPassword).toBeUndefined();
      }
    }
  });

  test("passwords: letters and digits, 32 long; the pgBackRest passphrase only with repoEncryption", () => {
    const purposes = home(TYPES.randomPassword).map((p) => p.name.slice(spec.names.prefix.length + 1)).sort();
    expect(purposes).toEqual(["haproxyStats", "replication", "restApi", "rewind", "superuser", ...(spec.backup.repoEncryption ? ["repoCipher"] : []), ...Object.keys(spec.names.roleSecret).map((r) => `role-${r}`)].sort());
    for (const p of home(TYPES.randomPassword)) {
      expect(p.inputs.special).toBe(false);
      expect(p.inputs.length).toBeGreaterThanOrEqual(32);
    }
  });

  test("TLS: an ECDSA P-256 CA and one server+client certificate per node with the profile's SANs and early renewal", () => {
    const keys = home(TYPES.privateKey);
    expect(keys).toHaveLength(spec.nodes.length + 1);
    for (const k of keys) expect(k.inputs).toMatchObject({ algorithm: "ECDSA", ecdsaCurve: "P256" });
    const ca = home("tls:index/selfSignedCert:SelfSignedCert");
    expect(ca).toHaveLength(1);
    expect(ca[0].inputs.isCaCertificate).toBe(true);
    const requests = home("tls:index/certRequest:CertRequest");
    const certs = home("tls:index/locallySignedCert:LocallySignedCert");
    for (const profile of nodeCertificateProfiles(spec, ec2Layout(spec))) {
      const req = run.get("tls:index/certRequest:CertRequest", `${spec.names.prefix}-${profile.name}`);
      expect(req.inputs.dnsNames).toEqual(profile.dnsNames);
      expect(req.inputs.ipAddresses).toEqual(profile.ipAddresses);
      const cert = run.get("tls:index/locallySignedCert:LocallySignedCert", `${spec.names.prefix}-${profile.name}`);
      expect(cert.inputs.allowedUses).toEqual(expect.arrayContaining(["server_auth", "client_auth"]));
      expect(cert.inputs.earlyRenewalHours).toBe(spec.tls.renewBeforeDays * 24);
      expect(cert.inputs.validityPeriodHours).toBe(profile.validityDays * 24);
      expect(cert.inputs.caCertPem).toBe(ca[0].state.certPem);
    }
    expect(requests).toHaveLength(spec.nodes.length);
    expect(certs).toHaveLength(spec.nodes.length);
  });

  test("backup bucket: name, versioning, SSE-KMS with bucket key, public access blocked, owner enforced, TLS only", () => {
    const buckets = home(TYPES.bucket);
    expect(buckets).toHaveLength(1);
    const bucket = buckets[0];
    expect(bucket.inputs.bucket).toBe(spec.backup.bucketName);
    expect(bucket.options.protect).toBe(expected.keepsData);
    expect(bucket.options.retainOnDelete).toBe(expected.keepsData);
    expect(bucket.inputs.forceDestroy).toBe(!expected.keepsData);
    const only = (type: string) => {
      const found = home(type);
      expect(found).toHaveLength(1);
      expect(found[0].inputs.bucket).toBe(bucket.id);
      return found[0].inputs;
    };
    expect(only(TYPES.bucketVersioning).versioningConfiguration.status).toBe("Enabled");
    expect(only(TYPES.bucketSse).rules).toEqual([{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: kmsKeyArn }, bucketKeyEnabled: true }]);
    expect(only(TYPES.bucketPublicAccessBlock)).toMatchObject({ blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true });
    expect(only(TYPES.bucketOwnership).rule.objectOwnership).toBe("BucketOwnerEnforced");
    const policy = policyOf(only(TYPES.bucketPolicy).policy);
    const arn = bucket.state.arn;
    expect(policy.Statement).toEqual([
      expect.objectContaining({ Effect: "Deny", Principal: "*", Action: "s3:*", Resource: [arn, `${arn}/*`], Condition: { Bool: { "aws:SecureTransport": "false" } } }),
    ]);
  });

  test("one lifecycle configuration: logical dumps expire after 84 days, IA after 30, nothing expires the pgBackRest repository", () => {
    const configs = home(TYPES.bucketLifecycle);
    expect(configs).toHaveLength(1);
    const rules: any[] = configs[0].inputs.rules;
    const repoPrefix = `${spec.backup.repoPath.replace(/^\//, "")}/`;
    const logical = rules.find((r) => r.filter?.prefix === spec.backup.logicalPrefix);
    expect(logical).toMatchObject({ status: "Enabled", expiration: { days: 84 }, transitions: [{ days: 30, storageClass: "STANDARD_IA" }] });
    const covers = (r: any, key: string) => !r.filter?.prefix || key.startsWith(r.filter.prefix);
    for (const r of rules.filter((r) => covers(r, `${repoPrefix}archive/${spec.backup.stanza}/archive.info`))) {
      expect(r.expiration?.days).toBeUndefined();
      expect(r.expiration?.date).toBeUndefined();
      expect(r.transitions).toBeUndefined();
    }
    const wholeBucket = rules.filter((r) => !r.filter?.prefix);
    expect(wholeBucket).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ noncurrentVersionExpiration: { noncurrentDays: spec.backup.noncurrentVersionRetentionDays }, expiration: { expiredObjectDeleteMarker: true } }),
        expect.objectContaining({ abortIncompleteMultipartUpload: { daysAfterInitiation: 7 } }),
      ]),
    );
    expect(new Set(rules.map((r) => r.id)).size).toBe(rules.length);
    for (const r of rules) expect(r.status).toBe("Enabled");
  });

  test("IAM: one role and profile per node; policies scoped to its secrets, the cluster key and the bucket prefixes", () => {
    const roles = home(TYPES.role);
    expect(roles).toHaveLength(spec.nodes.length);
    const bucketArn = home(TYPES.bucket)[0].state.arn;
    const secretArn = new Map(home(TYPES.secret).map((s) => [s.inputs.name, s.state.arn]));
    const profiles = home(TYPES.instanceProfile);
    for (const role of roles) {
      const node = role.inputs.tags["pgha:node"];
      const isPostgres = role.inputs.tags["pgha:role"] === "postgres";
      const assume = policyOf(role.inputs.assumeRolePolicy);
      expect(assume.Statement).toEqual([{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }]);
      const attachments = home(TYPES.rolePolicyAttachment).filter((a) => a.parent === role.urn);
      expect(attachments.map((a) => a.inputs.policyArn)).toEqual(["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"]);
      const policies = home(TYPES.rolePolicy).filter((p) => p.parent === role.urn);
      expect(policies).toHaveLength(1);
      const doc = policyOf(policies[0].inputs.policy);
      // No wildcard — but on the monitoring node's two statements whose service needs one (monitoring.test.ts checks them exactly).
      const wildcardAllowed = new Set(role.inputs.tags["pgha:role"] === "monitor" ? ["UseAlertTopicKey", "PutHeartbeat"] : []);
      for (const s of doc.Statement) {
        expect(s.Effect).toBe("Allow");
        if (wildcardAllowed.has(s.Sid)) continue;
        for (const a of [s.Action].flat()) expect(a).not.toContain("*");
        for (const r of [s.Resource].flat()) expect(r).not.toBe("*");
      }
      const statement = (sid: string) => doc.Statement.find((s) => s.Sid === sid);
      const ownSecrets = [secretArn.get(spec.names.nodeSecret[node]), ...(isPostgres ? [secretArn.get(spec.names.clusterSecret), ...Object.values(spec.names.roleSecret).map((n) => secretArn.get(n))] : [])];
      expect(statement("ReadOwnSecrets").Resource).toEqual(ownSecrets);
      expect(statement("UseClusterKey").Resource).toBe(kmsKeyArn);
      // Every node reads its own bundles and the node software — and no other node's bundle.
      expect(statement("ReadOwnBundles")).toEqual({
        Sid: "ReadOwnBundles",
        Effect: "Allow",
        Action: ["s3:GetObject"],
        Resource: [`${bucketArn}/bundles/${spec.clusterName}/nodes/${node}/*`, `${bucketArn}/bundles/${spec.clusterName}/software/*`],
      });
      for (const s of doc.Statement) for (const r of [s.Resource].flat()) if (r.includes("/bundles/")) expect(r.startsWith(`${bucketArn}/bundles/${spec.clusterName}/nodes/${node}/`) || r === `${bucketArn}/bundles/${spec.clusterName}/software/*`).toBe(true);
      // Objects are SSE-KMS under the cluster key: every node decrypts through S3 (and Secrets Manager) only.
      expect(statement("UseClusterKey").Condition).toEqual({ StringEquals: { "kms:ViaService": [`secretsmanager.${spec.region}.amazonaws.com`, `s3.${spec.region}.amazonaws.com`] } });
      const s3 = doc.Statement.filter((s) => [s.Action].flat().some((a: string) => a.startsWith("s3:")));
      if (!isPostgres) {
        expect(s3.map((s) => s.Sid)).toEqual(["ReadOwnBundles"]);
      } else {
        const list = statement("ListBackupPrefixes");
        expect(list.Resource).toBe(bucketArn);
        const prefixes: string[] = list.Condition.StringLike["s3:prefix"];
        for (const p of prefixes) expect(p.startsWith(`pgbackrest/${spec.clusterName}`) || p.startsWith(`logical/${spec.clusterName}`) || p.startsWith(`restore-points/${spec.clusterName}`)).toBe(true);
        expect(statement("BackupObjects").Resource).toEqual([`${bucketArn}/pgbackrest/${spec.clusterName}/*`, `${bucketArn}/${spec.backup.logicalPrefix}*`, `${bucketArn}/${spec.backup.catalogPrefix}*`]);
        // Only the stack's bucket — and, with backup.secondRepository, reads of its copy (second-repository.test.ts).
        const secondBucketArn = run.ofType(TYPES.bucket).find((b) => b.urn.includes("SecondRegionRepository"))?.state.arn;
        for (const s of s3) for (const r of [s.Resource].flat()) {
          if (secondBucketArn && r.startsWith(secondBucketArn)) expect(s.Sid).toMatch(/^(ListSecondRepository|SecondRepositoryObjects)$/);
          else expect(r.startsWith(bucketArn)).toBe(true);
        }
      }
      const profile = profiles.find((p) => p.parent === role.urn)!;
      expect(profile.inputs.role).toBe(role.state.name);
      const instance = instances.find((i) => nodeOf(i) === node)!;
      expect(instance.inputs.iamInstanceProfile).toBe(profile.state.name);
    }
  });

  test("a node boots after its role policy, its secret values, its desired pointer and its route to the internet exist", () => {
    const p = spec.names.prefix;
    const urn = (type: string, name: string) => run.get(type, name).urn;
    const bucketParts = [TYPES.bucket, TYPES.bucketPolicy, TYPES.bucketSse, TYPES.bucketVersioning, TYPES.bucketPublicAccessBlock, TYPES.bucketLifecycle];
    for (const i of instances) {
      const node = nodeOf(i);
      const deps = new Set(i.options.dependencies);
      expect(deps).toContain(urn(TYPES.rolePolicy, `${p}-${node}-node`));
      expect(deps).toContain(urn(TYPES.rolePolicyAttachment, `${p}-${node}-ssm`));
      expect(deps).toContain(urn(TYPES.secretVersion, `${p}-${node}`));
      expect(deps).toContain(urn(TYPES.bucketObject, `${p}-${node}-desired`));
      for (const route of home("aws:ec2/route:Route").filter((r) => r.inputs.natGatewayId)) expect(deps).toContain(route.urn);
      if (roleOf(i) === "postgres") {
        expect(deps).toContain(urn(TYPES.secretVersion, `${p}-cluster`));
        for (const t of bucketParts) expect(deps).toContain(home(t)[0].urn);
      } else {
        expect(deps).not.toContain(urn(TYPES.secretVersion, `${p}-cluster`));
      }
    }
  });

  test("service endpoints: NLB in prod, HAProxy nodes otherwise; DNS names for services and nodes", () => {
    const zones = home(TYPES.zone);
    expect(zones).toHaveLength(1);
    expect(zones[0].inputs.name).toBe(spec.network.domain);
    expect(zones[0].inputs.vpcs).toEqual([{ vpcId: home(TYPES.vpc)[0].id, vpcRegion: spec.region }]);
    const records = home(TYPES.record);
    const record = (name: string) => records.find((r) => r.inputs.name === name)!;
    const lbs = home(TYPES.loadBalancer);
    const haproxyIds = instances.filter((i) => roleOf(i) === "haproxy").map((i) => i.id).sort();
    for (const service of [spec.serviceNames.readWrite, spec.serviceNames.readOnly]) {
      const r = record(service);
      expect(r.inputs.type).toBe("A");
      if (expected.nlb) expect(r.inputs.aliases).toEqual([{ name: lbs[0].state.dnsName, zoneId: lbs[0].state.zoneId, evaluateTargetHealth: true }]);
      else expect(r.inputs.records).toEqual(nodesOf(spec, "haproxy").map((n) => n.privateIp));
    }
    for (const n of spec.nodes) expect(record(`${n.name}.${spec.clusterName}.${spec.network.domain}`).inputs.records).toEqual([n.privateIp]);
    expect(records).toHaveLength(spec.nodes.length + 2);

    if (!expected.nlb) {
      expect(lbs).toHaveLength(0);
      return;
    }
    expect(lbs).toHaveLength(1);
    expect(lbs[0].inputs).toMatchObject({ internal: true, loadBalancerType: "network", enableCrossZoneLoadBalancing: true });
    const nlbGroup = home(TYPES.securityGroup).find((g) => g.inputs.tags["pgha:role"] === "loadBalancer")!;
    expect(lbs[0].inputs.securityGroups).toEqual([nlbGroup.id]);
    expect(lbs[0].inputs.subnets).toHaveLength(3);
    const listeners = home(TYPES.listener);
    const pooled = spec.pooler.enabled ? [[6432, "TCP"], [6433, "TCP"]] : [];
    expect(listeners.map((l) => [l.inputs.port, l.inputs.protocol]).sort()).toEqual([[5000, "TCP"], [5001, "TCP"], ...pooled]);
    for (const l of listeners) {
      const tg = home(TYPES.targetGroup).find((t) => t.state.arn === l.inputs.defaultActions[0].targetGroupArn)!;
      expect(tg.inputs).toMatchObject({ port: l.inputs.port, protocol: "TCP", targetType: "instance", healthCheck: { protocol: "TCP" } });
      const targets = home(TYPES.targetGroupAttachment).filter((a) => a.inputs.targetGroupArn === tg.state.arn);
      expect(targets.map((t) => t.inputs.targetId).sort()).toEqual(haproxyIds);
      for (const t of targets) expect(t.inputs.port).toBe(l.inputs.port);
    }
  });

  test("the rollout command: triggered by the sha256 over every bundle hash, its plan lists every node, it runs after the instances and pointers", () => {
    const commands = home(TYPES.localCommand);
    expect(commands.map((c) => c.name)).toEqual([`${spec.names.prefix}-rollout`]);
    const c = commands[0];
    expect(c.inputs.create).toBe(ROLLOUT_COMMAND);
    const layout = ec2Layout(spec);
    const hashes = spec.nodes.map((n) => ({ name: n.name, hash: renderBundle(spec, n.name, layout).hash }));
    expect(c.inputs.triggers).toEqual([rolloutTrigger(hashes)]);
    const plan = JSON.parse(c.inputs.environment.PGHA_ROLLOUT_PLAN);
    expect(plan.region).toBe(spec.region);
    expect(plan.nodes).toEqual(
      spec.nodes.map((n) => ({ name: n.name, role: n.role, hash: hashes.find((h) => h.name === n.name)!.hash, instanceId: instances.find((i) => nodeOf(i) === n.name)!.id })),
    );
    for (const i of instances) expect(c.options.dependencies).toContain(i.urn);
    for (const o of home(TYPES.bucketObject).filter((o) => o.inputs.key.endsWith("/desired.json"))) expect(c.options.dependencies).toContain(o.urn);
    // It replaces the old day-2 command: no payload of Patroni's dynamic configuration travels over SSM any more.
    for (const r of run.resources) {
      expect(r.name.endsWith("-apply")).toBe(false);
      expect(r.inputs.environment?.PGHA_SSM_PARAMETERS).toBeUndefined();
    }
  });

  test("components: postgres-ha:index:* types, every resource inside the cluster component", () => {
    const components = run.resources.filter((r) => !r.custom);
    for (const c of components) expect(c.type).toMatch(/^postgres-ha:index:[A-Z][A-Za-z]+$/);
    const cluster = components.filter((c) => c.type === "postgres-ha:index:PostgresHaCluster");
    expect(cluster).toHaveLength(1);
    expect(cluster[0].name).toBe(spec.names.prefix);
    for (const r of run.resources.filter((r) => r !== cluster[0])) {
      expect(run.ancestors(r).map((a) => a.type)).toContain("postgres-ha:index:PostgresHaCluster");
    }
    expect(new Set(components.map((c) => c.type))).toEqual(
      new Set([
        "PostgresHaCluster", "Network", "Secrets", "BackupBucket", "NodeRoles", "NodeBundles", "EtcdMembers", "PostgresNodes", "HaproxyNodes", "Dns", "Rollout",
        ...(spec.backup.repositories.length > 1 ? ["SecondRegionRepository"] : []),
        ...(spec.monitoring.enabled ? ["AlertTopic", "MonitoringNode", "Alarms"] : []),
      ].map((n) => `postgres-ha:index:${n}`)),
    );
  });

  test("outputs: endpoints, secret ARNs, bucket, key, addresses, NLB, patronictl, bundle hashes, alert topic and monitoring URLs", () => {
    const o = run.outputs;
    expect(o.endpoints).toEqual({
      readWrite: { host: spec.serviceNames.readWrite, port: 5000 },
      readOnly: { host: spec.serviceNames.readOnly, port: 5001 },
      ...(spec.pooler.enabled ? { pooledReadWrite: { host: spec.serviceNames.readWrite, port: 6432 }, pooledReadOnly: { host: spec.serviceNames.readOnly, port: 6433 } } : {}),
    });
    const secrets = home(TYPES.secret);
    expect(o.secretArns.cluster).toBe(secrets.find((s) => s.inputs.name === spec.names.clusterSecret)!.state.arn);
    expect(Object.keys(o.secretArns.nodes).sort()).toEqual(spec.nodes.map((n) => n.name).sort());
    expect(o.backupBucket).toBe(spec.backup.bucketName);
    expect(o.kmsKeyArn).toBe(kmsKeyArn);
    expect(o.nodePrivateIps).toEqual(Object.fromEntries(spec.nodes.map((n) => [n.name, n.privateIp])));
    expect(o.nlbDnsName).toBe(expected.nlb ? home(TYPES.loadBalancer)[0].state.dnsName : null);
    for (const n of nodesOf(spec, "postgres")) {
      const id = o.instanceIds[n.name];
      expect(o.patronictl[n.name].session).toBe(`aws ssm start-session --region ${spec.region} --target ${id}`);
      expect(o.patronictl[n.name].then).toBe("sudo pgha-patronictl list");
      expect(o.patronictl[n.name].oneShot).toContain('command="sudo pgha-patronictl list"');
    }
    const layout = ec2Layout(spec);
    for (const n of spec.nodes) expect(o.bundleHashes[n.name]).toBe(renderBundle(spec, n.name, layout).hash);
    expect(o.dynamicConfigHash).toBe(sha256(JSON.stringify(dynamicConfig(spec, layout))));
    if (spec.monitoring.enabled) {
      const mon1 = nodesOf(spec, "monitor")[0];
      expect(o.alertTopicArn).toBe(home("aws:sns/topic:Topic")[0].state.arn);
      expect(o.monitoring).toEqual({ prometheusUrl: `https://${mon1.privateIp}:9090`, alertmanagerUrl: `https://${mon1.privateIp}:9093` });
    } else {
      expect(o.alertTopicArn).toBeNull();
      expect(o.monitoring).toBeNull();
    }
  });
});
