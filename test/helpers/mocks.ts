// A reusable harness that runs the Pulumi program offline, the way the language host would,
// against deterministic mocks — and records everything it registered.
//
//   const run = await runProgram({ stack: "prod" });                  // Pulumi.prod.yaml as shipped
//   const run = await runProgram({ stack: "dev", overrides: { postgres: { parameters: { work_mem: "8MB" } } } });
//   run.ofType("aws:ec2/instance:Instance")  → [{ type, name, urn, inputs, state, parent, options, … }]
//   run.outputs                               → the stack outputs (resolved)
//   run.error                                 → what the program threw (e.g. a RunError for bad config)
//
// Each run happens in an isolated module registry (a fresh @pulumi/pulumi, @pulumi/aws, … and a
// fresh program), so one test file can run several stacks. Pulumi keeps its runtime state on
// globals: call runProgram sequentially, never concurrently (await each run).
// Mocks: notes/pulumi-offline.md §2 (API), §8 (capturing parents and resource options).
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import YAML from "yaml";
import { gunzipSync } from "zlib";
import { loadStackConfig } from "../../src/config/load";
import { buildSpec, type ClusterSpec } from "../../src/spec";

export const PROJECT = "postgres-ha";
export const ROOT = path.resolve(__dirname, "../..");
export const ACCOUNT_ID = "123456789012";
/** Pulumi's wire markers for secret values (runtime/rpc.ts). */
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

export type RawConfig = Record<string, string>;

// ---------------------------------------------------------------------------------------------
// Config: what the Pulumi CLI would hand the program for a stack.

function rawValue(v: unknown): string {
  return typeof v === "object" && v !== null ? JSON.stringify(v) : String(v);
}

/** Merges a config patch into a raw map: objects merge key by key into the existing JSON. */
function mergeRaw(raw: RawConfig, key: string, value: unknown): void {
  if (value === undefined) {
    delete raw[key];
    return;
  }
  const existing = raw[key];
  if (value && typeof value === "object" && !Array.isArray(value) && existing && existing.trim().startsWith("{")) {
    const merged = deepMerge(JSON.parse(existing), value as Record<string, unknown>);
    raw[key] = JSON.stringify(merged);
    return;
  }
  raw[key] = rawValue(value);
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] =
      v && typeof v === "object" && !Array.isArray(v) && cur && typeof cur === "object" && !Array.isArray(cur)
        ? deepMerge(cur as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

/**
 * The raw config of a stack: Pulumi.yaml's namespaced values and declared defaults, then
 * Pulumi.<stack>.yaml, then `overrides` (keys with or without the `postgres-ha:` prefix;
 * objects merge into the stack's value, `undefined` removes a key).
 */
export function stackConfig(stack: string, overrides: Record<string, unknown> = {}): RawConfig {
  const raw: RawConfig = {};
  const project = YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")) as { config?: Record<string, unknown> };
  for (const [k, v] of Object.entries(project.config ?? {})) {
    if (k.includes(":")) raw[k] = rawValue(v && typeof v === "object" && "value" in v ? (v as { value: unknown }).value : v);
    else if (v && typeof v === "object" && "default" in v) raw[`${PROJECT}:${k}`] = rawValue((v as { default: unknown }).default);
  }
  const file = path.join(ROOT, `Pulumi.${stack}.yaml`);
  if (fs.existsSync(file)) {
    const doc = YAML.parse(fs.readFileSync(file, "utf8")) as { config?: Record<string, unknown> };
    for (const [k, v] of Object.entries(doc.config ?? {})) raw[k] = rawValue(v);
  }
  for (const [k, v] of Object.entries(overrides)) mergeRaw(raw, k.includes(":") ? k : `${PROJECT}:${k}`, v);
  return raw;
}

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
}

