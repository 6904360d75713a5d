// render(spec, node, layout) → NodeBundle: every file a node gets (its configuration, rendered
// from templates/), packed with a manifest into a content-addressed bundle that names the node
// software it runs, and the small bootstrap user-data that fetches it. Pure: no Pulumi, no I/O
// beyond reading templates and node-software/.
//
// This file is the module's public API; the code is split by responsibility:
//   types.ts       BundleFile, NodeBundle
//   node-files.ts  the node's configuration files (the template view, each role's files)
//   user-data.ts   the cloud-config bootstrap and the environment files it writes
//   pack.ts        packing files into a bundle: each node's, and a scratch restore host's
import { NODE_PATHS } from "../../node-paths";
import { sha256 } from "../../bundle/format";

export { sha256 };

export type { BundleFile, NodeBundle } from "./types";

/** Paths on a node (src/node-paths.ts: one leaf module for render and the policies). */
export { NODE_PATHS };

export { REST_API_USER, renderNodeFiles } from "./node-files";
export { bundlesUri, renderAwsEnv, renderCloudConfig } from "./user-data";
export { renderAll, renderBundle, renderRestoreHostBundle } from "./pack";
