// Writes the committed resource-URN list of each shipped stack (test/program/urns/<stack>.txt):
// runs the Pulumi program under the offline mocks (src/plan/run.ts) and records every URN it
// registers, marking the protected and retained ones. test/program/urns.test.ts compares each
// run with these lists, so a moved or renamed resource shows in review (src/plan/urns.ts).
//
//   npx ts-node --transpile-only scripts/stack-urns.ts          every Pulumi.<stack>.yaml
//   npx ts-node --transpile-only scripts/stack-urns.ts prod     one stack
//
// Run it after a change that adds or removes resources, or after moving one with `aliases`;
// review the diff of the lists with the change.
import * as fs from "fs";
import * as path from "path";
import { runProgram } from "../src/plan/run";
import { formatUrnList, shippedStacks, urnEntries, urnListFile } from "../src/plan/urns";

async function main(): Promise<number> {
  const root = path.resolve(__dirname, "..");
  const stacks = process.argv.length > 2 ? process.argv.slice(2) : shippedStacks(root);
  for (const stack of stacks) {
    const run = await runProgram({ stack, root });
    if (run.error) {
      process.stderr.write(`stack ${stack}: the program failed under mocks, no list written:\n${run.error.message}\n`);
      return 1;
    }
    const file = urnListFile(root, stack);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const entries = urnEntries(run);
    fs.writeFileSync(file, formatUrnList(stack, entries));
    process.stdout.write(`${path.relative(root, file)}: ${entries.length} resources\n`);
  }
  return 0;
}

main().then(
  (code) => (process.exitCode = code),
  (err) => {
    process.stderr.write(`${err instanceof Error ? err.stack : err}\n`);
    process.exitCode = 1;
  },
);
