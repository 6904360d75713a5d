// EC2 user-data back into what a node gets: `userDataBase64` (gzip + base64) or `userData` →
// the #cloud-config text → the files cloud-init writes (today the bootstrap: bootstrap.env,
// aws.env, pgha-bootstrap). Shared by `pgha plan`/`diff` and the policies, which import this
// module (src/delivery), never each other.
import { gunzipSync } from "zlib";
import YAML from "yaml";

export interface UserDataFile {
  path: string;
  /** Octal mode as written in the cloud-config, e.g. "0644" ("" when not given). */
  mode: string;
  owner: string;
  content: string;
}

export interface DecodedUserData {
  /** The user-data as text (gunzipped when it was gzip). */
  text: string;
  /** "gzip+base64", "base64" or "text": how the bytes arrived. */
  encoding: "gzip+base64" | "base64" | "text";
  /** write_files of a #cloud-config (empty for scripts and other formats). */
  files: UserDataFile[];
  /** The parsed #cloud-config document (undefined for other formats or invalid YAML). */
  cloudConfig?: Record<string, unknown>;
}

function isGzip(buf: Buffer): boolean {
  return buf.length > 2 && buf[0] === 0x1f && buf[1] === 0x8b;
}

/** An instance's user-data as text: base64 → gunzip when gzip (the form EC2 hands cloud-init). */
export function decodeUserDataBytes(userDataBase64: string): { text: string; encoding: DecodedUserData["encoding"] } {
  const buf = Buffer.from(userDataBase64, "base64");
  if (isGzip(buf)) return { text: gunzipSync(buf).toString("utf8"), encoding: "gzip+base64" };
  return { text: buf.toString("utf8"), encoding: "base64" };
}

/** The content of one write_files entry, decoded as cloud-init would (b64, gzip). */
function fileContent(entry: Record<string, unknown>): string {
  const content = typeof entry.content === "string" ? entry.content : "";
  const encoding = String(entry.encoding ?? "").toLowerCase();
  if (["b64", "base64"].includes(encoding)) return Buffer.from(content, "base64").toString("utf8");
  if (["gz+b64", "gzip+base64", "gz+base64", "gzip+b64"].includes(encoding)) return gunzipSync(Buffer.from(content, "base64")).toString("utf8");
  return content;
}

/** The files a #cloud-config writes (write_files), in document order. */
export function cloudConfigFiles(text: string): { files: UserDataFile[]; cloudConfig?: Record<string, unknown> } {
  if (!text.startsWith("#cloud-config")) return { files: [] };
  let doc: unknown;
  try {
    doc = YAML.parse(text, { version: "1.1" });
  } catch {
    return { files: [] };
  }
  if (!doc || typeof doc !== "object") return { files: [] };
  const cloudConfig = doc as Record<string, unknown>;
  const entries = Array.isArray(cloudConfig.write_files) ? (cloudConfig.write_files as Record<string, unknown>[]) : [];
  const files = entries
    .filter((e) => e && typeof e === "object" && typeof e.path === "string")
    .map((e) => ({
      path: e.path as string,
      mode: e.permissions === undefined ? "" : String(e.permissions),
      owner: e.owner === undefined ? "" : String(e.owner),
      content: fileContent(e),
    }));
  return { files, cloudConfig };
}

/** Decodes whichever user-data an instance has (`userDataBase64` wins when both are set). */
export function decodeUserData(input: { userDataBase64?: unknown; userData?: unknown }): DecodedUserData | undefined {
  let decoded: { text: string; encoding: DecodedUserData["encoding"] } | undefined;
  if (typeof input.userDataBase64 === "string" && input.userDataBase64) decoded = decodeUserDataBytes(input.userDataBase64);
  else if (typeof input.userData === "string" && input.userData) decoded = { text: input.userData, encoding: "text" };
  if (!decoded) return undefined;
  return { ...decoded, ...cloudConfigFiles(decoded.text) };
}
