// `pgha plan`: every resource the program registers under mocks, as a deterministic document —
// type, name, parent, resource options, inputs (secrets redacted, unknowns "<computed>"), each
// instance's user-data (the bootstrap) decoded into its files, each node bundle object decoded
// into the node's files (mode, owner, sha256, what a change does on the node), the node software
// and the desired pointers, and the rollout command described (which nodes, which bundles, its
// trigger). Same stack, same bytes.
import { createHash } from "crypto";
import { rolloutTrigger } from "../bundle/format";
import { decodeNodeBundle, decodeSoftware, isBucketObjectType, objectBytes, parseBundleKey, parseDesiredPointer, type BundleObjectKey } from "../delivery/bundle-objects";
import { decodeUserData } from "../delivery/userdata";
import { rolloutOrder } from "../rollout/rollout";
import type { Role } from "../spec";
import { UNKNOWN, type ProgramRun, type RecordedResource } from "./run";

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

export interface PlanBundleFile extends PlanFile {
  /** What pgha-node does on a running node when the file changes (src/bundle/format.ts). */
  onChange: string[];
}

/** A bundle object decoded (components/nodeBundles.ts): what it is and what it holds. */
export type PlanBundle =
  | { kind: "node-bundle"; key: string; node: string; role: string; sha256: string; bytes: number; software: string; files: PlanBundleFile[] }
  | { kind: "software"; key: string; sha256: string; bytes: number; files: PlanFile[] }
  | { kind: "desired"; key: string; node: string; bundle: string; software: string }
  | { kind: "unreadable"; key: string; of: BundleObjectKey["kind"]; error: string };

/** The rollout command (components/rollout.ts): which nodes it converges to which bundles, and when it runs. */
export interface PlanRollout {
  /** The command's trigger: sha256 over every node's bundle hash (it runs again when one changes). */
  trigger: unknown;
  /** Whether the trigger is the one of the bundles the pointers name (recomputed here). */
  triggerMatchesBundles: boolean;
  nodes: { name: string; role: string; hash: string }[];
  /** Where the node list is read: the command's PGHA_ROLLOUT_PLAN (known after `up`), else the desired pointers. */
  nodesFrom: "PGHA_ROLLOUT_PLAN" | "desired pointers";
  /** The order it converges them in. */
  order: string;
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
  /** A node bundle object, the node software or a desired pointer, decoded. */
  bundle?: PlanBundle;
  /** The rollout command, described. */
  rollout?: PlanRollout;
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

function bundleOf(r: RecordedResource, key: BundleObjectKey): PlanBundle | undefined {
  if (r.inputs.contentBase64 === UNKNOWN || r.inputs.content === UNKNOWN) return undefined;
  const bytes = objectBytes(r.inputs);
  if (!bytes) return { kind: "unreadable", key: key.key, of: key.kind, error: "no content" };
  try {
    if (key.kind === "desired") {
      const p = parseDesiredPointer(bytes.toString("utf8"));
      return { kind: "desired", key: key.key, node: key.node, bundle: p.bundle, software: p.software };
    }
    if (key.kind === "software") {
      const sw = decodeSoftware(bytes);
      const files = sw.files.map((f) => ({ path: f.path, mode: f.mode, owner: "root:root", sha256: f.sha256, bytes: f.bytes }));
      return { kind: "software", key: key.key, sha256: sw.sha256, bytes: sw.bytes, files };
    }
    const b = decodeNodeBundle(bytes);
    const files = [...b.files.values()]
      .map((f) => ({ path: f.path, mode: f.mode, owner: f.owner, sha256: f.sha256, bytes: Buffer.byteLength(f.content), onChange: [...f.onChange] }))
      .sort((x, y) => x.path.localeCompare(y.path));
    return { kind: "node-bundle", key: key.key, node: b.manifest.node, role: b.manifest.role, sha256: b.sha256, bytes: b.bytes, software: b.manifest.software.sha256, files };
  } catch (e) {
    return { kind: "unreadable", key: key.key, of: key.kind, error: (e as Error).message };
  }
}

function isRolloutCommand(r: RecordedResource): boolean {
  const env = r.inputs.environment;
  return r.type === "command:local:Command" && !!env && typeof env === "object" && "PGHA_ROLLOUT_PLAN" in env;
}

/** The rollout command described from its plan (when known) or from the desired pointers the run uploads. */
function rolloutOf(r: RecordedResource, bundles: PlanBundle[]): PlanRollout {
  const roles = new Map(bundles.flatMap((b) => (b.kind === "node-bundle" ? [[`${b.node}/${b.sha256}`, b.role] as const] : [])));
  const fromPointers = bundles.flatMap((b) => (b.kind === "desired" ? [{ name: b.node, role: roles.get(`${b.node}/${b.bundle}`) ?? "(unknown)", hash: b.bundle }] : []));
  let nodes = fromPointers;
  let nodesFrom: PlanRollout["nodesFrom"] = "desired pointers";
  const planText = r.inputs.environment.PGHA_ROLLOUT_PLAN;
  if (typeof planText === "string" && planText !== UNKNOWN) {
    try {
      const plan = JSON.parse(planText) as { nodes?: { name: string; role: string; hash: string }[] };
      if (Array.isArray(plan.nodes)) {
        nodes = plan.nodes.map((n) => ({ name: n.name, role: n.role, hash: n.hash }));
        nodesFrom = "PGHA_ROLLOUT_PLAN";
      }
    } catch {
      // not JSON: described from the pointers
    }
  }
  const ordered = rolloutOrder(nodes.map((n) => ({ ...n, role: n.role as Role })), undefined);
  const postgres = ordered.filter((n) => n.role === "postgres").map((n) => n.name);
  const others = ordered.filter((n) => n.role !== "postgres").map((n) => n.name);
  const order = [...others, ...(postgres.length ? [`PostgreSQL replicas of ${postgres.join(", ")}, the leader last (found when it runs)`] : [])].join(" → ");
  const trigger = Array.isArray(r.inputs.triggers) ? r.inputs.triggers[0] : undefined;
  return {
    trigger,
    triggerMatchesBundles: typeof trigger === "string" && fromPointers.length > 0 && trigger === rolloutTrigger(fromPointers),
    nodes: [...nodes].sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true })),
    nodesFrom,
    order,
  };
}

