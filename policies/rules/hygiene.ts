// Secrets hygiene: nothing secret in what the program hands the nodes. EC2 keeps user-data in
// plain text (the console, DescribeInstanceAttribute, Pulumi state), and a node bundle sits in
// the bucket and in the state as its content; passwords and keys reach nodes through Secrets
// Manager and the instance role — never there.
//
// Three rules: one scans every instance's decoded user-data and one every bundle object's
// decoded files for anything that looks like a credential (both work at preview); one looks for
// the exact values the stack generated (RandomPassword results, private keys: known once they
// exist, so it runs at `up` and offline) in user-data, bundles and command environments.
import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { BUCKET_OBJECT_TYPES, objectBytes, objectTexts, parseBundleKey } from "../../src/delivery/bundle-objects";
import { decodeUserData } from "../../src/delivery/userdata";
import { T, onlyFor, type PolicyResource } from "./common";
import { bundleObjects, clusterFacts } from "./cluster";

/** Words that make a key name a credential. */
const SECRET_KEY = /(pass(word|wd|phrase)?|pwd|secret|token|api[_-]?key|private[_-]?key|cipher[_-]?pass|credentials?)/i;
/** Key names that name or locate a secret rather than hold one (secret ARNs, regions, files …). */
const REFERENCE_KEY = /(_|-|\.|^)(name|names|arn|id|file|path|dir|source|region|kind|type|env|user|username|ref|url|endpoint|store|length|policy|version|manager|key[_-]?id|hash|encryption|command|method|mode|algorithm|format|timeout|prefix)$/i;
const CREDENTIAL_ASSIGNMENT = /(^|[\s"'{,;(])(-{0,2}[A-Za-z_][A-Za-z0-9_.-]*)["']?\s*(?:=|:)\s*(["']?)([^\s"',;]+)/g;

/** A literal that looks like a credential, not a reference ($VAR, ${x}, $(cmd), <placeholder>, a path …). */
function looksLikeSecret(value: string): boolean {
  if (value.length < 6) return false;
  if (/^[$%<{*\[.@/]/.test(value)) return false; // shell/jq/template references, placeholders, paths
  if (/^[a-z0-9._-]+(\/[a-z0-9._-]+)+$/.test(value)) return false; // a secret's name: postgres-ha/prod/x
  if (/^(arn|https?|file):/.test(value)) return false;
  if (/^(true|false|yes|no|none|null|required|optional|disabled|enabled|auto|off|on)$/i.test(value)) return false;
  if (/^[a-z0-9]+(-[a-z0-9]+)+$/.test(value)) return false; // a kebab-case identifier (a cluster token, a name)
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9._-]/].filter((re) => re.test(value)).length;
  return classes >= 2 || value.length >= 20;
}

export interface CredentialFinding {
  line: number;
  what: string;
}

/** Everything in a text that looks like a credential; values are never echoed (only their kind). */
export function findCredentials(text: string): CredentialFinding[] {
  const out: CredentialFinding[] = [];
  const lines = text.split("\n");
  lines.forEach((line, i) => {
    const at = i + 1;
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(line)) out.push({ line: at, what: "a PEM private key" });
    if (/\b(AKIA|ASIA)[0-9A-Z]{16}\b/.test(line)) out.push({ line: at, what: "an AWS access key id" });
    const url = /[a-z][a-z0-9+.-]*:\/\/[^\s:/@]+:([^\s@/]+)@/i.exec(line);
    if (url && looksLikeSecret(url[1])) out.push({ line: at, what: "a password inside a URL" });
    if (/^\s*#/.test(line)) return; // prose in comments ("Passwords are not here: …")
    const basicAuth = /\bstats\s+auth\s+["']?[^\s:"']+:([^\s"']+)/.exec(line); // HAProxy stats auth user:password
    if (basicAuth && looksLikeSecret(basicAuth[1])) out.push({ line: at, what: "a literal HAProxy stats password" });
    const spaced = /(?:^|\s)-{0,2}(password|passwd|insecure-password)\s+["']?([^\s"']+)/i.exec(line); // `user x password y`, `--password y`
    if (spaced && looksLikeSecret(spaced[2])) out.push({ line: at, what: `a literal value after ${spaced[1]}` });
    for (const m of line.matchAll(CREDENTIAL_ASSIGNMENT)) {
      const key = m[2].replace(/^-+/, "");
      if (!SECRET_KEY.test(key) || REFERENCE_KEY.test(key)) continue;
      if (looksLikeSecret(m[4])) out.push({ line: at, what: `a literal value for ${key}` });
    }
  });
  return out;
}

export const userDataNoPasswords: ResourceValidationPolicy = {
  name: "user-data-no-passwords",
  description: "No password-looking value, private key or access key in any instance's user-data (decoded from gzip+base64).",
  severity: "critical",
  tags: ["secrets"],
  remediationSteps:
    "Put the value in the cluster's or node's Secrets Manager secret and let pgha-secrets fetch it at boot with the instance role; user-data may only name the secret.",
  validateResource: onlyFor([T.instance, T.launchTemplate], (args, report) => {
    const p = args.props;
    const decoded = decodeUserData({ userDataBase64: p.userDataBase64, userData: p.userDataBase64 ? undefined : p.userData });
    if (!decoded) return;
    // Each file separately, so a finding names the file it is in.
    const files = decoded.files.length ? decoded.files.map((f) => ({ where: f.path, text: f.content })) : [{ where: "user-data", text: decoded.text }];
    for (const f of files) {
      for (const finding of findCredentials(f.text)) report(`${args.name}: ${f.where} line ${finding.line} holds ${finding.what}.`);
    }
  }),
};

export const bundleNoPasswords: ResourceValidationPolicy = {
  name: "bundle-no-passwords",
  description: "No password-looking value, private key or access key in any node bundle object (every file of the tar, the node software, the desired pointer).",
  severity: "critical",
  tags: ["secrets"],
  remediationSteps:
    "Render a reference instead (the secret's name, a $VARIABLE filled at boot by pgha-secrets from Secrets Manager); a bundle is readable by whoever reads the bucket prefix or the stack's state.",
  validateResource: onlyFor([...BUCKET_OBJECT_TYPES], (args, report) => {
    const key = parseBundleKey(args.props.key);
    if (!key) return args.notApplicable("not a node bundle object (bundles/<cluster>/…)");
    const bytes = objectBytes(args.props);
    if (!bytes) return;
    let texts: { where: string; text: string }[];
    try {
      texts = objectTexts(key.kind, bytes);
    } catch (e) {
      report(`${args.name}: ${key.key} cannot be read as a bundle (${(e as Error).message}); it cannot be scanned.`);
      return;
    }
    for (const t of texts) {
      for (const finding of findCredentials(t.text)) report(`${args.name} (${key.key}): ${t.where} line ${finding.line} holds ${finding.what}.`);
    }
  }),
};

/** The values the stack generated that must stay secret. */
function generatedSecrets(resources: PolicyResource[]): { value: string; from: string }[] {
  const out: { value: string; from: string }[] = [];
  for (const r of resources) {
    if (r.type === T.randomPassword) {
      const v = r.props.result;
      if (typeof v === "string" && v.length >= 8) out.push({ value: v, from: `the password ${r.name}` });
    } else if (r.type === T.privateKey) {
      for (const key of ["privateKeyPem", "privateKeyPemPkcs8", "privateKeyOpenssh"]) {
        const v = r.props[key];
        if (typeof v === "string" && v.length > 0) out.push({ value: v.trim(), from: `the private key ${r.name} (${key})` });
      }
    }
  }
  return out;
}

export const userDataNoGeneratedSecrets: StackValidationPolicy = {
  name: "user-data-no-generated-secrets",
  description: "No password or private key the stack generated appears in any user-data, node bundle object or command environment (the rollout's).",
  severity: "critical",
  tags: ["secrets"],
  remediationSteps: "Pass generated values through Secrets Manager (aws.secretsmanager.SecretVersion with pulumi.secret) only; render placeholders into node files.",
  validateStack: (args, report) => {
    const secrets = generatedSecrets(args.resources);
    if (!secrets.length) args.notApplicable("the stack generates no password or key");
    const texts: { where: string; urn: string; text: string }[] = [];
    for (const n of clusterFacts(args.resources).nodes) {
      const p = n.resource.props;
      const decoded = decodeUserData({ userDataBase64: p.userDataBase64, userData: p.userDataBase64 ? undefined : p.userData });
      if (decoded) texts.push({ where: `${n.name}'s user-data`, urn: n.resource.urn, text: decoded.text });
    }
    for (const o of bundleObjects(args.resources)) {
      const bytes = objectBytes(o.resource.props);
      if (!bytes) continue;
      let entries: { where: string; text: string }[];
      try {
        entries = objectTexts(o.key.kind, bytes);
      } catch {
        entries = [{ where: "(unreadable archive)", text: bytes.toString("latin1") }];
      }
      for (const e of entries) texts.push({ where: `${o.key.key} ${e.where}`, urn: o.resource.urn, text: e.text });
    }
    for (const r of args.resources) {
      if (r.type !== T.localCommand) continue;
      const env = r.props.environment;
      const values = env && typeof env === "object" ? Object.keys(env).map((k) => `${k}=${env[k]}`) : [];
      texts.push({ where: `the command ${r.name}`, urn: r.urn, text: [r.props.create, ...values].filter((v) => typeof v === "string").join("\n") });
    }
    for (const t of texts) {
      for (const s of secrets) if (t.text.includes(s.value)) report(`${t.where} contains ${s.from}.`, t.urn);
    }
  },
};
