// Node bundles: packing a node's files with a manifest into its content-addressed bundle, with
// its user-data — for every node of the cluster, and for a scratch restore host.
import { gzipSync } from "zlib";
import { nodeByName, type ClusterSpec, type NodeSpec } from "../../spec";
import type { Layout } from "../../layout";
import { nodeSoftware } from "../software";
import { manifestOf, packNodeBundle, sha256 } from "../../bundle/format";
import { baseConfFile, commonFiles, commonView, pgbackrestFiles, renderNodeFiles } from "./node-files";
import { renderCloudConfig } from "./user-data";
import type { BundleFile, NodeBundle } from "./types";

function packBundle(spec: ClusterSpec, node: Pick<NodeSpec, "name"> & { role: NodeBundle["role"] }, layout: Layout, files: BundleFile[]): NodeBundle {
  const software = nodeSoftware();
  const manifest = manifestOf(
    { project: spec.project, stack: spec.stack, cluster: spec.scope, node: node.name, role: node.role, software: { sha256: software.sha256, version: software.version } },
    files,
  );
  const archive = packNodeBundle(manifest, files);
  const cloudConfig = renderCloudConfig(spec, node, layout);
  return {
    node: node.name,
    role: node.role,
    files,
    manifest,
    archive,
    hash: sha256(archive),
    cloudConfig,
    // mtime 0 and no file name in the header: the same config always gives the same bytes.
    userDataGzip: gzipSync(Buffer.from(cloudConfig), { level: 9 }),
  };
}

export function renderBundle(spec: ClusterSpec, nodeName: string, layout: Layout): NodeBundle {
  const node = nodeByName(spec, nodeName);
  return packBundle(spec, node, layout, renderNodeFiles(spec, nodeName, layout));
}

export function renderAll(spec: ClusterSpec, layout: Layout): NodeBundle[] {
  return spec.nodes.map((n) => renderBundle(spec, n.name, layout));
}

/**
 * A scratch restore host: restores run beside the live cluster without touching it (the
 * sandbox's `restore --new-cluster`; on AWS the same bundle on a temporary instance). It gets
 * the repository configuration and the cluster secret — no Patroni.
 */
export function renderRestoreHostBundle(spec: ClusterSpec, layout: Layout, name: string, address: string): NodeBundle {
  const node: NodeSpec = { name, role: "postgres", index: 0, subnetIndex: 0, privateIp: address, instanceType: spec.postgres.instanceType, tags: {} };
  const hostLayout: Layout = { ...layout, addresses: { ...layout.addresses, [name]: address } };
  const view = {
    ...commonView(spec, node, hostLayout),
    role: "restore",
    postgresNode: true,
    clusterSecret: spec.names.clusterSecret,
    nodeSecret: spec.names.clusterSecret.replace(/cluster$/, `node/${name}`),
    // A scratch host restores into its own disk; it never holds the cluster's data volume.
    dataVolume: "none",
    dataDevice: "",
  };
  const files: BundleFile[] = [
    ...commonFiles(view, hostLayout),
    // The restored postgresql.conf (written by Patroni) includes the base configuration.
    baseConfFile(spec, view),
    ...pgbackrestFiles(spec, layout, view, "1GiB"),
  ];
  files.sort((a, b) => a.path.localeCompare(b.path));
  return packBundle(spec, { name, role: "restore" }, hostLayout, files);
}
