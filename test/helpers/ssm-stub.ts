// A stub awscli that plays SSM Run Command on this machine, for the CLI commands that reach AWS
// nodes over SSM (`pgha rollout`, `pgha restore`): send-command stores the commands and runs them
// at once (sh, as AWS-RunShellScript does) with PGHA_INSTANCE set to the instance id;
// get-command-invocation answers from the stored output. Every call is appended to <dir>/ssm/calls.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { shQuote } from "../../src/rollout/ssm";

export interface SsmStub {
  dir: string;
  bin: string;
  /** Writes an executable stub command into bin/ (first on PATH). */
  command(name: string, script: string): void;
  /** The commands sent, in order: the last line of each (the node command itself). */
  sent(): string[];
  calls(): string[];
  env(extra?: Record<string, string>): NodeJS.ProcessEnv;
  remove(): void;
}

/** lostOnce: that instance is ConnectionLost at its first look only; offline: these never come online. */
/** outputLimit: StandardOutputContent holds only the first this many characters, as SSM's does (24 000). */
export function ssmStub(opts: { lostOnce?: string; offline?: string[]; outputLimit?: number } = {}): SsmStub {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgha-ssm-"));
  const bin = path.join(dir, "bin");
  fs.mkdirSync(bin);
  const state = path.join(dir, "ssm");
  fs.writeFileSync(path.join(bin, "aws"), `#!/bin/bash
set -eu
# The commands it runs find the other stubs (cloud-init, pgha-node) even when called by absolute path.
export PATH=${shQuote(bin)}:$PATH
state=${shQuote(state)}
mkdir -p "$state"
echo "$*" >> "$state/calls"
arg() { local want=$1; shift; while [ $# -gt 0 ]; do if [ "$1" = "$want" ]; then echo "$2"; return; fi; shift; done; }
case "$1 $2" in
  "ssm describe-instance-information")
    id=$(arg --filters "$@" | sed 's/.*Values=//')
    if [ "$id" = ${shQuote(opts.lostOnce ?? "none")} ] && [ ! -e "$state/lost-seen" ]; then touch "$state/lost-seen"; echo ConnectionLost
    elif [[ " ${(opts.offline ?? []).join(" ")} " == *" $id "* ]]; then echo ConnectionLost; else echo Online; fi ;;
  "ssm send-command")
    id=$(arg --instance-ids "$@"); n=$(( $(ls "$state" | grep -c '^cmd-' || true) + 1 ))
    doc=$(arg --document-name "$@"); [ "$doc" = AWS-RunShellScript ]
    arg --parameters "$@" | jq -r '.commands[]' > "$state/cmd-$n.sh"
    echo "$id" > "$state/cmd-$n.instance"
    set +e; PGHA_INSTANCE="$id" sh "$state/cmd-$n.sh" > "$state/cmd-$n.out" 2> "$state/cmd-$n.err"; echo $? > "$state/cmd-$n.rc"; set -e
    echo "cmd-$n" ;;
  "ssm get-command-invocation")
    c=$(arg --command-id "$@"); rc=$(cat "$state/$c.rc")
    jq -n --arg out "$(head -c ${opts.outputLimit ?? 1e9} "$state/$c.out")" --arg err "$(cat "$state/$c.err")" --argjson rc "$rc" \\
      '{Status: (if $rc == 0 then "Success" else "Failed" end), ResponseCode: $rc, StandardOutputContent: $out, StandardErrorContent: $err}' ;;
  *) echo "stub aws: unexpected $*" >&2; exit 2 ;;
esac
`, { mode: 0o755 });
  const stub: SsmStub = {
    dir,
    bin,
    command(name, script) {
      fs.writeFileSync(path.join(bin, name), script, { mode: 0o755 });
    },
    sent() {
      if (!fs.existsSync(state)) return [];
      return fs
        .readdirSync(state)
        .filter((f) => /^cmd-\d+\.sh$/.test(f))
        .sort((a, b) => Number(a.split(/[-.]/)[1]) - Number(b.split(/[-.]/)[1]))
        .map((f) => `${fs.readFileSync(path.join(state, f.replace(/\.sh$/, ".instance")), "utf8").trim()}: ${fs.readFileSync(path.join(state, f), "utf8").trim().split("\n").pop()}`);
    },
    calls() {
      return fs.existsSync(path.join(state, "calls")) ? fs.readFileSync(path.join(state, "calls"), "utf8").trim().split("\n") : [];
    },
    env(extra = {}) {
      return { ...process.env, PATH: `${bin}:${process.env.PATH}`, PGHA_SSM_POLL_MS: "10", ...extra };
    },
    remove() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  stub.command("cloud-init", "#!/bin/sh\nexit 0\n");
  return stub;
}
