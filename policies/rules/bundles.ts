// The node bundles (stack policies): the S3 objects that carry every node's files
// (components/nodeBundles.ts) — encrypted under the cluster key, readable by each node's role
// for that node only, and a desired pointer per node that leads to objects that are there.
import type { StackValidationPolicy } from "@pulumi/policy";
import { T, TAG, describe, tagsOf, type PolicyResource } from "./common";
import { bundleObjects, clusterFacts, type BundleObjectSeen } from "./cluster";

const KMS_ALGORITHMS = ["aws:kms", "aws:kms:dsse"];

function requireBundles(args: { resources: PolicyResource[]; notApplicable(reason?: string): never }): BundleObjectSeen[] {
  const objects = bundleObjects(args.resources);
  if (!objects.length) args.notApplicable("the stack uploads no node bundles (bundles/<cluster>/… objects)");
  return objects;
}

export const bundleObjectsSseKms: StackValidationPolicy = {
  name: "bundle-objects-sse-kms",
  description: "Every node bundle object (bundles, desired pointers, node software) is stored with SSE-KMS under the cluster's customer-managed key.",
  severity: "high",
  tags: ["encryption", "s3"],
  remediationSteps:
    'Give each aws.s3.BucketObjectv2 under bundles/<cluster>/ `serverSideEncryption: "aws:kms"` and `kmsKeyId: <the cluster key ARN>` (components/nodeBundles.ts does); the node roles may decrypt with that key through S3 only.',
  validateStack: (args, report) => {
    const objects = requireBundles(args);
    const clusterKeys = args.resources.filter((r) => r.type === T.kmsKey);
    for (const o of objects) {
      const what = `${o.key.key} (${o.resource.name})`;
      const sse = o.resource.props.serverSideEncryption;
      if (!KMS_ALGORITHMS.includes(sse)) {
        report(
          sse
            ? `${what} is stored with ${JSON.stringify(sse)}, not SSE-KMS: the cluster key does not protect it.`
            : `${what} sets no serverSideEncryption: it gets the bucket's default, which nothing here ties to the cluster key.`,
          o.resource.urn,
        );
        continue;
      }
      // The key as the program passes it (an output of the stack's KMS key: known at preview as a dependency).
      if ((o.resource.propertyDependencies?.kmsKeyId ?? []).some((d) => d.type === T.kmsKey)) continue;
      const keyId = o.resource.props.kmsKeyId;
      if (typeof keyId !== "string" || keyId === "") report(`${what}: SSE-KMS without kmsKeyId uses the AWS-managed aws/s3 key, which every principal with S3 access in the account can use.`, o.resource.urn);
      else if (/alias\/aws\/s3$/.test(keyId)) report(`${what} uses the AWS-managed key ${keyId}; use the cluster's customer-managed key.`, o.resource.urn);
      else if (clusterKeys.length && !clusterKeys.some((k) => k.props.arn === keyId || k.props.keyId === keyId)) {
        report(`${what} is encrypted with ${keyId}, not the cluster key (${clusterKeys.map((k) => k.name).join(", ")}).`, o.resource.urn);
      }
    }
  },
};

// ---------------------------------------------------------------------------------------------
// IAM: who can read a node's bundle

const T_IAM = {
  role: "aws:iam/role:Role",
  rolePolicy: "aws:iam/rolePolicy:RolePolicy",
  attachment: "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
  policy: "aws:iam/policy:Policy",
  instanceProfile: "aws:iam/instanceProfile:InstanceProfile",
} as const;

/** AWS-managed policies that allow s3:GetObject on every bucket (their documents are not in the stack). */
export const BROAD_MANAGED_POLICIES = ["AmazonS3ReadOnlyAccess", "AmazonS3FullAccess", "AdministratorAccess", "PowerUserAccess", "ReadOnlyAccess", "ViewOnlyAccess"];

