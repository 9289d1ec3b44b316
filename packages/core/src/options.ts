/**
 * Options declared once, as zod schemas: each field carries its meaning (`.describe()`), its
 * default (`.default()`) and how a valid value reads ("an integer >= 1"); from the schema come
 * the validation ({@link parseOptions}: errors that name the option, repeat the bad value and say
 * what is expected), the TypeScript types (`z.input` / `z.output`) and a machine-readable listing
 * ({@link describeOptions}).
 *
 *   const schema = z.strictObject({
 *     alpha: numberOption({ min: 0 }).default(0.8).describe('Modulation strength.'),
 *     tensors: choiceOption(['conv', 'encoder']).default('conv').describe('Tensors modulated.'),
 *   });
 *   parseOptions('ogmGe', schema, { alpha: -1 });
 *   // IgmArgumentError: ogmGe: received alpha=-1. Expected a number >= 0.
 *   parseOptions('ogmGe', schema, { alfa: 1 });
 *   // IgmArgumentError: ogmGe: unknown option(s) "alfa". Valid options: alpha, tensors.
 *
 * A default that depends on other options (or on the data) is given in words with
 * `.meta({ defaultText: 'same as epochs' })` and resolved by the code that reads the option.
 * Rules on one value go into `.refine()` with the expected text as the error; rules across
 * options into `.superRefine()` with {@link addOptionProblem}.
 */
import { z } from 'zod';
import { IgmArgumentError, showValue } from './errors';

/** Annotations the option builders and listings read (zod's global metadata). */
export interface OptionAnnotations {
  /** How a valid value reads: "an integer >= 1", 'one of "sgd", "adam"'. */
  readonly expected?: string;
  /** The default in words, when it depends on other options or on the data. */
  readonly defaultText?: string;
}

function annotate<T extends z.ZodType>(schema: T, expected: string): T {
  return schema.meta({ expected }) as T;
}

/** Bounds of a numeric option (inclusive unless `minExclusive`). */
export interface NumberRange {
  readonly min?: number;
  readonly max?: number;
  readonly minExclusive?: boolean;
  readonly integer?: boolean;
}

/** "a number >= 0", "an integer >= 1", "a number in (0, 1]", "a number". */
export function describeRange({
  min,
  max,
  minExclusive = false,
  integer = false,
}: NumberRange): string {
  const kind = integer ? 'an integer' : 'a number';
  const low = min === undefined ? undefined : minExclusive ? `> ${min}` : `>= ${min}`;
  if (min !== undefined && max !== undefined) {
    return `${kind} in ${minExclusive ? '(' : '['}${min}, ${max}]`;
  }
  if (low) return `${kind} ${low}`;
  if (max !== undefined) return `${kind} <= ${max}`;
  return kind;
}

/** A finite number (or integer) within `range`; every failure reads "Expected <range>". */
export function numberOption(range: NumberRange = {}): z.ZodNumber {
  const expected = describeRange(range);
  const error = { error: expected };
  let s = z.number(error);
  if (range.integer) s = s.int(error);
  if (range.min !== undefined)
    s = range.minExclusive ? s.gt(range.min, error) : s.gte(range.min, error);
  if (range.max !== undefined) s = s.lte(range.max, error);
  return annotate(s, expected);
}

/** One of `values` (strings). */
export function choiceOption<const T extends string>(values: readonly T[]) {
  const expected = `one of ${values.map((v) => JSON.stringify(v)).join(', ')}`;
  return annotate(z.enum(values as unknown as [T, ...T[]], { error: expected }), expected);
}

/** true or false. */
export function booleanOption(): z.ZodBoolean {
  return annotate(z.boolean({ error: 'true or false' }), 'true or false');
}

/** A non-empty list of `item`; `expected` says what the list holds (e.g. its unit and an example). */
export function listOption<T extends z.ZodType>(item: T, expected: string): z.ZodArray<T> {
  return annotate(z.array(item, { error: expected }).min(1, { error: expected }), expected);
}

/** An object with exactly these keys (each optional or not as its schema says). */
export function objectOption<S extends z.ZodRawShape>(shape: S, expected: string) {
  return annotate(z.strictObject(shape, { error: expected }), expected);
}

/**
 * Reports a problem that involves several options from a `.superRefine()`: `message` is the whole
 * sentence after the `where:` prefix (e.g. 'received pretrainEpochs=5 with epochs=5. ...').
 * Problems of one value (`.refine()`) read "received <option>=<value>. Expected <message>." instead.
 */
export function addOptionProblem(
  ctx: z.RefinementCtx,
  path: readonly PropertyKey[],
  message: string,
): void {
  ctx.addIssue({ code: 'custom', path: [...path], message, params: { sentence: true } });
}

type Path = readonly PropertyKey[];

function pathText(name: string, path: Path): string {
  let out = name;
  for (const p of path) {
    out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  }
  return out;
}

function valueAt(value: unknown, path: Path): unknown {
  let v = value;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

/** `s` without one wrapper that keeps the value's shape (optional, nullable, default, readonly). */
function unwrapOnce(s: z.ZodType): z.ZodType {
  if (s instanceof z.ZodOptional || s instanceof z.ZodNullable) return s.unwrap() as z.ZodType;
  if (s instanceof z.ZodDefault || s instanceof z.ZodPrefault) return s.unwrap() as z.ZodType;
  if (s instanceof z.ZodReadonly) return s.unwrap() as z.ZodType;
  return s;
}

/** `s` without its optional, nullable, default and readonly wrappers. */
function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  for (let next = unwrapOnce(s); next !== s; next = unwrapOnce(s)) s = next;
  return s;
}

