// The node-scripts harness: runs the real node software (node-software/) without root, against a
// fake node. Each FakeNode is a temporary directory:
//   root/      the node's file system: the scripts see it as / through PGHA_INSTALL_ROOT
//              (common.sh's $ROOT), with the node software installed under root/usr/local
//   bin/       first on PATH: the stubs (./stubs) for every command that would touch the
//              machine, AWS or a service; they record their arguments and answer from fixtures
//   tools/     the rest of PATH: the real tools the scripts may use (jq, sed, tar, flock …),
//              nothing else, so a command nobody thought of fails as "command not found"
//   calls.log, aws/, http/, systemd/, disks/, mounts, owners, answers/: what the stubs read
//              and write (see each stub's header)
// docs/node-scripts-tests.md explains how to add a scenario.
import { spawn, spawnSync, type ChildProcess } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export const REPO = path.resolve(__dirname, "../../..");
export const SOFTWARE_DIR = path.join(REPO, "node-software");
const STUBS = path.join(__dirname, "stubs");

/** Commands faked with behaviour of their own: a file of that name in ./stubs. */
const OWN_STUBS = [
  "aws", "curl", "systemctl", "blkid", "mkfs.ext4", "findmnt", "lsblk", "mount", "mountpoint",
  "chown", "install", "stat", "id", "runuser", "sudo", "sleep",
];
/** Commands faked by stubs/_answer: recorded, silent success unless the test answers them. */
const ANSWERED = [
  "logger", "psql", "pgbackrest", "haproxy", "etcdctl", "patronictl", "dpkg", "pg_lsclusters",
  "pg_dropcluster", "pg_dump", "pg_dumpall", "pg_restore", "setsid", "nohup", "modprobe", "promtool", "amtool", "useradd",
];
/** The real tools on PATH (install, stat and sleep are reached through their stubs; tests use the real sleep). */
const TOOLS = [
  "bash", "sh", "cat", "cp", "mv", "rm", "mkdir", "ln", "chmod", "touch", "ls", "head", "tail", "cut",
  "tr", "sort", "uniq", "comm", "wc", "sed", "awk", "grep", "jq", "diff", "cmp", "mktemp", "dirname",
  "basename", "readlink", "date", "seq", "flock", "tar", "sha256sum", "find", "stat", "install", "env",
  "tee", "true", "false", "sleep", "timeout", "paste", "openssl",
];

let toolPaths: Map<string, string> | undefined;
function realTools(): Map<string, string> {
  if (toolPaths) return toolPaths;
  const dirs = [...(process.env.PATH ?? "").split(":"), "/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"].filter(Boolean);
  const found = new Map<string, string>();
  const missing: string[] = [];
  for (const tool of TOOLS) {
    const hit = dirs.map((d) => path.join(d, tool)).find((p) => {
      try {
        fs.accessSync(p, fs.constants.X_OK);
        return fs.statSync(p).isFile();
      } catch {
        return false;
      }
    });
    if (hit) found.set(tool, hit);
    else missing.push(tool);
  }
  if (missing.length) throw new Error(`the node-scripts harness needs these tools on the machine: ${missing.join(", ")} (apt-get install jq util-linux …)`);
  toolPaths = found;
  return found;
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string>;
  /** Working directory, a path on the fake node (default: the node's test directory). */
  cwd?: string;
  input?: string | Buffer;
  timeoutMs?: number;
}

/** A recorded call of a stubbed command: its arguments. */
export type Call = string[];

export class FakeNode {
  readonly dir: string;
  readonly root: string;

