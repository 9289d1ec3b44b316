import { readdirSync, readFileSync } from 'node:fs';
import { igm, igmOptionFields, igmOptionsSchema } from '@igm/igm';
import { describe, expect, it } from 'vitest';
import {
  checkPresetFile,
  createMethod,
  describeMethod,
  describeMethods,
  type MethodEnvironment,
  methods,
  parseMethodOptions,
  presetBatchSize,
  presets,
} from '../src';

/** Enough of an environment for option errors, which come before any model is built. */
const env = {
  dataset: { modalities: [{ name: 'audio' }, { name: 'visual' }] },
  numClasses: 3,
  batchSize: 4,
  encoders: () => ({}),
} as unknown as MethodEnvironment;

const message = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected an error');
};

describe('method option schemas', () => {
  it('every method has one schema; MethodInfo.options are its keys', () => {
    for (const [name, info] of Object.entries(methods)) {
      expect(info.options, name).toEqual(Object.keys(info.schema.shape));
    }
  });

  it('errors name the method, the option and the value, and say what is expected', () => {
    expect(message(() => createMethod('ogm-ge', { alpha: -1 }, env))).toBe(
      'methods["ogm-ge"]: received alpha=-1. Expected a number >= 0.',
    );
    expect(message(() => createMethod('joint', { epochs: 0 }, env))).toBe(
      'methods["joint"]: received epochs=0. Expected an integer >= 1.',
    );
    expect(message(() => createMethod('pmr', { fraction: 0 }, env))).toBe(
      'methods["pmr"]: received fraction=0. Expected a number in (0, 1].',
    );
    expect(message(() => createMethod('mla', { projection: 'owm' }, env))).toBe(
      'methods["mla"]: received projection="owm". Expected one of "paper", "code", "off".',
    );
    expect(message(() => createMethod('ogm', { alfa: 1 }, env))).toBe(
      `methods["ogm"]: unknown option(s) "alfa". Valid options: ${methods['ogm']!.options.join(', ')}.`,
    );
    expect(message(() => createMethod('agm', { clip: { max: 1 } }, env))).toBe(
      'methods["agm"]: unknown option(s) "max" in clip. Valid options: threshold, maxNorm.',
    );
    expect(message(() => createMethod('mslr', { unimodalLearningRates: [0.1, 0] }, env))).toBe(
      'methods["mslr"]: received unimodalLearningRates[1]=0. Expected a number > 0.',
    );
    expect(message(() => createMethod('igm', {}, env))).toBe(
      'methods["igm"]: epochList is required. Expected epochs per stage: a non-empty list of integers >= 1, e.g. [25, 50, 25, 50].',
    );
    expect(message(() => createMethod('domfn', { epochs: 3, pretrainEpochs: 3 }, env))).toMatch(
      /^methods\["domfn"\]: received pretrainEpochs=3 with epochs=3\. The warm-up must leave/,
    );
  });

  it('parseMethodOptions: validated options with the defaults applied (null means the default)', () => {
    expect(parseMethodOptions('mmpareto', { gamma: 2, epochs: null })).toEqual({
      epochs: 50,
      learningRate: 2e-3,
      momentum: 0.9,
      weightDecay: 1e-4,
      optimizer: 'sgd',
      beta2: 0.999,
      lrStepSize: null,
      lrGamma: 0.1,
      gamma: 2,
    });
    // lrStepSize: null is a value (no schedule), not the default (SMV's is 30).
    expect(parseMethodOptions('smv', { lrStepSize: null })['lrStepSize']).toBeNull();
    expect(parseMethodOptions('smv', {})['lrStepSize']).toBe(30);
  });

  it('the budget rules read the options through the schema (same validation as create)', () => {
    expect(message(() => methods['ogr-gb']!.budget!.plan({ epochs: 'ten' }, ['a', 'b']))).toBe(
      'methods["ogr-gb"]: received epochs="ten". Expected an integer >= 1.',
    );
    expect(message(() => methods['joint']!.budget!.scale({ fusion: 'mean' }, 5, ['a', 'b']))).toBe(
      'methods["joint"]: received fusion="mean". Expected one of "concat", "sum".',
    );
  });
});

