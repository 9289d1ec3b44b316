/**
 * Image transforms for frames, on RGB uint8 input, producing float32 [H, W, 3] in channel-last
 * order (TF.js NHWC).
 *
 * `resizeBilinear` is PIL's antialiased bilinear ("triangle" filter whose support grows with the
 * downscaling factor), which torchvision's Resize uses on PIL images, computed in float without
 * PIL's intermediate uint8 rounding (differences of at most about 1/255 per pixel).
 * `randomResizedCropBox` follows torchvision's RandomResizedCrop.get_params (10 attempts, then a
 * centre crop with the ratio clamped).
 */
import type { Rng } from '@igm/core';
import type { RgbImage } from '../io/jpeg';

export interface Box {
  readonly top: number;
  readonly left: number;
  readonly height: number;
  readonly width: number;
}

function weights(inSize: number, outSize: number, offset: number, span: number) {
  // Output pixel i covers input [offset + i * scale, offset + (i + 1) * scale).
  const scale = span / outSize;
  const support = Math.max(1, scale);
  const list: Array<{ start: number; w: Float64Array }> = [];
  for (let i = 0; i < outSize; i++) {
    const center = offset + (i + 0.5) * scale;
    const lo = Math.max(0, Math.floor(center - support));
    const hi = Math.min(inSize, Math.ceil(center + support));
    const w = new Float64Array(Math.max(0, hi - lo));
    let sum = 0;
    for (let j = lo; j < hi; j++) {
      const x = (j + 0.5 - center) / support;
      const v = Math.max(0, 1 - Math.abs(x));
      w[j - lo] = v;
      sum += v;
    }
    if (sum > 0) for (let k = 0; k < w.length; k++) w[k]! /= sum;
    list.push({ start: lo, w });
  }
  return list;
}

/** Crops `box` (default: whole image) and resizes to outH x outW; float32 0-255, [outH, outW, 3]. */
export function resizeBilinear(
  image: RgbImage,
  outH: number,
  outW: number,
  box?: Box,
): Float32Array {
  const b = box ?? { top: 0, left: 0, height: image.height, width: image.width };
  const wx = weights(image.width, outW, b.left, b.width);
  const wy = weights(image.height, outH, b.top, b.height);
  // Horizontal pass over the rows the vertical pass needs.
  const rowLo = wy.reduce((m, e) => Math.min(m, e.start), image.height);
  const rowHi = wy.reduce((m, e) => Math.max(m, e.start + e.w.length), 0);
  const tmp = new Float32Array((rowHi - rowLo) * outW * 3);
  for (let y = rowLo; y < rowHi; y++) {
    const src = y * image.width * 3;
    const dst = (y - rowLo) * outW * 3;
    for (let x = 0; x < outW; x++) {
      const { start, w } = wx[x]!;
      let r = 0;
      let g = 0;
      let bl = 0;
      for (let k = 0; k < w.length; k++) {
        const p = src + (start + k) * 3;
        const wk = w[k]!;
        r += wk * image.data[p]!;
        g += wk * image.data[p + 1]!;
        bl += wk * image.data[p + 2]!;
      }
      tmp[dst + x * 3] = r;
      tmp[dst + x * 3 + 1] = g;
      tmp[dst + x * 3 + 2] = bl;
    }
  }
  const out = new Float32Array(outH * outW * 3);
  for (let y = 0; y < outH; y++) {
    const { start, w } = wy[y]!;
    for (let x = 0; x < outW * 3; x++) {
      let acc = 0;
      for (let k = 0; k < w.length; k++) acc += w[k]! * tmp[(start + k - rowLo) * outW * 3 + x]!;
      out[y * outW * 3 + x] = acc;
    }
  }
  return out;
}

/** torchvision RandomResizedCrop.get_params. */
export function randomResizedCropBox(
  rng: Rng,
  height: number,
  width: number,
  scale: readonly [number, number] = [0.08, 1],
  ratio: readonly [number, number] = [3 / 4, 4 / 3],
): Box {
  const area = height * width;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * (scale[0] + (scale[1] - scale[0]) * rng.uniform());
    const aspect = Math.exp(logLo + (logHi - logLo) * rng.uniform());
    const w = Math.round(Math.sqrt(target * aspect));
    const h = Math.round(Math.sqrt(target / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      return { top: rng.int(height - h + 1), left: rng.int(width - w + 1), height: h, width: w };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < ratio[0]) h = Math.round(w / ratio[0]);
  else if (inRatio > ratio[1]) w = Math.round(h * ratio[1]);
  return {
    top: Math.floor((height - h) / 2),
    left: Math.floor((width - w) / 2),
    height: h,
    width: w,
  };
}

/** Mirrors [H, W, 3] left-right in place. */
export function flipHorizontal(data: Float32Array, height: number, width: number): void {
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width >> 1; x++) {
      const a = (y * width + x) * 3;
      const b = (y * width + (width - 1 - x)) * 3;
      for (let c = 0; c < 3; c++) {
        const t = data[a + c]!;
        data[a + c] = data[b + c]!;
        data[b + c] = t;
      }
    }
  }
}

export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

/** (x / 255 - mean[c]) / std[c] in place on [.., 3]. */
export function normalizeRgb(
  data: Float32Array,
  mean: readonly number[],
  std: readonly number[],
): void {
  for (let i = 0; i < data.length; i += 3) {
    for (let c = 0; c < 3; c++) data[i + c] = (data[i + c]! / 255 - mean[c]!) / std[c]!;
  }
}

export interface FrameTransformOptions {
  readonly size: number;
  readonly train: boolean;
  readonly rng: Rng;
  /** RandomResizedCrop scale range (train). Default [0.08, 1]. */
  readonly scale?: readonly [number, number];
  readonly flip?: boolean;
  readonly mean?: readonly number[];
  readonly std?: readonly number[];
}

/**
 * The references' frame transform: train RandomResizedCrop(size) + horizontal flip (p 0.5);
 * test Resize((size, size)); then /255 and mean/std normalisation. [size, size, 3].
 */
export function transformFrame(image: RgbImage, options: FrameTransformOptions): Float32Array {
  const { size, train, rng } = options;
  let out: Float32Array;
  if (train) {
    const box = randomResizedCropBox(rng, image.height, image.width, options.scale);
    out = resizeBilinear(image, size, size, box);
    if ((options.flip ?? true) && rng.uniform() < 0.5) flipHorizontal(out, size, size);
  } else {
    out = resizeBilinear(image, size, size);
  }
  normalizeRgb(out, options.mean ?? IMAGENET_MEAN, options.std ?? IMAGENET_STD);
  return out;
}
