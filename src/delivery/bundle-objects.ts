// The node bundles as the program uploads them — S3 objects under `bundles/<cluster>/`
// (components/nodeBundles.ts) — read back from their keys and contents: which object is which
// (a node's bundle, its desired pointer, the node software), and what each holds. Shared by
// `pgha plan`/`diff` and the policies (both see the objects' inputs: `key`, `content`,
// `contentBase64`). Pure: no Pulumi, no I/O.
import { bundleKeys, bundlePrefix, sha256, unpackNodeBundle, type DesiredPointer, type UnpackedBundle } from "../bundle/format";
import { readTar } from "../bundle/tar";

/** The S3 object types a bundle travels as (BucketObjectv2 today; the legacy type reads the same). */
export const BUCKET_OBJECT_TYPES = ["aws:s3/bucketObjectv2:BucketObjectv2", "aws:s3/bucketObject:BucketObject"] as const;

export function isBucketObjectType(type: string): boolean {
  return (BUCKET_OBJECT_TYPES as readonly string[]).includes(type);
}

export type BundleObjectKey =
  | { kind: "node-bundle"; key: string; cluster: string; node: string; hash: string }
  | { kind: "desired"; key: string; cluster: string; node: string }
  | { kind: "software"; key: string; cluster: string; hash: string };

const SHA256 = "[0-9a-f]{64}";
const SEGMENT = "[^/]+";
const NODE_BUNDLE = new RegExp(`^bundles/(${SEGMENT})/nodes/(${SEGMENT})/(${SHA256})\\.tar$`);
const DESIRED = new RegExp(`^bundles/(${SEGMENT})/nodes/(${SEGMENT})/desired\\.json$`);
const SOFTWARE = new RegExp(`^bundles/(${SEGMENT})/software/(${SHA256})\\.tar$`);

/** What an object key names, when it is one of the keys src/bundle/format.ts' bundleKeys makes. */
export function parseBundleKey(key: unknown): BundleObjectKey | undefined {
  if (typeof key !== "string") return undefined;
  let m = NODE_BUNDLE.exec(key);
  if (m) return { kind: "node-bundle", key, cluster: m[1], node: m[2], hash: m[3] };
  m = DESIRED.exec(key);
  if (m) return { kind: "desired", key, cluster: m[1], node: m[2] };
  m = SOFTWARE.exec(key);
  if (m) return { kind: "software", key, cluster: m[1], hash: m[2] };
  return undefined;
}

/** The keys a node's pointer leads to: its bundle and the node software. */
export function pointerTargets(cluster: string, node: string, pointer: DesiredPointer): { bundle: string; software: string } {
  const prefix = bundlePrefix(cluster);
  return { bundle: bundleKeys.bundle(prefix, node, pointer.bundle), software: bundleKeys.software(prefix, pointer.software) };
}

/** An object's bytes from its inputs (`contentBase64` wins over `content`); undefined when it has neither. */
export function objectBytes(inputs: { content?: unknown; contentBase64?: unknown }): Buffer | undefined {
  if (typeof inputs.contentBase64 === "string") return Buffer.from(inputs.contentBase64, "base64");
  if (typeof inputs.content === "string") return Buffer.from(inputs.content, "utf8");
  return undefined;
}

/** A desired.json pointer; throws with what is wrong. */
export function parseDesiredPointer(text: string): DesiredPointer {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new Error("is not JSON");
  }
  const p = doc as Partial<DesiredPointer> | null;
  const ok = (v: unknown) => typeof v === "string" && new RegExp(`^${SHA256}$`).test(v);
  if (!p || typeof p !== "object" || !ok(p.bundle) || !ok(p.software)) throw new Error('is not {"bundle": <sha256>, "software": <sha256>}');
  return { bundle: p.bundle!, software: p.software! };
}

export interface DecodedNodeBundle extends UnpackedBundle {
  /** sha256 of the object's bytes (the node refuses the bundle unless it is the name). */
  sha256: string;
  bytes: number;
}

/** A node bundle object's bytes unpacked; throws when the archive or its manifest is broken. */
export function decodeNodeBundle(bytes: Buffer): DecodedNodeBundle {
  return { ...unpackNodeBundle(bytes), sha256: sha256(bytes), bytes: bytes.length };
}

export interface SoftwareFile {
  /** Installed path, e.g. "/usr/local/sbin/pgha-node". */
  path: string;
  mode: string;
  content: string;
  sha256: string;
  bytes: number;
}

/** The node-software artifact's files (a plain tar of usr/local/…); throws when it is not a tar. */
export function decodeSoftware(bytes: Buffer): { sha256: string; bytes: number; files: SoftwareFile[] } {
  const files = readTar(bytes).map((e) => ({
    path: `/${e.path}`,
    mode: `0${e.mode.toString(8)}`,
    content: e.content.toString("utf8"),
    sha256: sha256(e.content),
    bytes: e.content.length,
  }));
  return { sha256: sha256(bytes), bytes: bytes.length, files };
}

/** Every text a bundle object carries, by where it is ("manifest.json", "/etc/…"): for secret scans. */
export function objectTexts(kind: BundleObjectKey["kind"], bytes: Buffer): { where: string; text: string }[] {
  if (kind === "desired") return [{ where: "desired.json", text: bytes.toString("utf8") }];
  // Every entry of the archive, whether or not the manifest lists it: a scan must not trust it.
  return readTar(bytes).map((e) => ({ where: e.path.startsWith("files/") ? e.path.slice("files".length) : e.path, text: e.content.toString("utf8") }));
}

/** What a change of a file does on a running node (src/bundle/format.ts CHANGE_ACTIONS). */
export const RESTART_ACTIONS = ["patroni-restart", "etcd-restart", "haproxy-restart"] as const;

export function isRestartAction(action: string): boolean {
  return (RESTART_ACTIONS as readonly string[]).includes(action);
}
