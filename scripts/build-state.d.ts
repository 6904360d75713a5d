// Types of scripts/build-state.js (plain JavaScript: bin/pgha loads it before any TypeScript).

/** relative path (with /) → "size:mtimeMs". */
export type SourceFingerprint = Record<string, string>;

export type BuildState = { fresh: true; built: true } | { fresh: false; built: boolean; reason: string };

export const BUILD_DIR: string;
export const STAMP: string;
export const COMPILED_ENTRY: string;
export function sourceFingerprint(root: string): SourceFingerprint;
export function fingerprintDifference(built: SourceFingerprint, now: SourceFingerprint): string | undefined;
/** Compiled files under dist/ (paths relative to root) whose source is not in `sources`. */
export function orphanedOutputs(root: string, sources: SourceFingerprint): string[];
export function buildState(root: string): BuildState;
export type RuntimeChoice = { run: "js"; note?: undefined } | { run: "ts"; note?: string } | { run: "refuse"; note: string };
export function chooseRuntime(state: BuildState, runtimeEnv: string | undefined): RuntimeChoice;
export function readStamp(root: string): { format: string; builtAt: string; compiler?: string; sources: SourceFingerprint } | undefined;
export function writeStamp(root: string, sources: SourceFingerprint, compiler?: string): void;
export function removeStamp(root: string): void;