describe('igm(): one schema with the registry', () => {
  const igmKeys = Object.keys(igmOptionFields);
  // The registry fixes `sam` by entry and cannot hold a transform object (`optimizer`); it adds
  // the model's fusion rule and head layers. IGM w/o SAM has no SAM radius and no flat loss.
  const registryOnly = ['fusion', 'headHidden'];
  const igmOnly = ['sam', 'optimizer'];

  it('the registry entries accept exactly the keys of igm() (minus sam, optimizer; plus fusion, headHidden)', () => {
    const shared = igmKeys.filter((k) => !igmOnly.includes(k));
    expect([...methods['igm']!.options].sort()).toEqual([...shared, ...registryOnly].sort());
    expect([...methods['igm-no-sam']!.options].sort()).toEqual(
      [...shared.filter((k) => k !== 'rho' && k !== 'flatRatio'), ...registryOnly].sort(),
    );
    expect(Object.keys(igmOptionsSchema.shape)).toEqual(igmKeys);
  });

  it('the shared options are the same schema objects (same ranges, defaults and meaning)', () => {
    for (const name of ['igm', 'igm-no-sam']) {
      const shape = methods[name]!.schema.shape;
      for (const [k, field] of Object.entries(shape)) {
        if (registryOnly.includes(k)) continue;
        expect(field, `${name}.${k}`).toBe(igmOptionFields[k as keyof typeof igmOptionFields]);
      }
    }
  });

  it('igm() and the registry accept and reject the same shared options', () => {
    const cases: Array<Record<string, unknown>> = [
      { tau: -1 },
      { variant: 'offical' },
      { mixup: { alpha: 0 } },
      { order: ['audio', 'audio'] },
      { lrStepSize: 0 },
      { epochList: [0] },
      { tua: 1 },
      { tau: 0.2, mixup: { alpha: 0.4 }, order: ['visual', 'audio'], lrStepSize: 10 },
    ];
    for (const c of cases) {
      const options = { epochList: [1, 1], ...c };
      const direct = (() => {
        try {
          igm(options as never);
          return true;
        } catch {
          return false;
        }
      })();
      const registry = (() => {
        try {
          methods['igm']!.parseOptions(options);
          return true;
        } catch {
          return false;
        }
      })();
      expect(registry, JSON.stringify(c)).toBe(direct);
    }
  });
});

describe('presets', () => {
  const dir = new URL('../presets/', import.meta.url);

  it('every shipped preset file parses (each entry by its method schema) and is loaded', () => {
    const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(files.length).toBe(Object.keys(presets).length);
    for (const f of files) {
      const json = JSON.parse(readFileSync(new URL(f, dir), 'utf8'));
      expect(() => checkPresetFile(f, json), f).not.toThrow();
      expect(presets[f.replace(/\.json$/, '')], f).toEqual(json);
      for (const [method, entry] of Object.entries(json.methods as Record<string, never>)) {
        expect(() => parseMethodOptions(method, entry['options']), `${f} ${method}`).not.toThrow();
      }
    }
  });

  it('a bad preset names the file, the method, the option and the value', () => {
    const file = JSON.parse(readFileSync(new URL('cremad.json', dir), 'utf8'));
    const bad = structuredClone(file);
    bad.methods['ogm-ge'].options.alpha = -1;
    expect(message(() => checkPresetFile('cremad.json', bad))).toBe(
      'preset cremad.json, methods["ogm-ge"].options: received alpha=-1. Expected a number >= 0.',
    );
    const typo = structuredClone(file);
    typo.methods['pmr'].options.protoMomentun = 0.1;
    expect(message(() => checkPresetFile('cremad.json', typo))).toMatch(
      /^preset cremad\.json, methods\["pmr"\]\.options: unknown option\(s\) "protoMomentun"\. Valid options: .*protoMomentum/,
    );
    const unknown = structuredClone(file);
    unknown.methods['ogmge'] = { source: 'x', options: {} };
    expect(message(() => checkPresetFile('cremad.json', unknown))).toMatch(
      /^preset cremad\.json: methods\["ogmge"\] is not a registered method\. Valid methods: joint,/,
    );
    const shape = structuredClone(file);
    shape.batchSize = 0;
    expect(message(() => checkPresetFile('cremad.json', shape))).toBe(
      'preset cremad.json: received batchSize=0. Expected an integer >= 1.',
    );
    const entryBatch = structuredClone(file);
    entryBatch.methods['igm'].batchSize = 1.5;
    expect(message(() => checkPresetFile('cremad.json', entryBatch))).toMatch(
      /^preset cremad\.json: received methods\.igm\.batchSize=1\.5\. Expected an integer >= 1\./,
    );
  });

  it("batch sizes: an entry's own (IGM's reference 12), else the file's", () => {
    for (const dataset of ['cremad', 'kinetics-sounds', 'av-mnist', 'av-mnist-imbalanced']) {
      expect(presetBatchSize(dataset, 'igm'), dataset).toBe(12);
      expect(presetBatchSize(dataset, 'igm-no-sam'), dataset).toBe(12);
      expect(presetBatchSize(dataset, 'joint'), dataset).toBe(64);
      // Every entry with a batch size of its own says so in its source note.
      for (const [method, entry] of Object.entries(presets[dataset]!.methods)) {
        if (entry.batchSize !== undefined) {
          expect(entry.source, `${dataset} ${method}`).toContain(`batch ${entry.batchSize}`);
        }
      }
    }
    expect(presetBatchSize('synthetic', 'igm')).toBe(32);
    expect(() => presetBatchSize('cremad', 'jiont')).toThrow(/has no method "jiont"/);
  });
});

