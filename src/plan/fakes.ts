// Deterministic fake provider outputs and invoke results for running the Pulumi program under
// mocks (tests, `pgha plan`, `pgha check`, `pgha diff`). Same input → same bytes, always: ids,
// ARNs, passwords and PEMs are derived from the resource name with sha256.
import { createHash } from "crypto";

export const ACCOUNT_ID = "123456789012";

// ---------------------------------------------------------------------------------------------
// Deterministic fake values.

export function digest(...parts: string[]): string {
  return createHash("sha256").update(parts.join("\u0000")).digest("hex");
}

const PASSWORD_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** The password the mock RandomPassword named `name` returns. */
export function fakePassword(name: string, length = 32): string {
  let out = "";
  for (let i = 0; out.length < length; i++) {
    const bytes = Buffer.from(digest("password", name, String(i)), "hex");
    for (const b of bytes) if (out.length < length) out += PASSWORD_CHARS[b % PASSWORD_CHARS.length];
  }
  return out;
}

function fakePem(label: string, kind: string, name: string): string {
  const body = Buffer.from(digest(kind, name) + digest(kind, name, "2")).toString("base64");
  return `-----BEGIN ${label}-----\n${body.match(/.{1,64}/g)!.join("\n")}\n-----END ${label}-----\n`;
}

const hex = (name: string, n: number) => digest("id", name).slice(0, n);

export interface FakeContext {
  region: string;
  /** Instances that exist already, by node name (what EC2 answers for a deployed stack); default none. */
  runningInstances?: Record<string, { id: string; ami: string }>;
  /**
   * Another stack's config by name (a StackReference's target: organization/project/<stack>),
   * from which its `network` output is faked: its region from its config, its VPC and zone ids
   * fake but stable. Default: none (a StackReference then has no outputs).
   */
  stackConfig?: (stack: string) => Record<string, string> | undefined;
}

/** What a StackReference to `name` (organization/project/stack) reads: the stack's exported `network`, faked from its config. */
function fakeStackReference(name: string, ctx: FakeContext): Record<string, any> {
  const stack = name.split("/").pop()!;
  const config = ctx.stackConfig?.(stack);
  if (!config) return {};
  return { network: { region: config["aws:region"] ?? ctx.region, vpcId: `vpc-${hex(`${stack}/vpc`, 17)}`, privateZoneId: `Z${hex(`${stack}/zone`, 20).toUpperCase()}` } };
}

