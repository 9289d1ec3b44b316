/**
 * Custom tfjs-layers layers with PyTorch semantics, used by the encoders of this package.
 *
 * - {@link BatchNorm}: PyTorch `BatchNorm{1,2}d` numerics (unbiased running variance, eps 1e-5,
 *   momentum 0.1 = tfjs 0.9) plus a frozen-statistics training mode (batch statistics, no
 *   moving-average update) selected per call with `kwargs.batchStatistics = 'frozen'`.
 * - {@link SymmetricMaxPool2D}: max pooling with PyTorch's symmetric, -inf padding
 *   (docs/algorithms/optimizers.md#batchnorm-and-padding); tfjs `'same'` pads asymmetrically.
 * - {@link SymmetricConv2D}: a bias-free convolution with PyTorch's symmetric zero padding.
 * - {@link Dense}: a fully connected layer, act(x K + b), whose bias and activation run as
 *   @igm/core's `biasActivation` (two fused kernels in training where the backend has them).
 *
 * All are registered with `tf.serialization`, so models using them can be saved and loaded.
 */
import {
  type BatchNormActivation,
  batchNormTraining,
  biasActivation,
  checkChoice,
  checkNumber,
  type DenseActivation,
  IgmArgumentError,
} from '@igm/core';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

type LayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;
/** A tfjs-layers weight initializer (`tfl.initializers.zeros()`, `randomUniform(...)`, ...). */
type Initializer = ReturnType<typeof tfl.initializers.zeros>;
// biome-ignore lint/suspicious/noExplicitAny: tfjs-layers' Kwargs type is `{[key: string]: any}`.
type Kwargs = { [key: string]: any };

function single(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  if (Array.isArray(inputs)) {
    if (inputs.length !== 1) {
      throw new IgmArgumentError(`expected exactly one input tensor, received ${inputs.length}`);
    }
    return inputs[0]!;
  }
  return inputs;
}

/** Options of {@link BatchNorm}. */
export interface BatchNormArgs extends LayerArgs {
  /**
   * Weight of the old moving average, tfjs convention: `moving = momentum * moving + (1 -
   * momentum) * batch`. Default 0.9, i.e. PyTorch's `momentum=0.1`.
   */
  momentum?: number;
  /** Added to the variance before the square root. Default 1e-5 (PyTorch; tfjs uses 1e-3). */
  epsilon?: number;
  /** Initial gamma values (default ones) and beta (default zeros), one per channel. */
  gammaInit?: Float32Array;
  betaInit?: Float32Array;
  /**
   * `'relu'`: output relu(BatchNorm(x)) = max(y, 0), the same values and gradients bit for bit as
   * this layer followed by a tfjs-layers `reLU` layer, with the ReLU fused into the training
   * kernels where the backend has them. Default `'none'`.
   */
  activation?: BatchNormActivation;
  /**
   * `true`: the layer takes two inputs [x, residual] of one shape and outputs
   * act(BatchNorm(x) + residual), the same values and gradients bit for bit as this layer, a
   * tfjs-layers `add` layer and the activation (a ResNet block's second BatchNorm, shortcut sum
   * and ReLU), with the sum fused into the training kernels too. Default `false`.
   */
  residual?: boolean;
}

/**
 * Batch normalisation over the last (channel) axis with PyTorch semantics.
 *
 *   training:  mu = mean(x), s2 = var(x) (biased, over all axes but the last)
 *              y = gamma * (x - mu) / sqrt(s2 + eps) + beta
 *              if batchStatistics != 'frozen':
 *                moving_mean     <- m * moving_mean     + (1 - m) * mu
 *                moving_variance <- m * moving_variance + (1 - m) * s2 * n / (n - 1)   (unbiased)
 *   inference: y = gamma * (x - moving_mean) / sqrt(moving_variance + eps) + beta
 *
 * With `activation: 'relu'` the output is relu(y) in both modes (in training fused into
 * @igm/core's BatchNorm kernels when the backend has them: no separate ReLU pass forward or
 * backward). With `residual: true` the layer takes [x, residual] and adds residual to y before
 * the activation: act(y + residual), in training fused into the same kernels.
 *
 * n is the number of values per channel (batch x spatial). Call with
 * `apply(x, { training: true, batchStatistics: 'frozen' })` to normalise with batch statistics
 * without touching the moving averages (SAM's second pass, `bypass_bn`). The kwargs pass through
 * tfjs-layers models unchanged, so the flag reaches every BatchNorm inside an encoder.
 */
export class BatchNorm extends tfl.layers.Layer {
  static className = 'IgmBatchNorm';
  readonly momentum: number;
  readonly epsilon: number;
  readonly activation: BatchNormActivation;
  readonly residual: boolean;
  private readonly gammaInit: Float32Array | undefined;
  private readonly betaInit: Float32Array | undefined;
  private gamma: tfl.LayerVariable | undefined;
  private beta: tfl.LayerVariable | undefined;
  private movingMean: tfl.LayerVariable | undefined;
  private movingVariance: tfl.LayerVariable | undefined;