/** Outputs a real provider would compute, by resource type. */
function fakeState(type: string, name: string, inputs: Record<string, any>, ctx: FakeContext): { id: string; state: Record<string, any> } {
  const r = ctx.region;
  const arn = (service: string, resource: string) => `arn:aws:${service}:${r}:${ACCOUNT_ID}:${resource}`;
  switch (type) {
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
function secretValuesOf(type: string, state: Record<string, any>): string[] {
  if (type === "random:index/randomPassword:RandomPassword") return [state.result];
  if (type === "tls:index/privateKey:PrivateKey") return [state.privateKeyPem, state.privateKeyPemPkcs8, state.privateKeyOpenssh];
  return [];
}

/** Invoke results (data sources). An unknown token fails the run: every lookup is deliberate. */
function fakeInvoke(token: string, inputs: Record<string, any>, ctx: FakeContext): Record<string, any> {
  const r = ctx.region;
  switch (token) {
    case "aws:index/getAvailabilityZones:getAvailabilityZones":
      return { id: r, names: ["a", "b", "c"].map((s) => `${r}${s}`), zoneIds: ["1", "2", "3"].map((s) => `euw1-az${s}`), groupNames: [r] };
    case "aws:ec2/getAmi:getAmi": {
      const nameFilter = (inputs.filters ?? []).find((f: { name: string }) => f.name === "name")?.values?.[0] ?? "";
      const arch = nameFilter.includes("arm64") ? "arm64" : "x86_64";
      return { id: `ami-${digest("ami", nameFilter).slice(0, 17)}`, imageId: `ami-${digest("ami", nameFilter).slice(0, 17)}`, architecture: arch, name: nameFilter.replace("*", "20251101-2300") };
    }
    case "aws:index/getPartition:getPartition":
      return { id: "aws", partition: "aws", dnsSuffix: "amazonaws.com", reverseDnsPrefix: "com.amazonaws" };
    case "aws:index/getRegion:getRegion":
      return { id: r, region: r, name: r, endpoint: `ec2.${r}.amazonaws.com`, description: r };
    case "aws:index/getCallerIdentity:getCallerIdentity":
      return { id: ACCOUNT_ID, accountId: ACCOUNT_ID, arn: `arn:aws:iam::${ACCOUNT_ID}:user/ci`, userId: "AIDAEXAMPLE" };
    default:
      throw new Error(`mocks: no fake result for invoke ${token} (add one to test/helpers/mocks.ts)`);
  }
}

// ---------------------------------------------------------------------------------------------
// Values: secrets unwrapped, paths of the secret ones remembered.

function unwrapSecrets(value: any, pathSoFar: string, secretPaths: string[]): any {
  if (Array.isArray(value)) return value.map((v, i) => unwrapSecrets(v, `${pathSoFar}[${i}]`, secretPaths));
  if (value && typeof value === "object") {
    if (value[SIG_KEY] === SECRET_SIG) {
      secretPaths.push(pathSoFar);
      return unwrapSecrets(value.value, pathSoFar, []);
    }
    if (value.constructor !== Object) return value; // assets, archives
    const out: Record<string, any> = {};
    for (const [k, v] of Object.entries(value)) out[k] = unwrapSecrets(v, pathSoFar ? `${pathSoFar}.${k}` : k, secretPaths);
    return out;
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// The run.

export interface ResourceOptionsSeen {
  protect: boolean;
  retainOnDelete: boolean;
  ignoreChanges: string[];
  replaceOnChanges: string[];
  deleteBeforeReplace: boolean;
  additionalSecretOutputs: string[];
  /** URNs of explicit and implicit dependencies. */
  dependencies: string[];
}

export interface RecordedResource {
  type: string;
  name: string;
  urn: string;
  id: string;
  custom: boolean;
  /** Inputs as the provider would get them, secrets unwrapped. */
  inputs: Record<string, any>;
  /** Input paths that arrived as secrets (e.g. "secretString"). */
  secretPaths: string[];
  /** What the mock returned: inputs plus the fake outputs. */
  state: Record<string, any>;
  /** The parent's URN ("" for the stack itself). */
  parent: string;
  options: ResourceOptionsSeen;
}

export interface ProgramRun {
  stack: string;
  config: RawConfig;
  /** Every registered resource except the root pulumi:pulumi:Stack, in registration order. */
  resources: RecordedResource[];
  stackResource?: RecordedResource;
  /** Stack outputs, resolved (undefined when the program failed). */
  outputs: Record<string, any>;
  error?: Error;
  invokes: { token: string; inputs: Record<string, any> }[];
  /** Every password and private key the mocks generated. */
  generatedSecrets: string[];
  ofType(type: string): RecordedResource[];
  /** The one resource of `type` named `name` (throws when missing). */
  get(type: string, name: string): RecordedResource;
  byUrn(urn: string): RecordedResource | undefined;
  /** The resource's parent chain, nearest first. */
  ancestors(r: RecordedResource): RecordedResource[];
}

export interface RunOptions {
  stack: string;
  /** The raw config map; default: stackConfig(stack, overrides). */
  config?: RawConfig;
  overrides?: Record<string, unknown>;
  /** Program entry (default: <root>/index.ts). */
  program?: string;
  /** Preview mode: outputs the mocks do not supply stay unknown. Default false. */
  preview?: boolean;
}

/** The SDK packages shared by every run of a test file (loaded once, in the file's own registry). */
const SHARED_PACKAGES = ["@pulumi/pulumi", "@pulumi/aws", "@pulumi/random", "@pulumi/tls", "@pulumi/command"];
let sdkModules: Record<string, unknown> | undefined;
function sharedSdk(): Record<string, unknown> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  if (!sdkModules) {
    sdkModules = Object.fromEntries(SHARED_PACKAGES.map((name) => [name, require(name)]));
    // Every resource captures its source position from `new Error().stack` with an unlimited
    // stack depth; under jest (source maps) that is most of a run's time. Mocks need no positions.
    const { Resource } = sdkModules["@pulumi/pulumi"] as { Resource: { callsites: () => unknown[] } };
    Resource.callsites = () => [];
  }
  return sdkModules;
}

export async function runProgram(opts: RunOptions): Promise<ProgramRun> {
  const config = opts.config ?? stackConfig(opts.stack, opts.overrides);
  const region = config["aws:region"] ?? "eu-west-1";
  const ctx: FakeContext = { region };
  const program = opts.program ?? path.join(ROOT, "index.ts");
  const records: RecordedResource[] = [];
  const invokes: ProgramRun["invokes"] = [];
  const generatedSecrets: string[] = [];
  let outputs: Record<string, any> = {};
  let error: Error | undefined;

  const sdk = sharedSdk();
  await jest.isolateModulesAsync(async () => {
    // The program and its modules load fresh; the Pulumi SDKs are shared across runs (loading them
    // again costs about a second per run). setMocks/setAllConfig below reset the runtime state.
    for (const name of Object.keys(sdk)) jest.doMock(name, () => sdk[name]);
    const pulumi = sdk["@pulumi/pulumi"] as typeof import("@pulumi/pulumi");
    let pendingRequest: any;
    let lastRecord: RecordedResource | undefined;
    await pulumi.runtime.setMocks(
      {
        newResource(args) {
          const req = pendingRequest;
          pendingRequest = undefined;
          const secretPaths: string[] = [];
          const inputs = unwrapSecrets(args.inputs, "", secretPaths);
          const fake = args.custom ? fakeState(args.type, args.name, inputs, ctx) : { id: "", state: {} };
          const id = args.id || fake.id;
          const state = { ...inputs, ...fake.state };
          generatedSecrets.push(...secretValuesOf(args.type, state));
          lastRecord = {
            type: args.type,
            name: args.name,
            urn: "",
            id,
            custom: args.custom ?? true,
            inputs,
            secretPaths,
            state,
            parent: req?.getParent?.() ?? "",
            options: {
              protect: !!req?.getProtect?.(),
              retainOnDelete: !!req?.getRetainondelete?.(),
              ignoreChanges: req?.getIgnorechangesList?.() ?? [],
              replaceOnChanges: req?.getReplaceonchangesList?.() ?? [],
              deleteBeforeReplace: !!req?.getDeletebeforereplace?.(),
              additionalSecretOutputs: req?.getAdditionalsecretoutputsList?.() ?? [],
              dependencies: req?.getDependenciesList?.() ?? [],
            },
          };
          records.push(lastRecord);
          return { id, state };
        },
        call(args) {
          invokes.push({ token: args.token, inputs: args.inputs });
          return fakeInvoke(args.token, args.inputs, ctx);
        },
      },
      PROJECT,
      opts.stack,
      opts.preview ?? false,
    );
    // Wrap the mock monitor to see what MockResourceArgs lacks: parent and resource options.
    const monitor = pulumi.runtime.getMonitor() as any;
    const register = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req: any, callback: (err: any, resp: any) => void) => {
      pendingRequest = req;
      lastRecord = undefined;
      // The mock calls newResource synchronously, before its first await.
      const result = register(req, (err: any, resp: any) => {
        if (resp && record) record.urn = resp.getUrn();
        callback(err, resp);
      });
      const record = lastRecord as RecordedResource | undefined; // set by newResource above
      return result;
    };
    pulumi.runtime.setAllConfig(config, []);
    // Pulumi stamps every internal promise with `new Error().stack`; jest's source-mapped stack
    // formatting makes that most of a run's time. Plain V8 frames (unmapped) are enough here.
    const { prepareStackTrace, stackTraceLimit } = Error;
    Error.prepareStackTrace = (err, frames) => `${err}\n${frames.map((f) => `    at ${f}`).join("\n")}`;
    Error.stackTraceLimit = 12;
    try {
      outputs = (await pulumi.runtime.runInPulumiStack(async () => {
        // The language host would fail the update here; the harness keeps the error for the test
        // (a rejected Stack initialisation would otherwise surface as an unhandled rejection).
        try {
          return { ...(await import(program)) };
        } catch (e) {
          error = e as Error;
          return {};
        }
      })) as Record<string, any>;
    } catch (e) {
      error = e as Error;
    }
    try {
      await (pulumi.runtime as any).waitForRPCs();
    } catch (e) {
      error ??= e as Error;
    }
    Error.prepareStackTrace = prepareStackTrace;
    Error.stackTraceLimit = stackTraceLimit;
  });
  for (const name of Object.keys(sdk)) jest.dontMock(name);

  const stackResource = records.find((r) => r.type === "pulumi:pulumi:Stack");
  const resources = records.filter((r) => r !== stackResource);
  const byUrn = new Map(records.map((r) => [r.urn, r]));
  const run: ProgramRun = {
    stack: opts.stack,
    config,
    resources,
    stackResource,
    outputs,
    error,
    invokes,
    generatedSecrets: [...new Set(generatedSecrets.filter(Boolean))],
    ofType: (type) => resources.filter((r) => r.type === type),
    get(type, name) {
      const found = resources.find((r) => r.type === type && r.name === name);
      if (!found) {
        const names = resources.filter((r) => r.type === type).map((r) => r.name);
        throw new Error(`no ${type} named ${name}; registered: ${names.join(", ") || "(none of this type)"}`);
      }
      return found;
    },
    byUrn: (urn) => byUrn.get(urn),
    ancestors(r) {
      const chain: RecordedResource[] = [];
      let cur = byUrn.get(r.parent);
      while (cur) {
        chain.push(cur);
        cur = byUrn.get(cur.parent);
      }
      return chain;
    },
  };
  return run;
}

// ---------------------------------------------------------------------------------------------
// Helpers for assertions.

/** The ClusterSpec the program built for a run's config (the same pure path, outside Pulumi). */
export function specOf(run: Pick<ProgramRun, "config" | "stack">): ClusterSpec {
  return buildSpec(loadStackConfig(run.config, { stack: run.stack }), run.stack);
}

/** An instance's cloud-config text: base64 → gunzip (the form EC2 hands cloud-init). */
export function decodeUserData(userDataBase64: string): string {
  return gunzipSync(Buffer.from(userDataBase64, "base64")).toString("utf8");
}

/** A JSON policy document input (string) parsed, or the object as is. */
export function policyOf(value: unknown): { Version: string; Statement: any[] } {
  return typeof value === "string" ? JSON.parse(value) : (value as { Version: string; Statement: any[] });
}

/** Inputs without the keys given (for comparing two runs). */
export function without<T extends Record<string, unknown>>(obj: T, keys: string[]): Partial<T> {
  const out: Record<string, unknown> = { ...obj };
  for (const k of keys) delete out[k];
  return out as Partial<T>;
}

export const TYPES = {
  instance: "aws:ec2/instance:Instance",
  volume: "aws:ebs/volume:Volume",
  volumeAttachment: "aws:ec2/volumeAttachment:VolumeAttachment",
  securityGroup: "aws:ec2/securityGroup:SecurityGroup",
  ingress: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
  egress: "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
  vpc: "aws:ec2/vpc:Vpc",
  subnet: "aws:ec2/subnet:Subnet",
  natGateway: "aws:ec2/natGateway:NatGateway",
  vpcEndpoint: "aws:ec2/vpcEndpoint:VpcEndpoint",
  bucket: "aws:s3/bucket:Bucket",
  bucketVersioning: "aws:s3/bucketVersioning:BucketVersioning",
  bucketSse: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
  bucketPublicAccessBlock: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
  bucketOwnership: "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
  bucketPolicy: "aws:s3/bucketPolicy:BucketPolicy",
  bucketLifecycle: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
  kmsKey: "aws:kms/key:Key",
  kmsAlias: "aws:kms/alias:Alias",
  secret: "aws:secretsmanager/secret:Secret",
  secretVersion: "aws:secretsmanager/secretVersion:SecretVersion",
  role: "aws:iam/role:Role",
  rolePolicy: "aws:iam/rolePolicy:RolePolicy",
  rolePolicyAttachment: "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
  instanceProfile: "aws:iam/instanceProfile:InstanceProfile",
  loadBalancer: "aws:lb/loadBalancer:LoadBalancer",
  targetGroup: "aws:lb/targetGroup:TargetGroup",
  listener: "aws:lb/listener:Listener",
  targetGroupAttachment: "aws:lb/targetGroupAttachment:TargetGroupAttachment",
  zone: "aws:route53/zone:Zone",
  record: "aws:route53/record:Record",
  randomPassword: "random:index/randomPassword:RandomPassword",
  privateKey: "tls:index/privateKey:PrivateKey",
  localCommand: "command:local:Command",
} as const;
