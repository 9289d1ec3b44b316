/**
 * WAV decoding with `wavefile` (pure JS, RIFF/RIFX/RF64 parsing), plus the checks the loaders
 * need: PCM 16-bit only, the expected channel count and sample rate, and truncated files
 * (a data chunk shorter than its header says) rejected rather than silently shortened.
 */
import * as wavefileModule from 'wavefile';
import { IgmDataError, messageOf } from '../errors';

// Node loads wavefile's CommonJS build (`main`), whose exports arrive as the default export;
// browser bundlers load its ES module (`module`), which exports WaveFile by name.
const wavefile = (
  'WaveFile' in wavefileModule ? wavefileModule : (wavefileModule as { default: unknown }).default
) as typeof wavefileModule;

export interface DecodedWav {
  /** Mono samples scaled to [-1, 1) (int16 / 32768). */
  readonly samples: Float32Array;
  readonly sampleRate: number;
  readonly channels: number;
}

export interface WavExpectations {
  /** Required sample rate in Hz (a different rate is an error naming both). */
  readonly sampleRate?: number;
  /** Required channel count; without it, several channels are averaged to mono (as librosa does). */
  readonly channels?: number;
}

interface Fmt {
  audioFormat: number;
  numChannels: number;
  sampleRate: number;
  bitsPerSample: number;
}

export function decodeWav(
  bytes: Uint8Array,
  file: string,
  expect: WavExpectations = {},
): DecodedWav {
  let wav: InstanceType<typeof wavefile.WaveFile>;
  try {
    wav = new wavefile.WaveFile(bytes);
  } catch (error) {
    throw new IgmDataError(
      `unreadable WAV (${messageOf(error)}); expected a RIFF/WAVE file with PCM 16-bit audio.`,
      file,
      { cause: error },
    );
  }
  const fmt = wav.fmt as Fmt;
  const isPcm = fmt.audioFormat === 1 || (fmt.audioFormat === 65534 && wav.bitDepth === '16');
  if (!isPcm || fmt.bitsPerSample !== 16) {
    throw new IgmDataError(
      `WAV is format ${fmt.audioFormat} with ${fmt.bitsPerSample}-bit samples; expected PCM 16-bit (format 1). Convert it, e.g. ffmpeg -i in.wav -acodec pcm_s16le out.wav.`,
      file,
    );
  }
  const data = (wav as unknown as { data: { chunkSize: number; samples: Uint8Array } }).data;
  if (data.samples.length < data.chunkSize) {
    throw new IgmDataError(
      `truncated WAV: the data chunk declares ${data.chunkSize} bytes but the file holds ${data.samples.length}.`,
      file,
    );
  }
  if (expect.sampleRate !== undefined && fmt.sampleRate !== expect.sampleRate) {
    throw new IgmDataError(
      `WAV sample rate is ${fmt.sampleRate} Hz; expected ${expect.sampleRate} Hz.`,
      file,
    );
  }
  if (expect.channels !== undefined && fmt.numChannels !== expect.channels) {
    throw new IgmDataError(
      `WAV has ${fmt.numChannels} channel(s); expected ${expect.channels}${expect.channels === 1 ? ' (mono)' : ''}.`,
      file,
    );
  }
  const channels = fmt.numChannels;
  const raw = wav.getSamples(true, Int16Array) as unknown as Int16Array;
  const frames = Math.floor(raw.length / channels);
  const samples = new Float32Array(frames);
  for (let i = 0; i < frames; i++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += raw[i * channels + c]!;
    samples[i] = sum / channels / 32768;
  }
  return { samples, sampleRate: fmt.sampleRate, channels };
}

/** Encodes mono or multi-channel float samples in [-1, 1] as a PCM16 WAV (used by fixtures). */
export function encodeWav(
  channels: readonly Float32Array[] | Float32Array,
  sampleRate: number,
): Uint8Array {
  const list = channels instanceof Float32Array ? [channels] : channels;
  const ints = list.map((ch) =>
    Int16Array.from(ch, (v) => Math.max(-32768, Math.min(32767, Math.round(v * 32768)))),
  );
  const wav = new wavefile.WaveFile();
  wav.fromScratch(ints.length, sampleRate, '16', ints.length === 1 ? ints[0]! : ints);
  return wav.toBuffer();
}
