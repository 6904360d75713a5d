// A deterministic POSIX ustar writer and reader for the node bundles. Deterministic so that a
// bundle's sha256 names its content: entries in the order given, every header field fixed
// (mtime 0, uid/gid 0, owner root), no compression (gzip's output depends on the zlib version,
// so a compressed artifact could change name on another machine without changing content).
// GNU tar on the nodes extracts it (`tar -xf`); the reader serves the policies and `pgha diff`.

export interface TarEntry {
  /** Relative path inside the archive, e.g. "usr/local/sbin/pgha-node" (no leading slash). */
  path: string;
  /** File mode bits, e.g. 0o755. */
  mode: number;
  content: Buffer;
}

const BLOCK = 512;

function octal(value: number, width: number): string {
  // width includes the terminating NUL.
  return value.toString(8).padStart(width - 1, "0") + "\0";
}

function splitPath(path: string): { name: string; prefix: string } {
  if (Buffer.byteLength(path) <= 100) return { name: path, prefix: "" };
  // ustar: prefix (≤ 155 bytes) + "/" + name (≤ 100 bytes), split at a slash.
  for (let i = path.length - 1; i > 0; i--) {
    if (path[i] !== "/") continue;
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name.length > 0) return { name, prefix };
  }
  throw new Error(`tar: path too long for ustar: ${path}`);
}

function header(entry: TarEntry): Buffer {
  if (entry.path.startsWith("/") || entry.path.split("/").includes("..")) throw new Error(`tar: unsafe path ${entry.path}`);
  const h = Buffer.alloc(BLOCK, 0);
  const { name, prefix } = splitPath(entry.path);
  h.write(name, 0, 100, "utf8");
  h.write(octal(entry.mode & 0o7777, 8), 100, 8, "ascii");
  h.write(octal(0, 8), 108, 8, "ascii"); // uid
  h.write(octal(0, 8), 116, 8, "ascii"); // gid
  h.write(octal(entry.content.length, 12), 124, 12, "ascii");
  h.write(octal(0, 12), 136, 12, "ascii"); // mtime
  h.write("        ", 148, 8, "ascii"); // checksum placeholder
  h.write("0", 156, 1, "ascii"); // regular file
  h.write("ustar\0", 257, 6, "ascii");
  h.write("00", 263, 2, "ascii");
  h.write("root", 265, 32, "ascii");
  h.write("root", 297, 32, "ascii");
  h.write(prefix, 345, 155, "utf8");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + " ", 148, 8, "ascii");
  return h;
}

/** The archive of `entries`, byte for byte the same for the same entries. */
export function writeTar(entries: TarEntry[]): Buffer {
  const seen = new Set<string>();
  const parts: Buffer[] = [];
  for (const e of entries) {
    if (seen.has(e.path)) throw new Error(`tar: duplicate entry ${e.path}`);
    seen.add(e.path);
    parts.push(header(e), e.content);
    const pad = (BLOCK - (e.content.length % BLOCK)) % BLOCK;
    if (pad) parts.push(Buffer.alloc(pad, 0));
  }
  parts.push(Buffer.alloc(BLOCK * 2, 0));
  return Buffer.concat(parts);
}

function field(h: Buffer, start: number, length: number): string {
  const raw = h.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end === -1 ? length : end).toString("utf8");
}

/** The regular files of a ustar archive (what writeTar makes; other entry types are skipped). */
export function readTar(archive: Buffer): TarEntry[] {
  const out: TarEntry[] = [];
  let offset = 0;
  while (offset + BLOCK <= archive.length) {
    const h = archive.subarray(offset, offset + BLOCK);
    if (h.every((b) => b === 0)) break;
    const name = field(h, 0, 100);
    const prefix = field(h, 345, 155);
    const size = parseInt(field(h, 124, 12).trim() || "0", 8);
    const mode = parseInt(field(h, 100, 8).trim() || "0", 8);
    const type = field(h, 156, 1) || "0";
    const stored = h.subarray(148, 156).toString("ascii").replace(/\0/g, "").trim();
    const check = Buffer.from(h);
    check.write("        ", 148, 8, "ascii");
    let sum = 0;
    for (const b of check) sum += b;
    if (parseInt(stored, 8) !== sum) throw new Error(`tar: bad header checksum at offset ${offset}`);
    const start = offset + BLOCK;
    if (start + size > archive.length) throw new Error(`tar: entry ${name} is truncated`);
    if (type === "0") out.push({ path: prefix ? `${prefix}/${name}` : name, mode, content: Buffer.from(archive.subarray(start, start + size)) });
    offset = start + Math.ceil(size / BLOCK) * BLOCK;
  }
  return out;
}
