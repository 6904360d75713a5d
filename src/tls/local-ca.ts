// The sandbox's certificate authority: issues, from the same CertificateProfiles that AWS issues
// with @pulumi/tls, a private CA (ECDSA P-256) and one certificate per node, plus what only the
// sandbox needs (its S3 endpoint's server certificate, an operator client certificate for the
// machine's own calls to the REST API and etcd). Keys are PKCS#8 PEM.
import "reflect-metadata"; // @peculiar/x509 uses tsyringe, which needs it loaded first
import { webcrypto } from "crypto";
import * as x509 from "@peculiar/x509";
import type { CertificateProfile } from "./profile";

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
const crypto = webcrypto;
x509.cryptoProvider.set(crypto as any);

const ALGORITHM: webcrypto.EcKeyGenParams & webcrypto.EcdsaParams = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
const DAY_MS = 86_400_000;

export interface IssuedCertificate {
  certPem: string;
  keyPem: string;
  notAfter: Date;
  serialNumber: string;
}

export interface CertificateAuthority extends IssuedCertificate {
  commonName: string;
}

function pemKey(der: ArrayBuffer): string {
  return x509.PemConverter.encode(der, "PRIVATE KEY") + "\n";
}

function serial(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  bytes[0] &= 0x7f; // positive
  return Buffer.from(bytes).toString("hex");
}

export async function createCertificateAuthority(commonName: string, validityDays: number): Promise<CertificateAuthority> {
  const keys = (await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"])) as CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${commonName}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + validityDays * DAY_MS),
    keys: keys as any,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as any),
    ],
  });
  return {
    commonName,
    certPem: cert.toString("pem") + "\n",
    keyPem: pemKey(await crypto.subtle.exportKey("pkcs8", keys.privateKey)),
    notAfter: cert.notAfter,
    serialNumber: cert.serialNumber,
  };
}

async function importCaKey(ca: CertificateAuthority): Promise<CryptoKey> {
  const der = x509.PemConverter.decodeFirst(ca.keyPem);
  return crypto.subtle.importKey("pkcs8", der, ALGORITHM, false, ["sign"]);
}

export async function issueCertificate(ca: CertificateAuthority, profile: CertificateProfile, now = new Date()): Promise<IssuedCertificate> {
  const keys = (await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"])) as CryptoKeyPair;
  const caCert = new x509.X509Certificate(ca.certPem);
  const names: x509.JsonGeneralName[] = [
    ...profile.dnsNames.map((value) => ({ type: "dns" as const, value })),
    ...profile.ipAddresses.map((value) => ({ type: "ip" as const, value })),
  ];
  const usages = profile.extendedKeyUsages.map((u) => x509.ExtendedKeyUsage[u]);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${profile.commonName}`,
    issuer: caCert.subject,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + profile.validityDays * DAY_MS),
    publicKey: keys.publicKey as any,
    signingKey: (await importCaKey(ca)) as any,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension(usages, false),
      new x509.SubjectAlternativeNameExtension(names, false),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as any),
      await x509.AuthorityKeyIdentifierExtension.create(caCert, false),
    ],
  });
  return {
    certPem: cert.toString("pem") + "\n",
    keyPem: pemKey(await crypto.subtle.exportKey("pkcs8", keys.privateKey)),
    notAfter: cert.notAfter,
    serialNumber: cert.serialNumber,
  };
}

/** What a certificate actually says (for tests and status): SANs, EKUs, expiry, issuer. */
export function describeCertificate(pem: string) {
  const cert = new x509.X509Certificate(pem);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  return {
    subject: cert.subject,
    issuer: cert.issuer,
    serialNumber: cert.serialNumber,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    dnsNames: san ? san.names.items.filter((n) => n.type === "dns").map((n) => n.value) : [],
    ipAddresses: san ? san.names.items.filter((n) => n.type === "ip").map((n) => n.value) : [],
    extendedKeyUsages: eku ? eku.usages.map(String) : [],
  };
}

/** Does the certificate need re-issuing (expires within renewBeforeDays)? */
export function needsRenewal(pem: string, renewBeforeDays: number, now = new Date()): boolean {
  const cert = new x509.X509Certificate(pem);
  return cert.notAfter.getTime() - now.getTime() < renewBeforeDays * DAY_MS;
}
