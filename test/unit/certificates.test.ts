// TLS material: a self-signed localhost certificate is generated once into DATA_DIR and
// reused; a configured pair is used as given.

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { loadTlsMaterial } from '../../server/tls/certificates.ts';

const silent = pino({ level: 'silent' });

describe('loadTlsMaterial', () => {
  it('generates a localhost certificate once, keeps the key private, then reuses it', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'tls-'));
    const first = await loadTlsMaterial({ certPath: undefined, keyPath: undefined, dataDir }, silent);
    assert.equal(first.source, 'generated');
    assert.ok(new X509Certificate(first.cert).checkHost('localhost'));
    const keyMode = (await stat(path.join(dataDir, 'tls/localhost-key.pem'))).mode & 0o777;
    assert.equal(keyMode, 0o600);
    const second = await loadTlsMaterial({ certPath: undefined, keyPath: undefined, dataDir }, silent);
    assert.equal(second.source, 'reused');
    assert.equal(second.cert, first.cert);
  });

  it('replaces an unreadable stored certificate', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'tls-'));
    await loadTlsMaterial({ certPath: undefined, keyPath: undefined, dataDir }, silent);
    await writeFile(path.join(dataDir, 'tls/localhost-cert.pem'), 'garbage');
    const again = await loadTlsMaterial({ certPath: undefined, keyPath: undefined, dataDir }, silent);
    assert.equal(again.source, 'generated');
  });

  it('uses a configured pair as given', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'tls-'));
    const made = await loadTlsMaterial({ certPath: undefined, keyPath: undefined, dataDir }, silent);
    const certPath = path.join(dataDir, 'mine-cert.pem');
    const keyPath = path.join(dataDir, 'mine-key.pem');
    await writeFile(certPath, made.cert);
    await writeFile(keyPath, made.key);
    const configured = await loadTlsMaterial({ certPath, keyPath, dataDir }, silent);
    assert.equal(configured.source, 'configured');
    assert.equal(configured.cert, made.cert);
  });
});
