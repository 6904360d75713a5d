// `pgha plan`: every resource the program registers under mocks, as a deterministic document —
// type, name, parent, resource options, inputs (secrets redacted, unknowns "<computed>"), each
// instance's user-data decoded into its files (mode, owner, sha256), and the day-2 command's
// payload decoded into the dynamic configuration it applies. Same stack, same bytes.
import { createHash } from "crypto";
import { dayTwoPayload } from "../../policies/rules/cluster";
import { UNKNOWN, type ProgramRun, type RecordedResource } from "./run";
import { decodeUserData } from "../delivery/userdata";

export const PLAN_FORMAT = "pgha-plan/1";
export const COMPUTED = "<computed>";
export const REDACTED = "[secret]";

export interface PlanFile {
  path: string;
  mode: string;
  owner: string;
  sha256: string;
  bytes: number;
}

export interface PlanUserData {
  encoding: string;
  /** sha256 of the decoded user-data text. */
  sha256: string;
  bytes: number;
  files: PlanFile[];
}

export interface PlanResource {
  urn: string;
  type: string;
  name: string;
  /** The parent's URN (null for the root Stack). */
  parent: string | null;
  custom: boolean;
  options: {
    protect?: true;
    retainOnDelete?: true;
    deleteBeforeReplace?: true;
    ignoreChanges?: string[];
    replaceOnChanges?: string[];
  };
  /** URNs this resource depends on (explicit and through its inputs). */
  dependencies: string[];
  inputs: Record<string, unknown>;
  userData?: PlanUserData;
  /** The Patroni dynamic configuration a day-2 command applies (decoded from its payload). */
  dynamicConfig?: Record<string, unknown>;
}

export interface Plan {
  format: string;
  project: string;
  stack: string;
  resourceCount: number;
  byType: Record<string, number>;
  resources: PlanResource[];
  outputs: Record<string, unknown>;
}

export function sha256(text: string | Buffer): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Input keys whose values are secret whatever the mocks say (mocks do not apply additionalSecretOutputs). */
const SECRET_KEYS = /^(privateKeyPem|privateKeyPemPkcs8|privateKeyOpenssh|caPrivateKeyPem|password|secretString|secretBinary|result|bcryptHash)$/;

/** Redacts secrets, marks unknowns, sorts keys; assets become a short marker. */
export function canonical(value: unknown, path: string, secretPaths: Set<string>, secrets: string[]): unknown {
  if (secretPaths.has(path)) return REDACTED;
  if (value === UNKNOWN) return COMPUTED;
  if (typeof value === "string") return secrets.some((s) => s && value.includes(s)) ? REDACTED : value;
  if (Array.isArray(value)) return value.map((v, i) => canonical(v, `${path}[${i}]`, secretPaths, secrets));
  if (value && typeof value === "object") {
    if ((value as object).constructor !== Object) return `[${(value as object).constructor?.name ?? "object"}]`;
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v === undefined) continue;
      const p = path ? `${path}.${k}` : k;
      out[k] = SECRET_KEYS.test(k) && typeof v === "string" && v !== UNKNOWN ? REDACTED : canonical(v, p, secretPaths, secrets);
    }
    return out;
  }
  return value;
}

function userDataOf(r: RecordedResource): PlanUserData | undefined {
  const decoded = decodeUserData({ userDataBase64: r.inputs.userDataBase64, userData: r.inputs.userDataBase64 ? undefined : r.inputs.userData });
  if (!decoded) return undefined;
  return {
    encoding: decoded.encoding,
    sha256: sha256(decoded.text),
    bytes: Buffer.byteLength(decoded.text),
    files: decoded.files
      .map((f) => ({ path: f.path, mode: f.mode, owner: f.owner, sha256: sha256(f.content), bytes: Buffer.byteLength(f.content) }))
      .sort((a, b) => a.path.localeCompare(b.path)),
  };
}

function dynamicConfigOf(r: RecordedResource): Record<string, unknown> | undefined {
  const params = r.inputs.environment?.PGHA_SSM_PARAMETERS;
  if (typeof params !== "string") return undefined;
  const payload = dayTwoPayload(params);
  if (!payload) return undefined;
  try {
    return JSON.parse(payload);
  } catch {
    return undefined;
  }
}