  constructor(args: BatchNormArgs = {}) {
    const {
      momentum = 0.9,
      epsilon = 1e-5,
      gammaInit,
      betaInit,
      activation,
      residual = false,
      ...rest
    } = args;
    super(rest);
    if (typeof residual !== 'boolean') {
      throw new IgmArgumentError(
        `BatchNorm: residual=${JSON.stringify(residual)}. Expected true or false.`,
      );
    }
    this.residual = residual;
    this.momentum = checkNumber('BatchNorm', 'momentum', momentum, { min: 0, max: 1 });
    this.epsilon = checkNumber('BatchNorm', 'epsilon', epsilon, { min: 0, minExclusive: true });
    this.activation = checkChoice('BatchNorm', 'activation', activation ?? 'none', [
      'none',
      'relu',
    ]);
    this.gammaInit = gammaInit;
    this.betaInit = betaInit;
    this.supportsMasking = true;
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    const channels = shape[shape.length - 1];
    if (channels == null) {
      throw new IgmArgumentError(
        `BatchNorm "${this.name}": the channel (last) dimension must be known; received input shape [${shape.join(', ')}].`,
      );
    }
    const fill = (values: Float32Array | undefined, what: string) => {
      if (values !== undefined && values.length !== channels) {
        throw new IgmArgumentError(
          `BatchNorm "${this.name}": ${what} has ${values.length} values; expected ${channels} (one per channel).`,
        );
      }
      return values;
    };
    const g = fill(this.gammaInit, 'gammaInit');
    const b = fill(this.betaInit, 'betaInit');
    this.gamma = this.addWeight('gamma', [channels], 'float32', tfl.initializers.ones());
    this.beta = this.addWeight('beta', [channels], 'float32', tfl.initializers.zeros());
    this.movingMean = this.addWeight(
      'moving_mean',
      [channels],
      'float32',
      tfl.initializers.zeros(),
      undefined,
      false,
    );
    this.movingVariance = this.addWeight(
      'moving_variance',
      [channels],
      'float32',
      tfl.initializers.ones(),
      undefined,
      false,
    );
    // LayerVariable.write keeps its argument alive: the tidy disposes the written tensors.
    tf.tidy(() => {
      if (g) this.gamma!.write(tf.tensor1d(g));
      if (b) this.beta!.write(tf.tensor1d(b));
    });
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape | tfl.Shape[] {
    return this.residual && Array.isArray(inputShape[0])
      ? (inputShape[0] as tfl.Shape)
      : inputShape;
  }

  /** x, and the residual when the layer has one (two inputs of x's shape). */
  private inputsOf(inputs: tf.Tensor | tf.Tensor[]): { x: tf.Tensor; residual?: tf.Tensor } {
    if (!this.residual) return { x: single(inputs) };
    if (!Array.isArray(inputs) || inputs.length !== 2) {
      throw new IgmArgumentError(
        `BatchNorm "${this.name}": residual: true takes two inputs [x, residual]; received ${Array.isArray(inputs) ? inputs.length : 1}.`,
      );
    }
    const [x, residual] = inputs as [tf.Tensor, tf.Tensor];
    if (!tf.util.arraysEqual(x.shape, residual.shape)) {
      throw new IgmArgumentError(
        `BatchNorm "${this.name}": the residual has shape [${residual.shape.join(', ')}]; expected x's shape [${x.shape.join(', ')}].`,
      );
    }
    return { x, residual };
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const { x, residual } = this.inputsOf(inputs);
      const gamma = this.gamma!.read();
      const beta = this.beta!.read();
      const training = kwargs['training'] === true;
      if (!training) {
        const normalized = tf.batchNorm(
          x,
          this.movingMean!.read(),
          this.movingVariance!.read(),
          beta,
          gamma,
          this.epsilon,
        );
        const y = residual === undefined ? normalized : tf.add(normalized, residual);
        return this.activation === 'relu' ? tf.relu(y) : y;
      }
      const mode = kwargs['batchStatistics'] ?? 'update';
      checkChoice('BatchNorm', 'batchStatistics', mode, ['update', 'frozen']);
      const n = x.shape.slice(0, -1).reduce((a, b) => a * b, 1);
      if (n < 2) {
        throw new IgmArgumentError(
          `BatchNorm "${this.name}": training mode needs more than 1 value per channel; received input shape [${x.shape.join(', ')}]. Use a batch of 2 or more, or training: false.`,
        );
      }
      // tf.moments + tf.batchNorm, or the same bits in two fused kernels where the backend has
      // them (@igm/core's IgmBatchNormTraining: registerCpuBatchNormKernels on cpu,
      // @igm/wasm-training on wasm); the ReLU too with activation 'relu', and the residual sum.
      const { y, mean, variance } = batchNormTraining(
        x,
        gamma as tf.Tensor1D,
        beta as tf.Tensor1D,
        this.epsilon,
        residual === undefined
          ? { activation: this.activation }
          : { activation: this.activation, residual },
      );
      if (mode === 'update') {
        const m = this.momentum;
        tf.tidy(() => {
          // Values only: the assignments are not part of the loss, so no gradient flows here.
          const unbiased = tf.mul(variance, n / (n - 1));
          this.movingMean!.write(tf.add(tf.mul(this.movingMean!.read(), m), tf.mul(mean, 1 - m)));
          this.movingVariance!.write(
            tf.add(tf.mul(this.movingVariance!.read(), m), tf.mul(unbiased, 1 - m)),
          );
        });
      }
      return y;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      momentum: this.momentum,
      epsilon: this.epsilon,
      activation: this.activation,
      residual: this.residual,
    };
  }
}
tf.serialization.registerClass(BatchNorm);

