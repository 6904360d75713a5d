// The sandbox cluster: the types its parts share (the recorded state, the opened sandbox).
import type { ClusterSpec } from "../../spec";
import type { Layout } from "../../layout";
import type { SandboxMaterial } from "../material";
import type { SandboxClient } from "../client";

export interface SandboxState {
  stack: string;
  stackFile: string;
  image: string;
  createdAt: string;
  /** sha256 over every host's user-data: what the hosts were booted with. */
  userDataHash?: string;
  /**
   * The stack config the running cluster was brought to (by `up` or the last `apply`), as read
   * from the stack file then: every command acts on this, not on the file, which may have
   * changed since (that difference is drift, shown by status and refused by risky commands).
   */
  config?: Record<string, unknown>;
  appliedAt?: string;
  /** Each node's bundle hash as of `config`. */
  bundleHashes?: Record<string, string>;
}

/** Everything about the running sandbox a command needs. */
export interface Sandbox {
  state: SandboxState;
  spec: ClusterSpec;
  layout: Layout;
  material: SandboxMaterial;
  client: SandboxClient;
  stateDir: string;
}