  /** A fresh fake node; `software: false` leaves /usr/local empty (a node before its bootstrap ran). */
  constructor(options: { software?: boolean } = {}) {
    this.dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "pgha-node-test-")));
    this.root = path.join(this.dir, "root");
    // The directories of a Debian 13 node the scripts expect (some made by the image's packages).
    const nodeDirs = ["etc/pgha", "etc/haproxy", "etc/cron.d", "etc/systemd/system", "run/lock", "var/log", "tmp", "dev/disk/by-id"];
    for (const d of ["bin", "tools", "home", "tmp", "answers", ...nodeDirs.map((x) => `root/${x}`)]) {
      fs.mkdirSync(path.join(this.dir, d), { recursive: true });
    }
    fs.writeFileSync(path.join(this.dir, "calls.log"), "");
    for (const [tool, real] of realTools()) fs.symlinkSync(real, path.join(this.dir, "tools", tool));
    for (const stub of OWN_STUBS) fs.symlinkSync(path.join(STUBS, stub), path.join(this.dir, "bin", stub));
    for (const name of ANSWERED) fs.symlinkSync(path.join(STUBS, "_answer"), path.join(this.dir, "bin", name));
    this.write("/etc/hosts", "127.0.0.1 localhost\n");
    this.write("/etc/fstab", "# /etc/fstab: static file system information.\n");
    if (options.software !== false) this.installSoftware();
  }

  /** Copies node-software/ into the fake root, modes kept (what the bootstrap's tar does). */
  installSoftware(): this {
    fs.cpSync(SOFTWARE_DIR, this.root, { recursive: true, filter: (src) => !(path.dirname(src) === SOFTWARE_DIR && src.endsWith(".md")) });
    return this;
  }

  /** The host path of a node path ("/etc/hosts" → <root>/etc/hosts). */
  path(nodePath: string): string {
    return path.join(this.root, nodePath);
  }

  write(nodePath: string, content: string | Buffer, mode = 0o644): this {
    const p = this.path(nodePath);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
    fs.chmodSync(p, mode);
    return this;
  }

  read(nodePath: string): string {
    return fs.readFileSync(this.path(nodePath), "utf8");
  }

  exists(nodePath: string): boolean {
    return fs.existsSync(this.path(nodePath));
  }

  /** "0600"-style mode of a node file. */
  mode(nodePath: string): string {
    return "0" + (fs.statSync(this.path(nodePath)).mode & 0o7777).toString(8);
  }

  /** inode of a node file (unchanged when a script leaves the file alone; a rename changes it). */
  inode(nodePath: string): number {
    return fs.statSync(this.path(nodePath)).ino;
  }

  /** Owner "user:group" of a node file as chown/install -o set it (the stubs' ledger; root:root when never chowned). */
  owner(nodePath: string): string {
    const p = this.path(nodePath);
    const ino = String(fs.statSync(p).ino);
    let owner = "root:root";
    const ledger = path.join(this.dir, "owners");
    if (fs.existsSync(ledger)) {
      for (const line of fs.readFileSync(ledger, "utf8").split("\n").filter(Boolean)) {
        const [i, o, recorded] = line.split("\t");
        if (i === ino && (recorded === p || recorded.startsWith(p + "."))) owner = o;
      }
    }
    return owner;
  }

  /** Files under a node directory, relative to it, sorted. */
  list(nodeDir: string): string[] {
    const base = this.path(nodeDir);
    if (!fs.existsSync(base)) return [];
    return (fs.readdirSync(base, { recursive: true }) as string[]).filter((f) => fs.statSync(path.join(base, f)).isFile()).sort();
  }

  /** KEY=value lines, as the render path writes env files. */
  env(nodePath: string, values: Record<string, string>): this {
    return this.write(nodePath, Object.entries(values).map(([k, v]) => `${k}=${/^[\w@%+=:,./-]*$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`}`).join("\n") + "\n");
  }

  /** /etc/pgha/aws.env as the bootstrap user-data writes it on EC2. */
  awsEnv(region = "eu-west-1"): this {
    return this.env("/etc/pgha/aws.env", { AWS_REGION: region, AWS_DEFAULT_REGION: region });
  }

  /** A secret in the fake Secrets Manager (undefined removes it). */
  secret(id: string, value: object | string | undefined): this {
    const p = path.join(this.dir, "aws/secrets", id);
    if (value === undefined) {
      fs.rmSync(p, { force: true });
      return this;
    }
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, typeof value === "string" ? value : JSON.stringify(value));
    return this;
  }

  /** The account the fake STS names (sts get-caller-identity); undefined: no credentials. */
  awsAccount(id: string | undefined): this {
    const p = path.join(this.dir, "aws/account");
    if (id === undefined) fs.rmSync(p, { force: true });
    else {
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.writeFileSync(p, `${id}\n`);
    }
    return this;
  }

  /** What the fake CloudWatch received: one line of put-metric-data arguments per call. */
  metricData(): string[] {
    const p = path.join(this.dir, "aws/metrics");
    return fs.existsSync(p) ? fs.readFileSync(p, "utf8").trim().split("\n").filter(Boolean) : [];
  }

  /** An object in the fake S3 ("s3://bucket/key"). */
  s3(uri: string, content: string | Buffer): this {
    const p = path.join(this.dir, "aws/s3", uri.replace(/^s3:\/\//, ""));
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
    return this;
  }

  s3Exists(uri: string): boolean {
    return fs.existsSync(path.join(this.dir, "aws/s3", uri.replace(/^s3:\/\//, "")));
  }

  /** An HTTP response of the fake network (Patroni's REST API …): METHOD and URL path. */
  http(method: string, urlPath: string, body: string | object, status = 200): this {
    const p = path.join(this.dir, "http", method + urlPath);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, typeof body === "string" ? body : JSON.stringify(body));
    fs.writeFileSync(p + ".status", String(status));
    return this;
  }

  /** The body the scripts sent with METHOD to the URL path (undefined: none sent). */
  httpRequest(method: string, urlPath: string): string | undefined {
    const p = path.join(this.dir, "http", method + urlPath + ".request");
    return fs.existsSync(p) ? fs.readFileSync(p, "utf8") : undefined;
  }

  /** A systemd unit of the fake node: running (since `started`, as `systemctl show` prints it). */
  unitActive(unit: string, started = "Thu 2026-01-01 00:00:00 UTC"): this {
    for (const [d, content] of [["active", ""], ["started", started]] as const) {
      fs.mkdirSync(path.join(this.dir, "systemd", d), { recursive: true });
      fs.writeFileSync(path.join(this.dir, "systemd", d, unit), content + (content ? "\n" : ""));
    }
    return this;
  }

  /** Makes `systemctl <verb> [<unit>]` fail. */
  unitFails(verb: string, unit?: string): this {
    fs.mkdirSync(path.join(this.dir, "systemd/fail"), { recursive: true });
    fs.writeFileSync(path.join(this.dir, "systemd/fail", unit ? `${verb} ${unit}` : verb), "");
    return this;
  }

  isActive(unit: string): boolean {
    return fs.existsSync(path.join(this.dir, "systemd/active", unit));
  }

  /**
   * A block device of the fake node: <root>/dev/<name>, with the /dev/disk/by-id links udev makes
   * for it (relative, like udev's), and what is on it (nothing, or a file system with a label).
   */
  disk(name: string, options: { byId?: string[]; fs?: { type: string; label?: string } } = {}): this {
    this.write(`/dev/${name}`, "");
    for (const id of options.byId ?? []) fs.symlinkSync(`../../${name}`, this.path(`/dev/disk/by-id/${id}`));
    if (options.fs) {
      fs.mkdirSync(path.join(this.dir, "disks"), { recursive: true });
      fs.writeFileSync(path.join(this.dir, "disks", name), `type=${options.fs.type}\n${options.fs.label ? `label=${options.fs.label}\n` : ""}`);
    }
    return this;
  }

  /** The device the fake node's / is mounted from (findmnt). */
  rootDevice(name: string): this {
    fs.mkdirSync(path.join(this.dir, "disks"), { recursive: true });
    fs.writeFileSync(path.join(this.dir, "disks/root-source"), this.path(`/dev/${name}`) + "\n");
    return this;
  }

  /** What is on a fake device now ("type=… label=…" lines; "" for nothing). */
  diskContent(name: string): string {
    const p = path.join(this.dir, "disks", name);
    return fs.existsSync(p) ? fs.readFileSync(p, "utf8") : "";
  }

  /** Node paths mounted (by the mount stub or declared). */
  mounts(): string[] {
    const p = path.join(this.dir, "mounts");
    return fs.existsSync(p) ? fs.readFileSync(p, "utf8").split("\n").filter(Boolean).map((m) => m.slice(this.root.length) || "/") : [];
  }

  /**
   * A test's own behaviour for a stubbed command: bash, sourced with the command's arguments
   * ("$@"); `stub_nth <key>` counts calls. Replaces the stub's own behaviour for this node.
   */
  answer(command: string, bash: string): this {
    fs.writeFileSync(path.join(this.dir, "answers", command), bash);
    return this;
  }

  /** Puts an answered stub (stubs/_answer) at a node path, e.g. PostgreSQL's pg_ctl. */
  answeredAt(nodePath: string): this {
    const p = this.path(nodePath);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.symlinkSync(path.join(STUBS, "_answer"), p);
    return this;
  }

  /** The environment a script runs with: stubs then tools on PATH, the fake root, nothing of the machine's. */
  environment(extra: Record<string, string> = {}): Record<string, string> {
    return {
      PATH: `${path.join(this.dir, "bin")}:${path.join(this.dir, "tools")}`,
      HOME: path.join(this.dir, "home"),
      LC_ALL: "C",
      TZ: "UTC",
      TMPDIR: path.join(this.dir, "tmp"),
      PGHA_INSTALL_ROOT: this.root,
      PGHA_TEST_DIR: this.dir,
      PGHA_TEST_TOOLS: path.join(this.dir, "tools"),
      PGHA_TEST_STUBS: STUBS,
      PGHA_TEST_USER: "root",
      ...extra,
    };
  }

  private scriptPath(script: string): string {
    if (script.startsWith("/")) return this.path(script);
    for (const d of ["/usr/local/sbin", "/usr/local/bin"]) if (fs.existsSync(this.path(`${d}/${script}`))) return this.path(`${d}/${script}`);
    throw new Error(`${script} is not installed on the fake node`);
  }

  /** Runs an installed node script to its end. */
  run(script: string, args: string[] = [], options: RunOptions = {}): RunResult {
    const r = spawnSync(this.scriptPath(script), args, {
      env: this.environment(options.env),
      input: options.input ?? "",
      encoding: "utf8",
      timeout: options.timeoutMs ?? 60_000,
      cwd: options.cwd ? this.path(options.cwd) : this.dir,
    });
    if (r.error) throw r.error;
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  /**
   * Holds a node path's flock(1) lock, as a running job would, until `release`. The holder is its
   * own process group, so release ends flock and the command under it (no `sleep` left behind).
   */
  async holdLock(nodePath: string): Promise<{ release: () => Promise<void> }> {
    const lockFile = this.path(nodePath);
    const holder = spawn(path.join(this.dir, "tools/flock"), [lockFile, path.join(this.dir, "tools/sleep"), "60"], { stdio: "ignore", detached: true });
    const exited = new Promise<void>((resolve) => holder.once("exit", () => resolve()));
    const release = async () => {
      try {
        process.kill(-holder.pid!, "SIGTERM");
      } catch {
        // already gone
      }
      await exited;
    };
    const deadline = Date.now() + 30_000;
    while (!fs.existsSync(lockFile)) {
      if (Date.now() > deadline) {
        await release();
        throw new Error("the lock holder did not start");
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 300)); // the file exists before flock holds it
    return { release };
  }

  /** Starts an installed node script in the background (tests of locks). */
  start(script: string, args: string[] = [], options: RunOptions = {}): ChildProcess {
    return spawn(this.scriptPath(script), args, { env: this.environment(options.env), cwd: this.dir, stdio: "pipe" });
  }

  /** Recorded calls: of one command (its arguments), or of all ([command, ...arguments]). */
  calls(command?: string): Call[] {
    // What follows the last record separator is a call still being written (a background
    // script): not a call yet.
    const records = fs.readFileSync(path.join(this.dir, "calls.log"), "utf8").split("\x1e");
    records.pop();
    const all = records.filter(Boolean).map((r) => r.split("\x1f"));
    return command === undefined ? all : all.filter((c) => c[0] === command).map((c) => c.slice(1));
  }

  /** Recorded calls of a command, each as one line ("systemctl reload patroni.service"). */
  callLines(command: string): string[] {
    return this.calls(command).map((c) => [command, ...c].join(" "));
  }

  clearCalls(): this {
    fs.writeFileSync(path.join(this.dir, "calls.log"), "");
    return this;
  }

  /** Files the scripts left in TMPDIR (they must clean up after themselves). */
  leftInTmp(): string[] {
    return fs.readdirSync(path.join(this.dir, "tmp"));
  }

  dispose(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One FakeNode per test, removed after it. */
export function fakeNodes(): (options?: { software?: boolean }) => FakeNode {
  const made: FakeNode[] = [];
  afterEach(() => {
    for (const n of made.splice(0)) n.dispose();
  });
  return (options) => {
    const n = new FakeNode(options);
    made.push(n);
    return n;
  };
}

/** The usage text a script prints: its leading comment block, as pgha_usage prints it. */
export function usageOf(nodeSoftwarePath: string): string {
  const lines = fs.readFileSync(path.join(SOFTWARE_DIR, nodeSoftwarePath), "utf8").split("\n").slice(1);
  const end = lines.findIndex((l) => !l.startsWith("#"));
  return lines.slice(0, end).map((l) => l.replace(/^# ?/, "")).join("\n") + "\n";
}
