/** JPEG decoding with `jpeg-js` (pure JS), strict: corrupt or truncated files are errors. */
import jpeg from 'jpeg-js';
import { IgmDataError, messageOf } from '../errors';

export interface RgbImage {
  readonly width: number;
  readonly height: number;
  /** Interleaved RGB, 0-255, row-major [height, width, 3]. */
  readonly data: Uint8Array;
}

function endsWithEoi(bytes: Uint8Array): boolean {
  let end = bytes.length;
  // Some encoders pad after the end-of-image marker.
  while (end > 2 && bytes[end - 1] === 0) end--;
  return end >= 2 && bytes[end - 2] === 0xff && bytes[end - 1] === 0xd9;
}

export function decodeJpeg(bytes: Uint8Array, file: string): RgbImage {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) {
    throw new IgmDataError(
      'not a JPEG file (no start-of-image marker FF D8); expected a JPEG frame.',
      file,
    );
  }
  if (!endsWithEoi(bytes)) {
    throw new IgmDataError(
      'truncated JPEG (no end-of-image marker FF D9); expected a complete JPEG frame.',
      file,
    );
  }
  let decoded: { width: number; height: number; data: Uint8Array };
  try {
    decoded = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: false,
      tolerantDecoding: false,
      maxMemoryUsageInMB: 512,
    });
  } catch (error) {
    throw new IgmDataError(
      `unreadable JPEG (${messageOf(error)}); expected a baseline or progressive JPEG.`,
      file,
      {
        cause: error,
      },
    );
  }
  const { width, height } = decoded;
  if (!(width > 0 && height > 0) || decoded.data.length < width * height * 3) {
    throw new IgmDataError(
      `JPEG decoded to ${width}x${height} with ${decoded.data.length} bytes; expected RGB pixels.`,
      file,
    );
  }
  return { width, height, data: decoded.data.subarray(0, width * height * 3) };
}

/** Encodes RGB pixels as a JPEG (fixtures and tools). */
export function encodeJpeg(image: RgbImage, quality = 90): Uint8Array {
  const rgba = new Uint8Array(image.width * image.height * 4);
  for (let i = 0; i < image.width * image.height; i++) {
    rgba[4 * i] = image.data[3 * i]!;
    rgba[4 * i + 1] = image.data[3 * i + 1]!;
    rgba[4 * i + 2] = image.data[3 * i + 2]!;
    rgba[4 * i + 3] = 255;
  }
  return jpeg.encode({ data: rgba, width: image.width, height: image.height }, quality).data;
}
