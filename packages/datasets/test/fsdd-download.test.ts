import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { useBackend } from '@igm/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '../src/hash';
import { avMnist, downloadFsdd, fileSetDigest } from '../src/node';
import { removeDir, tempDir, writeFsddFixture } from './helpers/fixtures';

describe('FSDD download (pinned URL, SHA-256 set check, atomic) against a local server', () => {
  let root: string;
  let served: string;
  let names: string[];
  let digest: string;
  let server: Server;
  let baseUrl: string;
  const requests: string[] = [];

  beforeAll(async () => {
    await useBackend('cpu');
    root = tempDir('fsdd-download');
    served = join(root, 'served');
    names = writeFsddFixture(served, { digits: 10, speakers: ['alice'], indices: 6 });
    digest = fileSetDigest(
      names.map((name) => ({ name, sha256: sha256(readFileSync(join(served, name))) })),
    );
    server = createServer((req, res) => {
      requests.push(req.url ?? '');
      const name = decodeURIComponent((req.url ?? '').split('/').pop() ?? '');
      if (!names.includes(name)) {
        res.writeHead(404).end('not found');
        return;
      }
      res.writeHead(200, { 'content-type': 'audio/wav' }).end(readFileSync(join(served, name)));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fsdd/recordings/`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    removeDir(root);
  });

  it('downloads every file, checks the set digest and reuses a verified copy', async () => {
    const cacheDir = join(root, 'cache');
    const dir = await downloadFsdd({
      cacheDir,
      baseUrl,
      files: names,
      expectedSha256: digest,
      progress: false,
    });
    expect(readdirSync(dir).sort()).toEqual(names);
    expect(readFileSync(join(dir, names[3]!)).equals(readFileSync(join(served, names[3]!)))).toBe(
      true,
    );
    const count = requests.length;
    expect(count).toBe(names.length);
    const again = await downloadFsdd({
      cacheDir,
      baseUrl,
      files: names,
      expectedSha256: digest,
      progress: false,
    });
    expect(again).toBe(dir);
    expect(requests.length).toBe(count);
  });

  it('rejects a digest mismatch and keeps nothing', async () => {
    const cacheDir = join(root, 'cache-bad');
    await expect(
      downloadFsdd({
        cacheDir,
        baseUrl,
        files: names,
        expectedSha256: '0'.repeat(64),
        progress: false,
      }),
    ).rejects.toThrow(/fail the SHA-256 check.*nothing was kept/);
    const commitDir = readdirSync(join(cacheDir, 'fsdd'))[0]!;
    expect(readdirSync(join(cacheDir, 'fsdd', commitDir))).toEqual([]);
  });

  it('names the URL of a missing file', async () => {
    await expect(
      downloadFsdd({
        cacheDir: join(root, 'cache-404'),
        baseUrl,
        files: [...names, '9_nobody_0.wav'],
        expectedSha256: digest,
        progress: false,
      }),
    ).rejects.toThrow(/9_nobody_0\.wav: download failed \(HTTP 404\)/);
  });

  it('feeds AV-MNIST when no local folder is given', async () => {
    const saved = process.env['FSDD_DIR'];
    delete process.env['FSDD_DIR'];
    try {
      const cacheDir = join(root, 'cache-avmnist');
      await expect(avMnist({ cacheDir, progress: false })).rejects.toThrow(
        /pass fsddDir, set FSDD_DIR.*download: true/,
      );
      const ds = await avMnist({
        cacheDir,
        download: true,
        baseUrl,
        files: names,
        expectedSha256: digest,
        progress: false,
        validationFraction: 0,
        image: { pcaEnergyRemoved: 0 },
      });
      expect(ds.splitSizes).toEqual({ train: 10, test: 50 });
    } finally {
      if (saved !== undefined) process.env['FSDD_DIR'] = saved;
    }
  });
});
