// Brings the sandbox up once for every integration test file (they share it, in band). A sandbox
// the user already started (`npm run sandbox`) is reused and left running; one the tests started
// is removed afterwards (global-teardown.ts), also when tests failed. PGHA_KEEP_SANDBOX=1 keeps it.
import * as fs from "fs";
import * as path from "path";
import { down, readState, staleReason, up, STATE_DIR } from "../../src/sandbox/cluster";
import { resolveStackFile } from "../../src/config/stack-file";

export const CREATED_MARKER = path.join(STATE_DIR, ".started-by-tests");

export default async function globalSetup(): Promise<void> {
  const stack = process.env.PGHA_TEST_STACK ?? "prod";
  const stale = staleReason(stack);
  if (stale) {
    process.stderr.write(`\n[integration] removing the running sandbox: ${stale}\n`);
    await down();
  }
  const reuse = readState()?.stackFile === resolveStackFile(stack).file && !fs.existsSync(CREATED_MARKER);
  const start = Date.now();
  process.stderr.write(`\n[integration] sandbox up --stack ${stack}${reuse ? " (reusing the running sandbox)" : ""}\n`);
  await up({ stack, log: (l) => process.stderr.write(`[integration] ${l}\n`) });
  if (!reuse) fs.writeFileSync(CREATED_MARKER, new Date().toISOString());
  process.stderr.write(`[integration] sandbox healthy after ${((Date.now() - start) / 1000).toFixed(1)} s\n`);
}
