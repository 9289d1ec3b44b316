/**
 * The three ways this package's SIMD-backed kernels run, for tests that must cover each: the
 * relaxed-SIMD build, the plain SIMD build, and the JavaScript fallback (no SIMD module).
 */
import { setNativeKernelsEnabled, setRelaxedSimdEnabled } from '../src/index';

export const NATIVE_MODES = [
  { name: 'SIMD, relaxed build', native: true, relaxed: true },
  { name: 'SIMD, plain build', native: true, relaxed: false },
  { name: 'JS fallback', native: false, relaxed: true },
] as const;

export type NativeMode = (typeof NATIVE_MODES)[number];

export function setNativeMode(mode: NativeMode): void {
  setNativeKernelsEnabled(mode.native);
  setRelaxedSimdEnabled(mode.relaxed);
}

/** Back to the defaults: SIMD kernels on, relaxed build where supported. */
export function restoreNativeDefaults(): void {
  setNativeMode(NATIVE_MODES[0]);
}