export function buildPlan(run: ProgramRun, project = "postgres-ha"): Plan {
  const records = run.stackResource ? [run.stackResource, ...run.resources] : [...run.resources];
  const secrets = run.generatedSecrets.filter((s) => s.length >= 8);
  const resources: PlanResource[] = records.map((r) => {
    const inputs = { ...r.inputs };
    const userData = r.type === "aws:ec2/instance:Instance" || r.type === "aws:ec2/launchTemplate:LaunchTemplate" ? userDataOf(r) : undefined;
    if (userData) {
      if ("userDataBase64" in inputs) inputs.userDataBase64 = `<${userData.encoding}: ${userData.files.length} files, see userData>`;
      if ("userData" in inputs) inputs.userData = `<${userData.encoding}: ${userData.files.length} files, see userData>`;
    }
    const options: PlanResource["options"] = {};
    if (r.options.protect) options.protect = true;
    if (r.options.retainOnDelete) options.retainOnDelete = true;
    if (r.options.deleteBeforeReplace) options.deleteBeforeReplace = true;
    if (r.options.ignoreChanges.length) options.ignoreChanges = [...r.options.ignoreChanges].sort();
    if (r.options.replaceOnChanges.length) options.replaceOnChanges = [...r.options.replaceOnChanges].sort();
    const plan: PlanResource = {
      urn: r.urn,
      type: r.type,
      name: r.name,
      parent: r.parent || null,
      custom: r.custom,
      options,
      dependencies: [...new Set(r.options.dependencies)].sort(),
      inputs: canonical(inputs, "", new Set(r.secretPaths), secrets) as Record<string, unknown>,
    };
    if (userData) plan.userData = userData;
    const dynamic = r.type === "command:local:Command" ? dynamicConfigOf(r) : undefined;
    if (dynamic) plan.dynamicConfig = canonical(dynamic, "", new Set(), secrets) as Record<string, unknown>;
    return plan;
  });
  resources.sort((a, b) => (a.urn < b.urn ? -1 : a.urn > b.urn ? 1 : 0));
  const byType: Record<string, number> = {};
  for (const r of resources) byType[r.type] = (byType[r.type] ?? 0) + 1;
  return {
    format: PLAN_FORMAT,
    project,
    stack: run.stack,
    resourceCount: resources.length,
    byType: Object.fromEntries(Object.entries(byType).sort(([a], [b]) => a.localeCompare(b))),
    resources,
    outputs: canonical(run.stackOutputs, "", new Set(run.stackOutputSecretPaths), secrets) as Record<string, unknown>,
  };
}

export function planJson(plan: Plan): string {
  return JSON.stringify(plan, null, 2) + "\n";
}

// ---------------------------------------------------------------------------------------------
// The text listing: a tree by parent, children sorted by type and name.

/** Inputs worth a glance per type (everything is in --json). */
const KEY_INPUTS: Record<string, string[]> = {
  "aws:ec2/vpc:Vpc": ["cidrBlock"],
  "aws:ec2/subnet:Subnet": ["cidrBlock", "availabilityZone", "mapPublicIpOnLaunch"],
  "aws:ec2/securityGroup:SecurityGroup": ["description"],
  "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": ["ipProtocol", "fromPort", "toPort", "cidrIpv4", "cidrIpv6"],
  "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": ["ipProtocol", "fromPort", "toPort", "cidrIpv4", "cidrIpv6"],
  "aws:ec2/instance:Instance": ["instanceType", "privateIp", "associatePublicIpAddress", "monitoring", "metadataOptions.httpTokens", "rootBlockDevice.encrypted"],
  "aws:ebs/volume:Volume": ["type", "size", "iops", "throughput", "encrypted", "availabilityZone"],
  "aws:s3/bucket:Bucket": ["bucket", "forceDestroy"],
  "aws:s3/bucketVersioning:BucketVersioning": ["versioningConfiguration.status"],
  "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": ["rules[*].id"],
  "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": ["rules[*].applyServerSideEncryptionByDefault.sseAlgorithm"],
  "aws:kms/key:Key": ["enableKeyRotation", "deletionWindowInDays"],
  "aws:kms/alias:Alias": ["name"],
  "aws:secretsmanager/secret:Secret": ["name", "recoveryWindowInDays"],
  "aws:lb/loadBalancer:LoadBalancer": ["loadBalancerType", "internal"],
  "aws:lb/targetGroup:TargetGroup": ["protocol", "port"],
  "aws:lb/listener:Listener": ["protocol", "port"],
  "aws:route53/zone:Zone": ["name"],
  "aws:route53/record:Record": ["name", "type"],
  "aws:ec2/natGateway:NatGateway": ["connectivityType"],
  "aws:ec2/vpcEndpoint:VpcEndpoint": ["serviceName", "vpcEndpointType"],
  "random:index/randomPassword:RandomPassword": ["length"],
  "tls:index/privateKey:PrivateKey": ["algorithm", "ecdsaCurve"],
  "tls:index/locallySignedCert:LocallySignedCert": ["validityPeriodHours"],
  "command:local:Command": ["triggers"],
};