describe('describeMethods (the listing of `igm methods --json`)', () => {
  const all = describeMethods();

  it('lists every registered method with its options, defaults and meaning, as JSON', () => {
    expect(all.map((m) => m.name)).toEqual(Object.keys(methods));
    expect(JSON.parse(JSON.stringify(all))).toEqual(all);
    for (const m of all) {
      expect(m.description, m.name).not.toBe('');
      expect(m.description, m.name).not.toMatch(/ALGORITHMS|DESIGN\.md/);
      expect(m.options.map((o) => o.key)).toEqual(methods[m.name]!.options);
      expect(m.jsonSchema['type']).toBe('object');
      expect(Object.keys(m.jsonSchema['properties'] as object)).toEqual(methods[m.name]!.options);
      const defaults = parseMethodOptions(
        m.name,
        m.name.startsWith('igm') ? { epochList: [1] } : {},
      );
      for (const o of m.options) {
        const where = `${m.name}.${o.key}`;
        expect(o.description, where).not.toBe('');
        expect(o.type, where).not.toBe('');
        if (o.required) {
          expect(o.key, where).toBe('epochList');
          continue;
        }
        expect(o.defaultText, where).toBeDefined();
        if ('default' in o) expect(defaults[o.key], where).toEqual(o.default);
        else expect(defaults[o.key], where).toBeUndefined();
        if (o.choices) {
          for (const c of o.choices) {
            expect(
              () => parseMethodOptions(m.name, { ...defaults, [o.key]: c }),
              where,
            ).not.toThrow();
          }
        }
      }
    }
  });

  it('reads as a user needs it: e.g. OGM-GE alpha and IGM rho', () => {
    const alpha = describeMethod('ogm-ge').options.find((o) => o.key === 'alpha')!;
    expect(alpha).toMatchObject({ type: 'a number >= 0', default: 0.8, required: false });
    expect(alpha.description).toMatch(/tanh/);
    const rho = describeMethod('igm').options.find((o) => o.key === 'rho')!;
    expect(rho).not.toHaveProperty('default');
    expect(rho.defaultText).toMatch(/0\.05.*official/);
    expect(describeMethod('igm').modalities).toEqual({ min: 2, max: null, note: '' });
    expect(describeMethod('igm').budget).toBe('stage-wise');
    expect(describeMethod('joint').options.find((o) => o.key === 'fusion')!.choices).toEqual([
      'concat',
      'sum',
    ]);
  });
});

describe('modules', () => {
  it('src has no import cycle (methods.ts <-> igm-methods.ts broken)', () => {
    const src = new URL('../src/', import.meta.url);
    const files = readdirSync(src).filter((f) => f.endsWith('.ts'));
    const imports = Object.fromEntries(
      files.map((f) => [
        f,
        [...readFileSync(new URL(f, src), 'utf8').matchAll(/from '\.\/([^']+)'/g)].map(
          (m) => `${m[1]}.ts`,
        ),
      ]),
    );
    const cycles: string[] = [];
    const done = new Set<string>();
    const visit = (f: string, path: string[]): void => {
      if (path.includes(f)) {
        cycles.push([...path.slice(path.indexOf(f)), f].join(' -> '));
        return;
      }
      if (done.has(f)) return;
      for (const g of imports[f] ?? []) visit(g, [...path, f]);
      done.add(f);
    };
    for (const f of files) visit(f, []);
    expect(cycles).toEqual([]);
  });
});