/** Outputs a real provider would compute, by resource type. */
export function fakeState(type: string, name: string, inputs: Record<string, any>, ctx: FakeContext): { id: string; state: Record<string, any> } {
  const r = ctx.region;
  const arn = (service: string, resource: string) => `arn:aws:${service}:${r}:${ACCOUNT_ID}:${resource}`;
  switch (type) {
    case "pulumi:pulumi:StackReference":
      return { id: inputs.name, state: { outputs: fakeStackReference(inputs.name, ctx), secretOutputNames: [] } };
    case "aws:ec2/vpc:Vpc":
      return { id: `vpc-${hex(name, 17)}`, state: { arn: arn("ec2", `vpc/vpc-${hex(name, 17)}`) } };
    case "aws:ec2/subnet:Subnet":
      return { id: `subnet-${hex(name, 17)}`, state: { arn: arn("ec2", `subnet/subnet-${hex(name, 17)}`) } };
    case "aws:ec2/securityGroup:SecurityGroup":
      return { id: `sg-${hex(name, 17)}`, state: { arn: arn("ec2", `security-group/sg-${hex(name, 17)}`) } };
    case "aws:ec2/instance:Instance":
      return { id: `i-${hex(name, 17)}`, state: { arn: arn("ec2", `instance/i-${hex(name, 17)}`), privateIp: inputs.privateIp, instanceState: "running" } };
    case "aws:ebs/volume:Volume":
      return { id: `vol-${hex(name, 17)}`, state: { arn: arn("ec2", `volume/vol-${hex(name, 17)}`) } };
    case "aws:ec2/internetGateway:InternetGateway":
      return { id: `igw-${hex(name, 17)}`, state: {} };
    case "aws:ec2/natGateway:NatGateway":
      return { id: `nat-${hex(name, 17)}`, state: {} };
    case "aws:ec2/eip:Eip":
      return { id: `eipalloc-${hex(name, 17)}`, state: { publicIp: "203.0.113.10" } };
    case "aws:ec2/routeTable:RouteTable":
      return { id: `rtb-${hex(name, 17)}`, state: {} };
    case "aws:ec2/vpcEndpoint:VpcEndpoint":
      return { id: `vpce-${hex(name, 17)}`, state: {} };
    case "aws:kms/key:Key": {
      const keyId = `${hex(name, 8)}-${hex(name + "1", 4)}-${hex(name + "2", 4)}-${hex(name + "3", 4)}-${hex(name + "4", 12)}`;
      return { id: keyId, state: { keyId, arn: arn("kms", `key/${keyId}`) } };
    }
    case "aws:kms/alias:Alias":
      return { id: inputs.name, state: { arn: arn("kms", inputs.name) } };
    case "aws:secretsmanager/secret:Secret": {
      const secretArn = arn("secretsmanager", `secret:${inputs.name}-${hex(name, 6)}`);
      return { id: secretArn, state: { arn: secretArn } };
    }
    case "aws:secretsmanager/secretVersion:SecretVersion":
      return { id: `${inputs.secretId}|v1`, state: { secretArn: inputs.secretId, versionId: "v1" } };
    case "aws:s3/bucket:Bucket": {
      const bucket = inputs.bucket ?? `${name}-${hex(name, 7)}`;
      return { id: bucket, state: { bucket, arn: `arn:aws:s3:::${bucket}`, bucketRegion: r } };
    }
    case "aws:iam/role:Role":
    case "aws:iam/instanceProfile:InstanceProfile": {
      const physical = inputs.name ?? `${name}-${hex(name, 7)}`;
      const kind = type.endsWith("Role") ? "role" : "instance-profile";
      return { id: physical, state: { name: physical, arn: `arn:aws:iam::${ACCOUNT_ID}:${kind}/${physical}` } };
    }
    case "aws:lb/loadBalancer:LoadBalancer":
      return {
        id: arn("elasticloadbalancing", `loadbalancer/net/${name}/${hex(name, 16)}`),
        state: { arn: arn("elasticloadbalancing", `loadbalancer/net/${name}/${hex(name, 16)}`), dnsName: `${name}-${hex(name, 10)}.elb.${r}.amazonaws.com`, zoneId: "Z2IFOLAFXWLO4F" },
      };
    case "aws:lb/targetGroup:TargetGroup":
      return { id: arn("elasticloadbalancing", `targetgroup/${name}/${hex(name, 16)}`), state: { arn: arn("elasticloadbalancing", `targetgroup/${name}/${hex(name, 16)}`) } };
    case "aws:lb/listener:Listener":
      return { id: arn("elasticloadbalancing", `listener/net/${name}/${hex(name, 16)}`), state: { arn: arn("elasticloadbalancing", `listener/net/${name}/${hex(name, 16)}`) } };
    case "aws:route53/zone:Zone": {
      const zoneId = `Z${hex(name, 20).toUpperCase()}`;
      return { id: zoneId, state: { zoneId, arn: `arn:aws:route53:::hostedzone/${zoneId}` } };
    }
    case "random:index/randomPassword:RandomPassword": {
      const result = fakePassword(name, inputs.length ?? 32);
      return { id: "none", state: { result, bcryptHash: `$2a$10$${digest("bcrypt", name).slice(0, 53)}` } };
    }
    case "tls:index/privateKey:PrivateKey":
      return {
        id: digest("key", name).slice(0, 40),
        state: {
          privateKeyPem: fakePem("EC PRIVATE KEY", "private", name),
          privateKeyPemPkcs8: fakePem("PRIVATE KEY", "pkcs8", name),
          privateKeyOpenssh: fakePem("OPENSSH PRIVATE KEY", "openssh", name),
          publicKeyPem: fakePem("PUBLIC KEY", "public", name),
          publicKeyOpenssh: `ecdsa-sha2-nistp256 ${Buffer.from(digest("ssh", name)).toString("base64")}`,
        },
      };
    case "tls:index/selfSignedCert:SelfSignedCert":
    case "tls:index/locallySignedCert:LocallySignedCert":
      return { id: digest("cert", name).slice(0, 40), state: { certPem: fakePem("CERTIFICATE", "cert", name), readyForRenewal: false } };
    case "tls:index/certRequest:CertRequest":
      return { id: digest("csr", name).slice(0, 40), state: { certRequestPem: fakePem("CERTIFICATE REQUEST", "csr", name) } };
    case "command:local:Command":
      return { id: `${name}-${hex(name, 8)}`, state: { stdout: "", stderr: "" } };
    default: {
      const service = type.split(":")[1]?.split("/")[0] ?? "unknown";
      return { id: `${name}-id`, state: { arn: arn(service, name) } };
    }
  }
}

