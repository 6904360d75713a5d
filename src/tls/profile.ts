// Which certificates a cluster needs and what they say — decided once, issued twice: by
// @pulumi/tls on AWS (components/secrets.ts) and by the sandbox's local CA (src/tls/local-ca.ts).
import type { ClusterSpec } from "../spec";
import type { Layout } from "../layout";

export interface CertificateProfile {
  /** Node (or service) the certificate is for. */
  name: string;
  commonName: string;
  dnsNames: string[];
  ipAddresses: string[];
  /** Node certificates are server and client certificates (etcd peers, REST API calls, checks). */
  extendedKeyUsages: ("serverAuth" | "clientAuth")[];
  validityDays: number;
}

export const CA_VALIDITY_DAYS = 3650;

export function caCommonName(spec: ClusterSpec): string {
  return `postgres-ha ${spec.clusterName} ${spec.stack} CA`;
}

/**
 * One certificate per node. Subject alternative names cover the node's name, its FQDN, its
 * address and loopback; PostgreSQL and HAProxy nodes (only they) also carry the rw/ro service names, because
 * a client dialling rw.<cluster>.<domain> through HAProxy (TCP) is answered by the backend
 * PostgreSQL node's certificate (notes/patroni-tls-standby.md).
 */
export function nodeCertificateProfiles(spec: ClusterSpec, layout: Layout): CertificateProfile[] {
  return spec.nodes.map((n) => {
    const serviceNames = n.role === "postgres" || n.role === "haproxy" ? [spec.serviceNames.readWrite, spec.serviceNames.readOnly] : [];
    return {
      name: n.name,
      commonName: n.name,
      dnsNames: [n.name, `${n.name}.${spec.clusterName}.${spec.network.domain}`, ...serviceNames, "localhost"],
      ipAddresses: [layout.addresses[n.name], "127.0.0.1"],
      extendedKeyUsages: ["serverAuth", "clientAuth"],
      validityDays: spec.tls.certValidityDays,
    };
  });
}

/** Days before expiry at which a certificate is re-issued (tls.renewBeforeDays). */
export function renewBeforeDays(spec: ClusterSpec): number {
  return spec.tls.renewBeforeDays;
}
