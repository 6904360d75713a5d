// What the config gate says about a refused stack config, for tests that read its message.
import { ConfigError, loadAndValidate, type ConfigProblem } from "../../src/config/load";

/** The problems and message of a config the gate must refuse (a test failure if it accepts it). */
export function refused(raw: Record<string, unknown>, stack: string): { problems: ConfigProblem[]; message: string } {
  try {
    loadAndValidate(raw, { stack });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return { problems: (e as ConfigError).problems, message: (e as ConfigError).message };
  }
  throw new Error("expected a ConfigError, the config was accepted");
}

/** The lines of the message about one key (its ✗ line and the advice under it). */
export function block(message: string, key: string): string {
  const lines = message.split("\n");
  const start = lines.findIndex((l) => l.startsWith(`  ✗ ${key} = `));
  if (start < 0) throw new Error(`no ✗ line for ${key} in:\n${message}`);
  const end = lines.findIndex((l, i) => i > start && l.startsWith("  ✗ "));
  return lines.slice(start, end < 0 ? undefined : end).join("\n");
}