function at(value: unknown, path: string): unknown[] {
  let current: unknown[] = [value];
  for (const part of path.split(".")) {
    const m = /^(\w+)(\[\*\])?$/.exec(part);
    if (!m) return [];
    current = current.flatMap((v) => {
      const next = v && typeof v === "object" ? (v as Record<string, unknown>)[m[1]] : undefined;
      return m[2] ? (Array.isArray(next) ? next : []) : [next];
    });
  }
  return current.filter((v) => v !== undefined);
}

function show(v: unknown): string {
  if (typeof v === "string") return v.length > 64 ? `${v.slice(0, 12)}…(${v.length})` : v;
  return JSON.stringify(v);
}

export function keyInputs(r: PlanResource): string {
  const keys = KEY_INPUTS[r.type];
  if (!keys) return "";
  return keys
    .map((k) => {
      const values = at(r.inputs, k);
      if (!values.length) return "";
      return `${k.replace(/\[\*\]/g, "")}=${values.length === 1 && !k.includes("[*]") ? show(values[0]) : values.map(show).join(",")}`;
    })
    .filter(Boolean)
    .join(" ");
}

function optionFlags(r: PlanResource): string {
  const flags = [
    r.options.protect && "protect",
    r.options.retainOnDelete && "retainOnDelete",
    r.options.ignoreChanges && `ignoreChanges=${r.options.ignoreChanges.join(",")}`,
    r.options.replaceOnChanges && `replaceOnChanges=${r.options.replaceOnChanges.join(",")}`,
  ].filter(Boolean);
  return flags.length ? ` [${flags.join(" ")}]` : "";
}

export function formatPlanText(plan: Plan): string {
  const children = new Map<string | null, PlanResource[]>();
  const known = new Set(plan.resources.map((r) => r.urn));
  for (const r of plan.resources) {
    const parent = r.parent && known.has(r.parent) ? r.parent : null;
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent)!.push(r);
  }
  for (const list of children.values()) list.sort((a, b) => a.type.localeCompare(b.type) || a.name.localeCompare(b.name));
  const lines: string[] = [
    `${plan.project} ${plan.stack}: ${plan.resourceCount} resources (planned under mocks: no Pulumi CLI, no cloud; "${COMPUTED}" = known only after apply)`,
  ];
  const walk = (r: PlanResource, prefix: string, last: boolean, root: boolean) => {
    const branch = root ? "" : last ? "└─ " : "├─ ";
    const detail = keyInputs(r);
    lines.push(`${prefix}${branch}${r.type}  ${r.name}${detail ? `  ${detail}` : ""}${optionFlags(r)}`);
    const childPrefix = root ? "" : prefix + (last ? "   " : "│  ");
    const kids = children.get(r.urn) ?? [];
    const extra: string[] = [];
    if (r.userData) {
      extra.push(`user-data ${r.userData.encoding}, ${r.userData.bytes} B, sha256 ${r.userData.sha256.slice(0, 12)}:`);
      for (const f of r.userData.files) extra.push(`  ${f.mode || "----"} ${(f.owner || "-").padEnd(17)} ${f.sha256.slice(0, 12)} ${String(f.bytes).padStart(6)} B  ${f.path}`);
    }
    if (r.dynamicConfig) extra.push("applies Patroni's dynamic configuration (decoded in --json: dynamicConfig)");
    const bar = kids.length ? "│  " : "   ";
    for (const e of extra) lines.push(`${childPrefix}${bar}${e}`);
    kids.forEach((k, i) => walk(k, childPrefix, i === kids.length - 1, false));
  };
  const roots = children.get(null) ?? [];
  roots.forEach((r) => walk(r, "", true, true));
  lines.push("", "by type:");
  for (const [type, n] of Object.entries(plan.byType)) lines.push(`  ${String(n).padStart(3)}  ${type}`);
  if (Object.keys(plan.outputs).length) {
    lines.push("", "outputs:");
    for (const [k, v] of Object.entries(plan.outputs)) lines.push(`  ${k}: ${JSON.stringify(v)}`);
  }
  return lines.join("\n") + "\n";
}