/** Options of {@link SymmetricMaxPool2D}. */
export interface SymmetricMaxPool2DArgs extends LayerArgs {
  poolSize: number;
  strides?: number;
  /** Padding on every side, filled with -inf (PyTorch `MaxPool2d(padding=p)`). */
  padding?: number;
}

/** `MaxPool2d(kernel, stride, padding)` with PyTorch's symmetric -inf padding, channels last. */
export class SymmetricMaxPool2D extends tfl.layers.Layer {
  static className = 'IgmSymmetricMaxPool2D';
  readonly poolSize: number;
  readonly strides: number;
  readonly padding: number;

  constructor(args: SymmetricMaxPool2DArgs) {
    const { poolSize, strides, padding = 0, ...rest } = args;
    super(rest);
    this.poolSize = checkNumber('SymmetricMaxPool2D', 'poolSize', poolSize, {
      min: 1,
      integer: true,
    });
    this.strides = checkNumber('SymmetricMaxPool2D', 'strides', strides ?? poolSize, {
      min: 1,
      integer: true,
    });
    this.padding = checkNumber('SymmetricMaxPool2D', 'padding', padding, {
      min: 0,
      max: Math.floor(this.poolSize / 2),
      integer: true,
    });
  }

  private outLength(n: number | null): number | null {
    if (n == null) return null;
    return Math.floor((n + 2 * this.padding - this.poolSize) / this.strides) + 1;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    return [s[0] ?? null, this.outLength(s[1] ?? null), this.outLength(s[2] ?? null), s[3] ?? null];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = single(inputs) as tf.Tensor4D;
      // A numeric pad pads p on every side, and tfjs's pooling kernels skip padded positions:
      // the max of the window's elements inside x, as with -inf padding, without a padded copy.
      return tf.maxPool(x, this.poolSize, this.strides, this.padding > 0 ? this.padding : 'valid');
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      poolSize: this.poolSize,
      strides: this.strides,
      padding: this.padding,
    };
  }
}
tf.serialization.registerClass(SymmetricMaxPool2D);

/** Options of {@link SymmetricConv2D}. */
export interface SymmetricConv2DArgs extends LayerArgs {
  filters: number;
  kernelSize: number;
  /** Default 1. */
  strides?: number;
  /** Zeros added on each side of height and width (PyTorch `Conv2d(padding=p)`). Default 0. */
  padding?: number;
}

/**
 * `Conv2d(inC, filters, kernelSize, strides, padding, bias=False)` with PyTorch's symmetric zero
 * padding, channels last:
 *
 *   y[b, i, j, o] = sum_{u, v, c} xp[b, s i + u, s j + v, c] kernel[u, v, c, o]
 *
 * where xp is x with `padding` zeros on each side of both spatial axes (tfjs `'same'` pads
 * asymmetrically when the stride does not divide the size). One `tf.conv2d` with explicit
 * padding: no padded copy of x in memory, and its gradient computes the input gradient only when
 * something upstream needs it, so an encoder's first layer does not (tfjs-layers' Conv2D runs a
 * fused op that always differentiates its input too). The kernel is the weight `kernel`
 * [kernelSize, kernelSize, inC, filters], as Conv2D's; initialised to zeros (the encoders
 * initialise it, see initializeEncoder).
 */
export class SymmetricConv2D extends tfl.layers.Layer {
  static className = 'IgmSymmetricConv2D';
  readonly filters: number;
  readonly kernelSize: number;
  readonly strides: number;
  readonly padding: number;
  private kernel: tfl.LayerVariable | null = null;

