// The bundle archive format: deterministic, read back exactly, and what GNU tar on a node
// extracts (the real tool, not our reader, is the judge).
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import fc from "fast-check";
import { readTar, writeTar, type TarEntry } from "../../src/bundle/tar";
import { nodeSoftware, nodeSoftwareDir } from "../../src/render/software";

const entry = (p: string, content: string, mode = 0o644): TarEntry => ({ path: p, mode, content: Buffer.from(content) });

describe("tar", () => {
  it("the same entries give the same bytes; reading gives back the entries", () => {
    const entries = [entry("manifest.json", "{}\n"), entry("files/etc/x.conf", "a=1\n"), entry("usr/local/sbin/tool", "#!/bin/bash\n", 0o755)];
    const a = writeTar(entries);
    expect(a.equals(writeTar(entries))).toBe(true);
    expect(a.length % 512).toBe(0);
    expect(readTar(a)).toEqual(entries);
  });

  it("round-trips any paths and contents (property)", () => {
    const seg = fc.stringMatching(/^[a-z0-9_.-]{1,40}$/).filter((s) => s !== "." && s !== "..");
    const arb = fc.uniqueArray(
      fc.record({ path: fc.array(seg, { minLength: 1, maxLength: 6 }).map((p) => p.join("/")), content: fc.uint8Array({ maxLength: 2000 }), exec: fc.boolean() }),
      { selector: (e) => e.path, maxLength: 12 },
    );
    fc.assert(
      fc.property(arb, (items) => {
        const entries = items.map((i) => ({ path: i.path, mode: i.exec ? 0o755 : 0o644, content: Buffer.from(i.content) }));
        const back = readTar(writeTar(entries));
        return JSON.stringify(back.map((e) => [e.path, e.mode, e.content.toString("hex")])) === JSON.stringify(entries.map((e) => [e.path, e.mode, e.content.toString("hex")]));
      }),
      { numRuns: 100 },
    );
  });

  it("refuses paths a node must never extract: absolute, with '..', duplicates", () => {
    expect(() => writeTar([entry("/etc/passwd", "x")])).toThrow(/unsafe path/);
    expect(() => writeTar([entry("files/../../etc/passwd", "x")])).toThrow(/unsafe path/);
    expect(() => writeTar([entry("a", "x"), entry("a", "y")])).toThrow(/duplicate/);
  });

  it("GNU tar extracts the node software exactly as it is in node-software/ (modes included), and long paths", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-tar-"));
    try {
      const long = `files/${"d".repeat(90)}/${"e".repeat(60)}/name.conf`;
      fs.writeFileSync(path.join(dir, "long.tar"), writeTar([entry(long, "deep\n")]));
      execFileSync("tar", ["-xf", path.join(dir, "long.tar"), "-C", dir]);
      expect(fs.readFileSync(path.join(dir, long), "utf8")).toBe("deep\n");

      const sw = nodeSoftware();
      fs.writeFileSync(path.join(dir, "sw.tar"), sw.tar);
      fs.mkdirSync(path.join(dir, "root"));
      execFileSync("tar", ["-xf", path.join(dir, "sw.tar"), "-C", path.join(dir, "root"), "--no-same-owner"]);
      const listed = execFileSync("tar", ["-tvf", path.join(dir, "sw.tar")], { encoding: "utf8" }).trim().split("\n");
      expect(listed).toHaveLength(sw.files.length);
      for (const f of sw.files) {
        const extracted = path.join(dir, "root", f.path);
        const original = path.join(nodeSoftwareDir(), f.path);
        expect(fs.readFileSync(extracted).equals(fs.readFileSync(original))).toBe(true);
        expect((fs.statSync(extracted).mode & 0o777).toString(8)).toBe(f.mode.slice(1));
      }
      expect(sw.files.map((f) => f.path)).toEqual(expect.arrayContaining(["/usr/local/sbin/pgha-node", "/usr/local/sbin/pgha-bootstrap", "/usr/local/lib/pgha/common.sh"]));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
