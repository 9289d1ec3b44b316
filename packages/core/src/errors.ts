/** Argument checks that repeat the bad value and say what was expected (Keras style). */

export class IgmArgumentError extends Error {
  override name = 'IgmArgumentError';
}

/** A value as error messages repeat it: strings quoted, objects as JSON. */
export function showValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null)
    return String(value);
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

/** Throws unless `value` is a finite number within [min, max] (bounds inclusive by default). */
export function checkNumber(
  where: string,
  field: string,
  value: unknown,
  { min = -Infinity, max = Infinity, minExclusive = false, integer = false } = {},
): number {
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (minExclusive ? value > min : value >= min) &&
    value <= max &&
    (!integer || Number.isInteger(value));
  if (!ok) {
    const lo = minExclusive ? `(${min}` : `[${min}`;
    const kind = integer ? 'an integer' : 'a finite number';
    throw new IgmArgumentError(
      `${where}: received ${field}=${showValue(value)}. Expected ${kind} in ${lo}, ${max}].`,
    );
  }
  return value;
}

/** Throws unless `value` is one of `choices`. */
export function checkChoice<T extends string>(
  where: string,
  field: string,
  value: unknown,
  choices: readonly T[],
): T {
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
    throw new IgmArgumentError(
      `${where}: received ${field}=${showValue(value)}. Expected one of ${choices.map((c) => JSON.stringify(c)).join(', ')}.`,
    );
  }
  return value as T;
}

/** Throws if `options` has keys outside `known` (catches typos such as `learingRate`). */
export function checkKnownKeys(
  where: string,
  options: object | undefined,
  known: readonly string[],
): void {
  if (!options) return;
  const unknown = Object.keys(options).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    throw new IgmArgumentError(
      `${where}: unknown option(s) ${unknown.map((k) => JSON.stringify(k)).join(', ')}. Valid options: ${known.join(', ')}.`,
    );
  }
}