  constructor(args: SymmetricConv2DArgs) {
    const { filters, kernelSize, strides = 1, padding = 0, ...rest } = args;
    super(rest);
    const where = 'SymmetricConv2D';
    this.filters = checkNumber(where, 'filters', filters, { min: 1, integer: true });
    this.kernelSize = checkNumber(where, 'kernelSize', kernelSize, { min: 1, integer: true });
    this.strides = checkNumber(where, 'strides', strides, { min: 1, integer: true });
    this.padding = checkNumber(where, 'padding', padding, { min: 0, integer: true });
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    const channels = s[s.length - 1];
    if (s.length !== 4 || channels == null) {
      throw new IgmArgumentError(
        `SymmetricConv2D "${this.name}": expected an input of shape [batch, height, width, channels] with known channels; received [${s.join(', ')}].`,
      );
    }
    const k = this.kernelSize;
    this.kernel = this.addWeight(
      'kernel',
      [k, k, channels, this.filters],
      'float32',
      tfl.initializers.zeros(),
    );
    this.built = true;
  }

  private outLength(n: number | null | undefined): number | null {
    if (n == null) return null;
    return Math.floor((n + 2 * this.padding - this.kernelSize) / this.strides) + 1;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    return [s[0] ?? null, this.outLength(s[1]), this.outLength(s[2]), this.filters];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = single(inputs) as tf.Tensor4D;
      const p = this.padding;
      const pad: 'valid' | [[0, 0], [number, number], [number, number], [0, 0]] =
        p > 0
          ? [
              [0, 0],
              [p, p],
              [p, p],
              [0, 0],
            ]
          : 'valid';
      return tf.conv2d(x, this.kernel!.read() as tf.Tensor4D, this.strides, pad);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      filters: this.filters,
      kernelSize: this.kernelSize,
      strides: this.strides,
      padding: this.padding,
    };
  }
}
tf.serialization.registerClass(SymmetricConv2D);

/** Arguments of {@link Dense}. */
export interface DenseArgs extends LayerArgs {
  /** Output width N. */
  units: number;
  /** `'relu'` or `'linear'` (default). */
  activation?: DenseActivation;
  /** Initial kernel [inputs, N] (default Glorot uniform, as tfjs-layers' Dense). */
  kernelInitializer?: Initializer;
  /** Initial bias [N] (default zeros). */
  biasInitializer?: Initializer;
}

/**
 * A fully connected layer y = act(x K + b) for x [batch, inputs] (PyTorch `nn.Linear` and an
 * optional ReLU), with the weights of tfjs-layers' Dense (`<name>/kernel` [inputs, N], then
 * `<name>/bias` [N], in that order) and its values: the product is `tf.matMul`, the bias and
 * activation @igm/core's `biasActivation`, bit for bit `tf.relu(tf.add(...))`. In training,
 * tfjs-layers' Dense runs the product, Add and Relu as separate kernels (tfjs-core fuses them only
 * outside a gradient tape) and their gradients as six more; here the bias and activation are one
 * kernel each way where the backend has @igm/core's fused kernels (cpu after
 * `registerCpuBiasActivationKernels()`, wasm with @igm/wasm-training), else that composition.
 */
export class Dense extends tfl.layers.Layer {
  static className = 'IgmDense';
  readonly units: number;
  readonly activation: DenseActivation;
  private readonly kernelInitializer: Initializer;
  private readonly biasInitializer: Initializer;
  private kernel: tfl.LayerVariable | null = null;
  private bias: tfl.LayerVariable | null = null;

  constructor(args: DenseArgs) {
    const { units, activation = 'linear', kernelInitializer, biasInitializer, ...rest } = args;
    super(rest);
    const where = 'Dense';
    this.units = checkNumber(where, 'units', units, { min: 1, integer: true });
    this.activation = checkChoice(where, 'activation', activation, ['linear', 'relu'] as const);
    this.kernelInitializer = kernelInitializer ?? tfl.initializers.glorotUniform({});
    this.biasInitializer = biasInitializer ?? tfl.initializers.zeros();
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    const inputs = s[s.length - 1];
    if (s.length !== 2 || inputs == null) {
      throw new IgmArgumentError(
        `Dense "${this.name}": expected an input of shape [batch, features] with known features; received [${s.join(', ')}]. Flatten it first.`,
      );
    }
    this.kernel = this.addWeight('kernel', [inputs, this.units], 'float32', this.kernelInitializer);
    this.bias = this.addWeight('bias', [this.units], 'float32', this.biasInitializer);
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    return [s[0] ?? null, this.units];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = single(inputs) as tf.Tensor2D;
      const z = tf.matMul(x, this.kernel!.read() as tf.Tensor2D);
      return biasActivation(z, this.bias!.read(), this.activation);
    });
  }

  /** Units and activation (the initializers are not serialized: saved weights replace them). */
  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      units: this.units,
      activation: this.activation,
    };
  }
}
tf.serialization.registerClass(Dense);
