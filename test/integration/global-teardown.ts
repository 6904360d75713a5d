import * as fs from "fs";
import { down } from "../../src/sandbox/cluster";
import { CREATED_MARKER } from "./global-setup";

export default async function globalTeardown(): Promise<void> {
  if (!fs.existsSync(CREATED_MARKER)) {
    process.stderr.write("\n[integration] the sandbox was running before the tests: left up\n");
    return;
  }
  if (process.env.PGHA_KEEP_SANDBOX === "1") {
    process.stderr.write("\n[integration] PGHA_KEEP_SANDBOX=1: the sandbox stays up (`npx pgha sandbox down` removes it)\n");
    return;
  }
  await down({ log: (l) => process.stderr.write(`[integration] ${l}\n`) });
  fs.rmSync(CREATED_MARKER, { force: true });
}
