/**
 * Depthwise conv2d gradients for the wasm backend (the stock backend has neither). Depthwise
 * layers do kH*kW multiply-adds per output element, so a direct loop over the heap is the right
 * tool; it is written with the channel loop innermost (contiguous in NHWC).
 *
 *   dW[kh, kw, c, q] = sum_{b, oh, ow} x[b, ih, iw, c] dy[b, oh, ow, c*M + q]
 *   dx[b, ih, iw, c] = sum_{kh, kw, q} dy[b, oh, ow, c*M + q] W[kh, kw, c, q]
 *   with ih = oh*sh + kh*dh - padTop, iw = ow*sw + kw*dw - padLeft, M the channel multiplier.
 */
import {
  backend_util,
  DepthwiseConv2dNativeBackpropFilter,
  DepthwiseConv2dNativeBackpropInput,
  type NamedAttrMap,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { f32, type KernelImpl, type WasmBackendLike, zeros } from './wasm-backend';

function depthwiseInfo(
  xShape: number[],
  filterShape: number[],
  attrs: NamedAttrMap,
): backend_util.Conv2DInfo {
  return backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs['strides'] as number | [number, number],
    (attrs['dilations'] as number | [number, number] | undefined) ?? 1,
    attrs['pad'] as backend_util.ExplicitPadding | 'valid' | 'same' | number,
    attrs['dimRoundingMode'] as 'floor' | 'round' | 'ceil' | undefined,
    true,
  );
}

/** Calls `body(xBase, dyBase, wBase)` for every valid (b, oh, ow, kh, kw) tap. */
function forEachTap(
  info: backend_util.Conv2DInfo,
  body: (xBase: number, dyBase: number, wBase: number) => void,
): void {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  const { filterHeight, filterWidth, strideHeight, strideWidth, dilationHeight, dilationWidth } =
    info;
  const { top, left } = info.padInfo;
  for (let b = 0; b < batchSize; b++) {
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++) {
        const dyBase = ((b * outHeight + oh) * outWidth + ow) * outChannels;
        for (let kh = 0; kh < filterHeight; kh++) {
          const ih = oh * strideHeight + kh * dilationHeight - top;
          if (ih < 0 || ih >= inHeight) continue;
          for (let kw = 0; kw < filterWidth; kw++) {
            const iw = ow * strideWidth + kw * dilationWidth - left;
            if (iw < 0 || iw >= inWidth) continue;
            body(
              ((b * inHeight + ih) * inWidth + iw) * inChannels,
              dyBase,
              (kh * filterWidth + kw) * outChannels,
            );
          }
        }
      }
    }
  }
}

export const depthwiseBackpropFilter: KernelImpl = ({ inputs, backend: be, attrs = {} }) => {
  const backend = be as WasmBackendLike;
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const filterShape = attrs['filterShape'] as number[];
  const info = depthwiseInfo(x.shape, filterShape, attrs);
  const m = info.outChannels / info.inChannels;
  const cIn = info.inChannels;
  const acc = new Float64Array(info.filterHeight * info.filterWidth * info.outChannels);
  const xv = f32(backend, x);
  const dyv = f32(backend, dy);
  forEachTap(info, (xBase, dyBase, wBase) => {
    for (let c = 0; c < cIn; c++) {
      const xval = xv[xBase + c]!;
      const o = c * m;
      for (let q = 0; q < m; q++) acc[wBase + o + q]! += xval * dyv[dyBase + o + q]!;
    }
  });
  const dw = backend.makeOutput(filterShape, 'float32');
  f32(backend, dw).set(acc);
  return dw;
};

export const depthwiseBackpropInput: KernelImpl = ({ inputs, backend: be, attrs = {} }) => {
  const backend = be as WasmBackendLike;
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const inputShape = attrs['inputShape'] as number[];
  const info = depthwiseInfo(inputShape, filter.shape, attrs);
  const m = info.outChannels / info.inChannels;
  const cIn = info.inChannels;
  const dx = zeros(backend, inputShape);
  const dxv = f32(backend, dx);
  const dyv = f32(backend, dy);
  const wv = f32(backend, filter);
  forEachTap(info, (xBase, dyBase, wBase) => {
    for (let c = 0; c < cIn; c++) {
      const o = c * m;
      let s = 0;
      for (let q = 0; q < m; q++) s += dyv[dyBase + o + q]! * wv[wBase + o + q]!;
      dxv[xBase + c]! += s;
    }
  });
  return dx;
};

export { DepthwiseConv2dNativeBackpropFilter, DepthwiseConv2dNativeBackpropInput };
