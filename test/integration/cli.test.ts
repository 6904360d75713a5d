// The operator's command line against the booted sandbox: moving data in and out of a host
// (issue 16 item 5) — `sandbox exec` with binary stdin and stdout, `sandbox cp` both ways.
import { spawnSync } from "child_process";
import { createHash, randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { sandbox } from "./support";

const pgha = path.resolve(__dirname, "../../bin/pgha");
const run = (args: string[], input?: Buffer) => spawnSync(process.execPath, [pgha, "sandbox", ...args], { input, maxBuffer: 64 * 1024 * 1024, timeout: 300_000 });
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

let dir: string;
beforeAll(async () => {
  await sandbox();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-cli-"));
}, 240_000);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("moving data in and out", () => {
  const data = randomBytes(10 * 1024 * 1024);

  it("sandbox exec forwards 10 MiB of binary stdin and returns it byte for byte", () => {
    const r = run(["exec", "db1", "--", "cat"], data);
    expect([r.status, r.stderr.toString()]).toEqual([0, ""]);
    expect(r.stdout.length).toBe(data.length);
    expect(sha(r.stdout)).toBe(sha(data));
  }, 300_000);

  it("sandbox cp copies a file to a host (0600) and back, byte for byte", () => {
    const local = path.join(dir, "random.bin");
    fs.writeFileSync(local, data);
    const to = run(["cp", local, "db1:/tmp/pgha-cp-test.bin"]);
    expect([to.status, to.stderr.toString()]).toEqual([0, ""]);
    expect(to.stdout.toString()).toContain(`${data.length} bytes`);
    const remote = run(["exec", "db1", "--", "bash", "-c", "stat -c %a /tmp/pgha-cp-test.bin; sha256sum < /tmp/pgha-cp-test.bin"]);
    expect(remote.stdout.toString().split("\n").slice(0, 2)).toEqual(["600", `${sha(data)}  -`]);
    const back = path.join(dir, "back.bin");
    const from = run(["cp", "db1:/tmp/pgha-cp-test.bin", back]);
    expect(from.status).toBe(0);
    expect(sha(fs.readFileSync(back))).toBe(sha(data));
    run(["exec", "db1", "--", "rm", "-f", "/tmp/pgha-cp-test.bin"]);
  }, 300_000);

  it("refuses a copy with no host end, an unknown host, and a missing remote file", () => {
    const local = path.join(dir, "x");
    fs.writeFileSync(local, "x");
    const none = run(["cp", local, path.join(dir, "y")]);
    expect([none.status, none.stderr.toString()]).toEqual([2, expect.stringContaining("one end of sandbox cp is a host")]);
    const unknown = run(["cp", local, "db9:/tmp/x"]);
    expect([unknown.status, unknown.stderr.toString()]).toEqual([2, expect.stringContaining("no host db9 in the sandbox")]);
    const missing = run(["cp", "db1:/nonexistent/file", path.join(dir, "z")]);
    expect(missing.status).not.toBe(0);
    expect(missing.stderr.toString()).toContain("No such file");
  }, 120_000);
});