/** The keys of the object schema at `path` inside `schema` (for "valid options" lists). */
function keysAt(schema: z.ZodType, path: Path): string[] {
  let s = unwrap(schema);
  for (const p of path) {
    if (s instanceof z.ZodObject) s = unwrap(s.shape[String(p)] as z.ZodType);
    else if (s instanceof z.ZodArray) s = unwrap(s.element as z.ZodType);
    else if (s instanceof z.ZodRecord) s = unwrap(s.valueType as z.ZodType);
    else if (s instanceof z.ZodUnion) {
      const objects = (s.options as z.ZodType[])
        .map(unwrap)
        .filter((o) => o instanceof z.ZodObject);
      if (objects.length === 0) return [];
      s = unwrap((objects[0] as z.ZodObject).shape[String(p)] as z.ZodType);
    } else return [];
    if (!s) return [];
  }
  if (s instanceof z.ZodUnion) {
    s = (s.options as z.ZodType[]).map(unwrap).find((o) => o instanceof z.ZodObject) ?? s;
  }
  return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
}

function issueLine(
  where: string,
  name: string,
  schema: z.ZodType,
  value: unknown,
  issue: z.core.$ZodIssue,
): string {
  const at = pathText(name, issue.path);
  if (issue.code === 'unrecognized_keys') {
    const valid = keysAt(schema, issue.path);
    return `${where}: unknown option(s) ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}${at ? ` in ${at}` : ''}. Valid options: ${valid.join(', ')}.`;
  }
  if (issue.code === 'custom' && issue.params?.['sentence']) return `${where}: ${issue.message}`;
  const received = valueAt(value, issue.path);
  if (received === undefined && issue.code === 'invalid_type') {
    return `${where}: ${at} is required. Expected ${issue.message}.`;
  }
  return `${where}: received ${at}=${showValue(received)}. Expected ${issue.message}.`;
}

function failure(
  where: string,
  name: string,
  schema: z.ZodType,
  value: unknown,
  error: z.ZodError,
): IgmArgumentError {
  const lines = [...new Set(error.issues.map((i) => issueLine(where, name, schema, value, i)))];
  return new IgmArgumentError(lines.join('\n'));
}

/**
 * Validates one value named `name` (e.g. 'window') against `schema`: the value with its defaults
 * applied, or an {@link IgmArgumentError} with one line per problem, each naming `where`, the
 * field (`window.start`) and the bad value, and saying what is expected.
 */
export function parseOptionValue<S extends z.ZodType>(
  where: string,
  name: string,
  schema: S,
  value: unknown,
): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw failure(where, name, schema, value, parsed.error);
  return parsed.data;
}

/**
 * Validates an options object against an object `schema` and returns it with its defaults
 * applied. `undefined` means no options; an option set to `null` means its default (as if it
 * were absent), unless null is one of its values (e.g. `lrStepSize: null`, no schedule). Unknown
 * keys are errors listing the valid ones.
 */
export function parseOptions<S extends z.ZodObject>(
  where: string,
  schema: S,
  options: unknown,
): z.output<S> {
  if (options === undefined || options === null) return parseOptionValue(where, '', schema, {});
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw new IgmArgumentError(
      `${where}: received options=${showValue(options)}. Expected an object of options.`,
    );
  }
  const present: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) {
    const field = Object.hasOwn(schema.shape, k) ? (schema.shape[k] as z.ZodType) : undefined;
    if (v === null && field && !field.safeParse(null).success) continue;
    present[k] = v;
  }
  return parseOptionValue(where, '', schema, present);
}

/** One option of a schema, as listings (e.g. `igm methods --json`) show it. */
export interface OptionDescription {
  readonly key: string;
  /** How a valid value reads ("an integer >= 1", 'one of "sgd", "adam"'). */
  readonly type: string;
  readonly required: boolean;
  /** The default value, when it is a constant. */
  readonly default?: unknown;
  /** The default in words ("0.8", "same as epochs", "the whole run"); absent when required. */
  readonly defaultText?: string;
  /** What the option means (units, reference values). */
  readonly description: string;
  /** The accepted values of a choice. */
  readonly choices?: readonly string[];
}

function annotations(schema: z.ZodType): OptionAnnotations & { description?: string } {
  const chain: z.ZodType[] = [];
  let s: z.ZodType | undefined = schema;
  while (s) {
    chain.push(s);
    const next: z.ZodType = unwrapOnce(s);
    s = next === s ? undefined : next;
  }
  // Inner annotations first, so that outer ones (set last) win.
  return Object.assign({}, ...chain.reverse().map((c) => z.globalRegistry.get(c) ?? {}));
}

/** The options of an object schema, in declaration order, for listings and help texts. */
export function describeOptions(schema: z.ZodObject): OptionDescription[] {
  return Object.entries(schema.shape).map(([key, field]) => {
    const s = field as z.ZodType;
    const a = annotations(s);
    const absent = s.safeParse(undefined);
    const required = !absent.success;
    const fallback = absent.success ? absent.data : undefined;
    const inner = unwrap(s);
    const choices = inner instanceof z.ZodEnum ? (inner.options as string[]) : undefined;
    const defaultText =
      a.defaultText ??
      (required ? undefined : fallback === undefined ? 'none' : JSON.stringify(fallback));
    return {
      key,
      type: a.expected ?? inner.def.type,
      required,
      ...(fallback !== undefined ? { default: fallback } : {}),
      ...(defaultText !== undefined ? { defaultText } : {}),
      description: a.description ?? '',
      ...(choices ? { choices } : {}),
    };
  });
}