export function buildPlan(run: ProgramRun, project = "postgres-ha"): Plan {
  const records = run.stackResource ? [run.stackResource, ...run.resources] : [...run.resources];
  const secrets = run.generatedSecrets.filter((s) => s.length >= 8);
  // Bundle objects first: the rollout command is described from them.
  const bundles = new Map<RecordedResource, PlanBundle>();
  for (const r of records) {
    const key = isBucketObjectType(r.type) ? parseBundleKey(r.inputs.key) : undefined;
    const decoded = key && bundleOf(r, key);
    if (decoded) bundles.set(r, decoded);
  }
  const allBundles = [...bundles.values()];
  const resources: PlanResource[] = records.map((r) => {
    const inputs = { ...r.inputs };
    const decoded = bundles.get(r);
    if (decoded && "contentBase64" in inputs && decoded.kind !== "desired") {
      inputs.contentBase64 =
        decoded.kind === "unreadable"
          ? `<${decoded.of}: ${decoded.error}>`
          : `<${decoded.kind === "software" ? "node software" : `node bundle of ${decoded.node}`}: ${decoded.files.length} files, sha256 ${decoded.sha256.slice(0, 12)}, see bundle>`;
    }
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
    if (decoded) plan.bundle = decoded;
    if (isRolloutCommand(r)) plan.rollout = rolloutOf(r, allBundles);
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
  "aws:s3/bucketObjectv2:BucketObjectv2": ["key", "serverSideEncryption"],
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
  if (typeof v === "string") return v.length > 100 ? `${v.slice(0, 12)}…(${v.length})` : v;
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
    const b = r.bundle;
    if (b?.kind === "unreadable") extra.push(`${b.of} ${b.key}: cannot be read (${b.error})`);
    else if (b?.kind === "desired") extra.push(`desired pointer of ${b.node}: bundle ${b.bundle.slice(0, 12)}, software ${b.software.slice(0, 12)}`);
    else if (b) {
      extra.push(b.kind === "software" ? `node software, ${b.bytes} B, sha256 ${b.sha256.slice(0, 12)}:` : `node bundle of ${b.node} (${b.role}), ${b.bytes} B, sha256 ${b.sha256.slice(0, 12)}, software ${b.software.slice(0, 12)}:`);
      for (const f of b.files) {
        const on = "onChange" in f && f.onChange.length ? `  on change: ${f.onChange.join(", ")}` : "";
        extra.push(`  ${f.mode || "----"} ${(f.owner || "-").padEnd(17)} ${f.sha256.slice(0, 12)} ${String(f.bytes).padStart(6)} B  ${f.path}${on}`);
      }
    }
    if (r.rollout) {
      const ro = r.rollout;
      extra.push(`rollout: runs again when its trigger changes (sha256 over every node's bundle hash${ro.triggerMatchesBundles ? ", matches the desired pointers" : ", DOES NOT match the desired pointers"})`);
      extra.push(`  order: ${ro.order}`);
      for (const n of ro.nodes) extra.push(`  ${n.name.padEnd(8)} ${n.role.padEnd(8)} bundle ${n.hash.slice(0, 12)}`);
    }
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
