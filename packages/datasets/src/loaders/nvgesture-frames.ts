/**
 * NVGesture from frames (the raw-media path of IGM's `nvGesture.py`, with frames pre-extracted
 * from the AVI files offline, e.g. with ffmpeg, since there is no practical pure-JS AVI decoder):
 *
 *   <framesDir>/<list path without "./">/<sensor>/*.jpg   the clip's frames [start, end) of
 *       sk_color and sk_depth, sorted by name (at least `clipLength`, default 80; the first are used)
 *   <flowDir>/{train|test}/<line index>.npy               optical flow (H, W, 2, T) float32 (IGM)
 *
 * Per sample: every frame resized to `resize` (256) squared; one crop offset (x, y) shared by RGB,
 * depth and flow: random in [0, resize - crop] for training, centred (16) otherwise; crop 224.
 * Time: a window of `frames` (default 64) frames, random start in training, centred otherwise.
 * IGM evaluates on all 80 frames (batch size 1): pass frames: 80 for that (a dataset has one
 * sample shape). Flow has no temporal crop (as IGM).
 * RGB keeps IGM's BGR channel order (OpenCV) normalised with the ImageNet RGB mean/std unless
 * `channelOrder: 'rgb'`; depth is channel 0 / 255.
 * Shapes: rgb [T, crop, crop, 3], depth [T, crop, crop, 1], flow [T_flow, crop, crop, 2].
 */
import { join } from 'node:path';
import type { Rng } from '@igm/core';
import { IgmDataError } from '../errors';
import { IMAGENET_MEAN, IMAGENET_STD, resizeBilinear } from '../image/transforms';
import { NpyRows } from '../io/npy';
import { exists, listFrames, readJpeg } from './common';

export interface NvFramesOptions {
  readonly framesDir: string;
  readonly flowDir: string;
  readonly clipLength: number;
  readonly frames: number;
  readonly resize: number;
  readonly crop: number;
  readonly channelOrder: 'bgr' | 'rgb';
  readonly streams: readonly ('rgb' | 'depth' | 'flow')[];
}

export interface NvFrameSample {
  readonly path: string;
  readonly part: 'train' | 'test';
  /** Line index in its list file (names the flow file). */
  readonly line: number;
}

function sensorFrames(o: NvFramesOptions, sample: NvFrameSample, sensor: string): string[] {
  const dir = join(o.framesDir, sample.path.replace(/^\.\//, ''), sensor);
  const frames = listFrames(dir, 'sorted');
  if (frames.length < o.clipLength) {
    throw new IgmDataError(
      `${frames.length} JPEG frame(s); expected at least ${o.clipLength} (the clip's frame range).`,
      dir,
    );
  }
  return frames.slice(0, o.clipLength);
}

/**
 * What a sample lacks on disk (its sensor frame folders with at least `clipLength` JPEGs, its
 * flow file), for the load-time check; undefined when complete.
 */
export function missingNvMedia(o: NvFramesOptions, sample: NvFrameSample): string | undefined {
  const missing: string[] = [];
  for (const stream of o.streams) {
    if (stream === 'flow') {
      const file = flowFile(o, sample);
      if (!exists(file, 'file')) missing.push(`its flow file ${file}`);
      continue;
    }
    const dir = join(
      o.framesDir,
      sample.path.replace(/^\.\//, ''),
      stream === 'rgb' ? 'sk_color' : 'sk_depth',
    );
    if (!exists(dir, 'dir')) missing.push(`its ${stream} frames folder ${dir}`);
    else {
      const n = listFrames(dir, 'sorted').length;
      if (n < o.clipLength) {
        missing.push(
          `${stream} frames: ${dir} has ${n} JPEG frame(s), expected at least ${o.clipLength}`,
        );
      }
    }
  }
  return missing.length > 0 ? missing.join(' and ') : undefined;
}

export function flowFile(o: NvFramesOptions, sample: NvFrameSample): string {
  return join(o.flowDir, sample.part, `${sample.line}.npy`);
}

/** Flow time steps, from the first sample's header; shapes are checked per sample when read. */
export function flowLength(o: NvFramesOptions, sample: NvFrameSample): number {
  const npy = new NpyRows(flowFile(o, sample));
  const s = npy.header.shape;
  if (s.length !== 4 || s[2] !== 2 || s[0]! < o.crop || s[1]! < o.crop) {
    throw new IgmDataError(
      `flow has shape (${s.join(', ')}); expected (H, W, 2, T) with H, W >= ${o.crop}.`,
      npy.path,
    );
  }
  return s[3]!;
}

export async function readNvFrameSample(
  o: NvFramesOptions,
  sample: NvFrameSample,
  train: boolean,
  rng: Rng,
  flowT: number,
): Promise<Record<string, Float32Array>> {
  const { crop, resize, frames: T } = o;
  const off = resize - crop;
  const x0 = train ? rng.int(off + 1) : Math.floor(off / 2);
  const y0 = train ? rng.int(off + 1) : Math.floor(off / 2);
  const spare = o.clipLength - T;
  const t0 = train ? rng.int(spare + 1) : Math.floor(spare / 2);
  const out: Record<string, Float32Array> = {};
  const box = (img: { width: number; height: number }) => ({
    top: 0,
    left: 0,
    height: img.height,
    width: img.width,
  });
  for (const stream of o.streams) {
    if (stream === 'flow') continue;
    const sensor = stream === 'rgb' ? 'sk_color' : 'sk_depth';
    const files = sensorFrames(o, sample, sensor).slice(t0, t0 + T);
    const channels = stream === 'rgb' ? 3 : 1;
    const data = new Float32Array(T * crop * crop * channels);
    for (let t = 0; t < T; t++) {
      const image = await readJpeg(files[t]!);
      const full = resizeBilinear(image, resize, resize, box(image));
      for (let y = 0; y < crop; y++) {
        for (let x = 0; x < crop; x++) {
          const src = ((y + y0) * resize + (x + x0)) * 3;
          const dst = ((t * crop + y) * crop + x) * channels;
          if (stream === 'depth') {
            data[dst] = full[src]! / 255;
          } else {
            for (let c = 0; c < 3; c++) {
              const from = o.channelOrder === 'bgr' ? 2 - c : c;
              data[dst + c] = (full[src + from]! / 255 - IMAGENET_MEAN[c]!) / IMAGENET_STD[c]!;
            }
          }
        }
      }
    }
    out[stream] = data;
  }
  if (o.streams.includes('flow')) {
    const npy = new NpyRows(flowFile(o, sample));
    const [H, W, two, Tf] = npy.header.shape as [number, number, number, number];
    if (
      npy.header.shape.length !== 4 ||
      two !== 2 ||
      Tf !== flowT ||
      H < crop + y0 ||
      W < crop + x0
    ) {
      throw new IgmDataError(
        `flow has shape (${npy.header.shape.join(', ')}); expected (H, W, 2, ${flowT}) with H, W >= ${crop + Math.max(x0, y0)}.`,
        npy.path,
      );
    }
    // Rows of the (H, W, 2, T) array: one row per y (W * 2 * T values).
    const rows = npy.read(Array.from({ length: H }, (_, y) => y));
    const data = new Float32Array(Tf * crop * crop * 2);
    for (let y = 0; y < crop; y++) {
      for (let x = 0; x < crop; x++) {
        for (let c = 0; c < 2; c++) {
          for (let t = 0; t < Tf; t++) {
            data[((t * crop + y) * crop + x) * 2 + c] =
              rows[(((y + y0) * W + (x + x0)) * 2 + c) * Tf + t]!;
          }
        }
      }
    }
    out['flow'] = data;
  }
  return out;
}
