import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sha256 } from '../src/hash';
import { sha256 as nodeSha256 } from '../src/node-hash';

describe('SHA-256 without node:crypto (the browser build)', () => {
  it('matches the FIPS 180-4 test vectors', () => {
    expect(sha256('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
    expect(sha256('a'.repeat(1_000_000))).toBe(
      'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0',
    );
  });

  it('equals node:crypto on every length around the block and padding boundaries', () => {
    for (let n = 0; n <= 200; n++) {
      const bytes = randomBytes(n);
      expect(sha256(bytes)).toBe(createHash('sha256').update(bytes).digest('hex'));
    }
    const text = 'é — 数据 🎧';
    expect(sha256(text)).toBe(nodeSha256(text));
    const big = randomBytes(3 * 65536 + 17);
    expect(sha256(big)).toBe(nodeSha256(big));
  });
});

describe('the browser and Node entries', () => {
  it('the Node entry has every name of the browser entry plus the file-system ones', async () => {
    const browser = Object.keys(await import('../src/index'));
    const node = Object.keys(await import('../src/node'));
    expect(node).toEqual(expect.arrayContaining(browser));
    expect(node.filter((n) => !browser.includes(n)).sort()).toEqual(
      [
        'CREMA_D_ALPHABETICAL_LABELS',
        'CREMA_D_AUDIO',
        'CREMA_D_OGM_LABELS',
        'NVGESTURE_CLASSES',
        'NpyRows',
        'SARCASM_CLASSES',
        'SARCASM_FILTER_WORDS',
        'TWITTER_2015_CLASSES',
        'avMnist',
        'avMnistImbalanced',
        'cremaD',
        'cremaDSpectrogram',
        'downloadFsdd',
        'encodeJpeg',
        'kineticsPickleSpectrogram',
        'kineticsSounds',
        'kineticsStft',
        'listFsdd',
        'loadDataset',
        'loadNpyArray',
        'nvGesture',
        'openCache',
        'readNvGestureList',
        'resolveCacheDir',
        'sarcasm',
        'twitter2015',
        'verifyEntry',
      ].sort(),
    );
  });
});
