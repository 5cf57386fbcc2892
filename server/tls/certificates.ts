// TLS material: the configured cert/key, or a self-signed localhost certificate generated
// once into DATA_DIR and reused on later starts (regenerated when it is about to expire).

import { X509Certificate } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { createSelfSignedCert } from './self-signed-cert.ts';
import type { Logger } from '../log.ts';

export interface TlsMaterial {
  readonly cert: string;
  readonly key: string;
  readonly source: 'configured' | 'generated' | 'reused';
}

const RENEW_BEFORE_MS = 24 * 60 * 60 * 1000;

export async function loadTlsMaterial(
  options: { certPath: string | undefined; keyPath: string | undefined; dataDir: string },
  log: Logger,
): Promise<TlsMaterial> {
  if (options.certPath && options.keyPath) {
    const [cert, key] = await Promise.all([fsp.readFile(options.certPath, 'utf8'), fsp.readFile(options.keyPath, 'utf8')]);
    return { cert, key, source: 'configured' };
  }
  const dir = path.join(options.dataDir, 'tls');
  const certFile = path.join(dir, 'localhost-cert.pem');
  const keyFile = path.join(dir, 'localhost-key.pem');
  const existing = await readIfValid(certFile, keyFile);
  if (existing) {
    log.info({ cert: certFile }, 'using the self-signed localhost certificate generated earlier');
    return { ...existing, source: 'reused' };
  }
  const pair = createSelfSignedCert({
    commonName: 'localhost',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1', '::1'],
    validDays: 365,
  });
  await fsp.mkdir(dir, { recursive: true });
  await writeAtomically(keyFile, pair.keyPem, 0o600);
  await writeAtomically(certFile, pair.certPem, 0o644);
  log.info({ cert: certFile }, 'no TLS_CERT given: generated a self-signed localhost certificate (browsers will warn)');
  return { cert: pair.certPem, key: pair.keyPem, source: 'generated' };
}

async function readIfValid(certFile: string, keyFile: string): Promise<{ cert: string; key: string } | undefined> {
  try {
    const [cert, key] = await Promise.all([fsp.readFile(certFile, 'utf8'), fsp.readFile(keyFile, 'utf8')]);
    const validTo = Date.parse(new X509Certificate(cert).validTo);
    return validTo - Date.now() > RENEW_BEFORE_MS ? { cert, key } : undefined;
  } catch {
    return undefined;
  }
}

async function writeAtomically(file: string, contents: string, mode: number): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, contents, { mode });
  await fsp.rename(tmp, file);
}
