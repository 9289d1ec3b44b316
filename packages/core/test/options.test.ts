import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  addOptionProblem,
  booleanOption,
  choiceOption,
  describeOptions,
  describeRange,
  IgmArgumentError,
  listOption,
  numberOption,
  objectOption,
  parseOptions,
  parseOptionValue,
} from '../src';

const windowSchema = objectOption(
  {
    start: numberOption({ min: 0, integer: true }).optional(),
    end: numberOption({ min: 0, integer: true }).nullable().optional(),
  },
  '{ start, end }',
).refine((w) => w.end == null || w.end >= (w.start ?? 0), { error: '0 <= start <= end' });

const schema = z
  .strictObject({
    epochs: numberOption({ min: 1, integer: true }).default(100).describe('Epochs of the run.'),
    alpha: numberOption({ min: 0 }).default(0.8).describe('Modulation strength.'),
    ratio: numberOption({ min: 0, max: 1, minExclusive: true }).default(0.2).describe('Share.'),
    optimizer: choiceOption(['sgd', 'adam']).default('sgd').describe('Optimizer.'),
    noise: booleanOption().default(true).describe('Noise.'),
    step: numberOption({ min: 1, integer: true })
      .nullable()
      .default(null)
      .describe('StepLR step; null: constant.'),
    window: windowSchema.optional().meta({ defaultText: 'the whole run' }).describe('Window.'),
    rates: listOption(numberOption({ min: 0, minExclusive: true }), 'a non-empty list of rates')
      .optional()
      .meta({ defaultText: 'same as the learning rate' })
      .describe('Grid.'),
    list: listOption(numberOption({ min: 1, integer: true }), 'epochs per stage').describe(
      'Required list.',
    ),
  })
  .superRefine((o, ctx) => {
    if (o.epochs < o.list.length) {
      addOptionProblem(ctx, ['list'], `received ${o.list.length} stages with epochs=${o.epochs}.`);
    }
  });

const error = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(IgmArgumentError);
    return (e as Error).message;
  }
  throw new Error('expected an error');
};

describe('option schemas', () => {
  it('range texts', () => {
    expect(describeRange({ min: 0 })).toBe('a number >= 0');
    expect(describeRange({ min: 1, integer: true })).toBe('an integer >= 1');
    expect(describeRange({ min: 0, max: 1, minExclusive: true })).toBe('a number in (0, 1]');
    expect(describeRange({ min: 0, max: 1 })).toBe('a number in [0, 1]');
    expect(describeRange({ max: 3 })).toBe('a number <= 3');
    expect(describeRange({})).toBe('a number');
  });

  it('applies defaults and keeps given values; null means the default unless null is a value', () => {
    expect(parseOptions('m', schema, { list: [1] })).toEqual({
      epochs: 100,
      alpha: 0.8,
      ratio: 0.2,
      optimizer: 'sgd',
      noise: true,
      step: null,
      list: [1],
    });
    const o = parseOptions('m', schema, {
      list: [2, 3],
      alpha: null,
      step: null,
      window: { end: 4 },
    });
    expect(o.alpha).toBe(0.8);
    expect(o.step).toBeNull();
    expect(o.window).toEqual({ end: 4 });
    expect(parseOptions('m', schema, { list: [1], step: 5 }).step).toBe(5);
  });

  it('errors name where, the option and the bad value, and say what is expected', () => {
    const p = (o: unknown) => error(() => parseOptions('methods["x"]', schema, o));
    expect(p({ list: [1], alpha: -1 })).toBe(
      'methods["x"]: received alpha=-1. Expected a number >= 0.',
    );
    expect(p({ list: [1], epochs: 1.5 })).toBe(
      'methods["x"]: received epochs=1.5. Expected an integer >= 1.',
    );
    expect(p({ list: [1], ratio: 0 })).toBe(
      'methods["x"]: received ratio=0. Expected a number in (0, 1].',
    );
    expect(p({ list: [1], optimizer: 'rmsprop' })).toBe(
      'methods["x"]: received optimizer="rmsprop". Expected one of "sgd", "adam".',
    );
    expect(p({ list: [1], noise: 'yes' })).toBe(
      'methods["x"]: received noise="yes". Expected true or false.',
    );
    expect(p({ list: [1], alfa: 1, betta: 2 })).toBe(
      'methods["x"]: unknown option(s) "alfa", "betta". Valid options: epochs, alpha, ratio, optimizer, noise, step, window, rates, list.',
    );
    expect(p({ list: [1], window: { start: 5, end: 2 } })).toBe(
      'methods["x"]: received window={"start":5,"end":2}. Expected 0 <= start <= end.',
    );
    expect(p({ list: [1], window: { begin: 1 } })).toBe(
      'methods["x"]: unknown option(s) "begin" in window. Valid options: start, end.',
    );
    expect(p({ list: [1], window: 3 })).toBe(
      'methods["x"]: received window=3. Expected { start, end }.',
    );
    expect(p({ list: [1], rates: [0.1, -1] })).toBe(
      'methods["x"]: received rates[1]=-1. Expected a number > 0.',
    );
    expect(p({ list: [] })).toBe('methods["x"]: received list=[]. Expected epochs per stage.');
    expect(p({})).toBe('methods["x"]: list is required. Expected epochs per stage.');
    expect(p({ list: [1, 1], epochs: 1 })).toBe('methods["x"]: received 2 stages with epochs=1.');
    expect(p(3)).toBe('methods["x"]: received options=3. Expected an object of options.');
    // Every problem, one line each.
    expect(p({ list: [1], alpha: -1, noise: 1 }).split('\n')).toEqual([
      'methods["x"]: received alpha=-1. Expected a number >= 0.',
      'methods["x"]: received noise=1. Expected true or false.',
    ]);
  });

  it('one value by name (e.g. a window option of a component)', () => {
    expect(parseOptionValue('ogmGe', 'window', windowSchema, { start: 1 })).toEqual({ start: 1 });
    expect(error(() => parseOptionValue('ogmGe', 'window', windowSchema, { start: -1 }))).toBe(
      'ogmGe: received window.start=-1. Expected an integer >= 0.',
    );
  });

  it('lists every option with its type, default and meaning', () => {
    const d = describeOptions(schema);
    expect(d.map((o) => o.key)).toEqual(Object.keys(schema.shape));
    expect(d.find((o) => o.key === 'alpha')).toEqual({
      key: 'alpha',
      type: 'a number >= 0',
      required: false,
      default: 0.8,
      defaultText: '0.8',
      description: 'Modulation strength.',
    });
    expect(d.find((o) => o.key === 'optimizer')).toMatchObject({
      type: 'one of "sgd", "adam"',
      default: 'sgd',
      choices: ['sgd', 'adam'],
    });
    expect(d.find((o) => o.key === 'step')).toMatchObject({ default: null, defaultText: 'null' });
    expect(d.find((o) => o.key === 'window')).toMatchObject({
      type: '{ start, end }',
      required: false,
      defaultText: 'the whole run',
      description: 'Window.',
    });
    expect(d.find((o) => o.key === 'window')).not.toHaveProperty('default');
    expect(d.find((o) => o.key === 'rates')).toMatchObject({
      type: 'a non-empty list of rates',
      defaultText: 'same as the learning rate',
    });
    const list = d.find((o) => o.key === 'list')!;
    expect(list.required).toBe(true);
    expect(list).not.toHaveProperty('defaultText');
  });
});