/** Generated values that must never appear in user-data, files or plain outputs. */
export function secretValuesOf(type: string, state: Record<string, any>): string[] {
  if (type === "random:index/randomPassword:RandomPassword") return [state.result];
  if (type === "tls:index/privateKey:PrivateKey") return [state.privateKeyPem, state.privateKeyPemPkcs8, state.privateKeyOpenssh];
  return [];
}

/** Invoke results (data sources). An unknown token fails the run: every lookup is deliberate. */
export function fakeInvoke(token: string, inputs: Record<string, any>, ctx: FakeContext): Record<string, any> {
  const r = ctx.region;
  switch (token) {
    case "aws:index/getAvailabilityZones:getAvailabilityZones":
      return { id: r, names: ["a", "b", "c"].map((s) => `${r}${s}`), zoneIds: ["1", "2", "3"].map((s) => `euw1-az${s}`), groupNames: [r] };
    case "aws:ec2/getAmi:getAmi": {
      const nameFilter = (inputs.filters ?? []).find((f: { name: string }) => f.name === "name")?.values?.[0] ?? "";
      const arch = nameFilter.includes("arm64") ? "arm64" : "x86_64";
      return { id: `ami-${digest("ami", nameFilter).slice(0, 17)}`, imageId: `ami-${digest("ami", nameFilter).slice(0, 17)}`, architecture: arch, name: nameFilter.replace("*", "20251101-2300") };
    }
    case "aws:ec2/getInstances:getInstances": {
      const node = (inputs.filters ?? []).find((f: { name: string }) => f.name === "tag:pgha:node")?.values?.[0];
      const found = node ? ctx.runningInstances?.[node] : undefined;
      return { id: r, ids: found ? [found.id] : [], privateIps: [], publicIps: [], ipv6Addresses: [] };
    }
    case "aws:ec2/getInstance:getInstance": {
      const found = Object.values(ctx.runningInstances ?? {}).find((i) => i.id === inputs.instanceId);
      if (!found) throw new Error(`mocks: no instance ${inputs.instanceId}`);
      return { id: found.id, ami: found.ami, instanceType: "t4g.medium" };
    }
    case "aws:index/getPartition:getPartition":
      return { id: "aws", partition: "aws", dnsSuffix: "amazonaws.com", reverseDnsPrefix: "com.amazonaws" };
    case "aws:index/getRegion:getRegion":
      return { id: r, region: r, name: r, endpoint: `ec2.${r}.amazonaws.com`, description: r };
    case "aws:index/getCallerIdentity:getCallerIdentity":
      return { id: ACCOUNT_ID, accountId: ACCOUNT_ID, arn: `arn:aws:iam::${ACCOUNT_ID}:user/ci`, userId: "AIDAEXAMPLE" };
    default:
      throw new Error(`mocks: no fake result for invoke ${token} (add one to src/plan/fakes.ts)`);
  }
}

