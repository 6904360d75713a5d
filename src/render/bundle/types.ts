// Node bundles: what render produces for a node (its files and the packed bundle).
import type { NodeSpec } from "../../spec";
import type { BundleManifest, ChangeAction } from "../../bundle/format";

export interface BundleFile {
  path: string;
  /** Octal mode, e.g. "0644". */
  mode: string;
  owner: string;
  content: string;
  /** What pgha-node does on a running node when this file changes. */
  onChange: ChangeAction[];
}

export interface NodeBundle {
  node: string;
  role: NodeSpec["role"] | "restore";
  /** The node's configuration files (the node software is a separate artifact, see software.ts). */
  files: BundleFile[];
  manifest: BundleManifest;
  /** The bundle as uploaded: a deterministic tar (manifest.json + files/…). */
  archive: Buffer;
  /** sha256 of `archive`: the bundle's name and what the node verifies. */
  hash: string;
  /** #cloud-config text: the bootstrap that fetches, verifies and installs the bundle. */
  cloudConfig: string;
  /** The cloud-config gzip-compressed (EC2 user-data must stay under 16 KiB; this is a few KiB). */
  userDataGzip: Buffer;
}