/** An IAM pattern (`*` any run of characters, `?` one) as a RegExp. */
export function iamPattern(pattern: string, caseInsensitive: boolean): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${body}$`, caseInsensitive ? "i" : "");
}

const asList = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : v === undefined || v === null ? [] : [String(v)]);

export interface PolicyStatementSeen {
  Sid?: string;
  Effect?: string;
  Action?: unknown;
  NotAction?: unknown;
  Resource?: unknown;
  NotResource?: unknown;
  Condition?: unknown;
}

/** Whether a statement names `action` on `arn` (Action/NotAction, Resource/NotResource). */
export function statementCovers(s: PolicyStatementSeen, action: string, arn: string): boolean {
  const actionMatches = (list: unknown) => asList(list).some((a) => iamPattern(a, true).test(action));
  const resourceMatches = (list: unknown) => asList(list).some((r) => iamPattern(r, false).test(arn));
  const actions = s.Action !== undefined ? actionMatches(s.Action) : s.NotAction !== undefined ? !actionMatches(s.NotAction) : false;
  const resources = s.Resource !== undefined ? resourceMatches(s.Resource) : s.NotResource !== undefined ? !resourceMatches(s.NotResource) : false;
  return actions && resources;
}

function statementsOf(document: unknown): PolicyStatementSeen[] {
  const doc = typeof document === "string" ? JSON.parse(document) : document;
  const s = doc && typeof doc === "object" ? (doc as { Statement?: unknown }).Statement : undefined;
  return (Array.isArray(s) ? s : s ? [s] : []) as PolicyStatementSeen[];
}

const linked = (r: PolicyResource, property: string, type: string) => (r.propertyDependencies?.[property] ?? []).filter((d) => d.type === type);

/** The role an instance runs as: instance → its instance profile → the profile's role. */
function roleOfInstance(instance: PolicyResource, resources: PolicyResource[]): PolicyResource | undefined {
  let profiles = linked(instance, "iamInstanceProfile", T_IAM.instanceProfile);
  if (!profiles.length) {
    const name = instance.props.iamInstanceProfile;
    if (typeof name !== "string" || !name) return undefined;
    profiles = resources.filter((r) => r.type === T_IAM.instanceProfile && r.props.name === name);
  }
  const profile = profiles[0];
  if (!profile) return undefined;
  let roles = linked(profile, "role", T_IAM.role);
  if (!roles.length) roles = resources.filter((r) => r.type === T_IAM.role && typeof r.props.name === "string" && r.props.name === profile.props.role);
  return roles[0];
}

interface DocumentSeen {
  /** "inline policy orders-prod-db1-node", … */
  from: string;
  resource: PolicyResource;
  statements: PolicyStatementSeen[];
}

/** Every policy document a role has in this stack; AWS-managed policies too broad for a node are returned apart. */
function roleDocuments(role: PolicyResource, resources: PolicyResource[], report: (m: string, urn?: string) => void): { documents: DocumentSeen[]; broad: string[] } {
  const documents: DocumentSeen[] = [];
  const broad: string[] = [];
  const parse = (from: string, resource: PolicyResource, document: unknown) => {
    try {
      documents.push({ from, resource, statements: statementsOf(document) });
    } catch {
      report(`${from}: the policy is not valid JSON.`, resource.urn);
    }
  };
  const ofRole = (r: PolicyResource) => linked(r, "role", T_IAM.role).includes(role) || (typeof r.props.role === "string" && r.props.role === role.props.name);
  const inline = role.props.inlinePolicies;
  if (Array.isArray(inline)) inline.forEach((p: { name?: string; policy?: unknown }, i: number) => parse(`${role.name} inlinePolicies[${i}] ${p.name ?? ""}`.trim(), role, p.policy));
  for (const r of resources) {
    if (r.type === T_IAM.rolePolicy && ofRole(r)) parse(`inline policy ${r.name}`, r, r.props.policy);
    if (r.type !== T_IAM.attachment || !ofRole(r)) continue;
    const managed = linked(r, "policyArn", T_IAM.policy)[0];
    if (managed) parse(`policy ${managed.name}`, managed, managed.props.policy);
    else {
      const arn = r.props.policyArn;
      const name = typeof arn === "string" ? arn.split("/").pop()! : "";
      if (typeof arn === "string" && /:iam::aws:policy\//.test(arn) && BROAD_MANAGED_POLICIES.includes(name)) broad.push(`${r.name} attaches ${arn}`);
    }
  }
  return { documents, broad };
}

function partitionOf(pattern: string): string {
  const m = /^arn:([^:*?]+):/.exec(pattern);
  return m ? m[1] : "aws";
}

export const nodeRoleOwnBundleOnly: StackValidationPolicy = {
  name: "node-role-own-bundle-only",
  description: "Each node's role may read only its own bundle prefix (bundles/<cluster>/nodes/<node>/) — never another node's bundle or pointer.",
  severity: "high",
  tags: ["iam", "secrets"],
  remediationSteps:
    "Scope the node role's s3:GetObject to `<bucket ARN>/bundles/<cluster>/nodes/<node>/*` and `<bucket ARN>/bundles/<cluster>/software/*` (components/nodeRoles.ts nodePolicyDocument); no wildcard over nodes/, no broad AWS-managed S3 policy.",
  validateStack: (args, report) => {
    const objects = requireBundles(args).filter((o) => o.key.kind !== "software");
    for (const instance of args.resources.filter((r) => r.type === T.instance)) {
      const tags = tagsOf(instance.props);
      const node = typeof tags[TAG.node] === "string" ? (tags[TAG.node] as string) : instance.name;
      const role = roleOfInstance(instance, args.resources);
      if (!role) continue; // ec2-instance-profile reports an instance without one
      const { documents, broad } = roleDocuments(role, args.resources, report);
      for (const b of broad) report(`${node}'s role ${role.name}: ${b}, which reads every node's bundle.`, role.urn);
      const others = objects.filter((o) => "node" in o.key && o.key.node !== node);
      const readable = new Map<string, Set<string>>(); // other node → the grants that let this role read it
      for (const o of others) {
        const bucket = o.resource.props.bucket;
        const other = (o.key as { node: string }).node;
        for (const d of documents) {
          for (const st of d.statements) {
            if (st.Effect !== "Allow") continue;
            const arn = `arn:${partitionOf(asList(st.Resource ?? st.NotResource)[0] ?? "")}:s3:::${bucket}/${o.key.key}`;
            if (!statementCovers(st, "s3:GetObject", arn)) continue;
            const denied = documents.some((dd) => dd.statements.some((x) => x.Effect === "Deny" && x.Condition === undefined && statementCovers(x, "s3:GetObject", arn)));
            if (denied) continue;
            const on = st.Resource !== undefined ? asList(st.Resource).filter((r) => iamPattern(r, false).test(arn)).join(", ") : `everything but ${asList(st.NotResource).join(", ")}`;
            if (!readable.has(other)) readable.set(other, new Set());
            readable.get(other)!.add(`${d.from}${st.Sid ? ` statement ${st.Sid}` : ""}: s3:GetObject on ${on}`);
          }
        }
      }
      if (readable.size) {
        const grants = [...new Set([...readable.values()].flatMap((g) => [...g]))];
        report(`${node}'s role ${describe(role)} can read the bundles of ${[...readable.keys()].join(", ")} (${grants.join("; ")}): a node must read only bundles/<cluster>/nodes/${node}/.`, role.urn);
      }
    }
  },
};

// ---------------------------------------------------------------------------------------------
// Pointers

export const bundlePointersResolve: StackValidationPolicy = {
  name: "bundle-pointers-resolve",
  description:
    "Every node has one desired pointer naming its own bundle object (whose sha256 is its name, whose manifest names the node) and an uploaded node-software object; the pointer is written after both, and the instance waits for its pointer.",
  severity: "high",
  tags: ["delivery"],
  remediationSteps:
    "Upload each node's bundle at bundles/<cluster>/nodes/<node>/<sha256>.tar and the node software at bundles/<cluster>/software/<sha256>.tar, then the pointer desired.json with dependsOn on both, and give the instance dependsOn its pointer (components/nodeBundles.ts, components/cluster.ts).",
  validateStack: (args, report) => {
    requireBundles(args);
    const facts = clusterFacts(args.resources);
    for (const p of facts.deliveryProblems) report(`${p.message}.`, p.resource.urn);
  },
};
