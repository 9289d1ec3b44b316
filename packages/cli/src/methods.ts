/**
 * `igm methods [name...] [--json]`: every registered method of @igm/baselines with its options,
 * their defaults and meaning (from each method's option schema, `describeMethods()`).
 *
 * `--json` prints an array of `MethodDescription`s: `{ name, description, modalities: { min,
 * max (null: any number), note }, budget ("single-run" | "stage-wise" | null), options: [ { key,
 * type, required, default?, defaultText?, description, choices? } ], jsonSchema }`.
 */
import { describeMethod, describeMethods, getMethod, type MethodDescription } from '@igm/baselines';

/** The methods `names` lists (all when empty); an unknown name is an error listing them. */
export function describeMethodsJson(names: readonly string[] = []): MethodDescription[] {
  if (!names.length) return describeMethods();
  return names.map((name) => {
    getMethod(name); // an unknown name: the error lists the methods
    return describeMethod(name);
  });
}

/** `text` wrapped at `width` columns, every line indented by `indent`. */
function wrap(text: string, indent: string, width = 100): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(indent + line);
  return lines.join('\n');
}

function modalityText(m: MethodDescription['modalities']): string {
  const count =
    m.max === null ? `${m.min} or more` : m.min === m.max ? `${m.min}` : `${m.min}-${m.max}`;
  return `modalities: ${count}${m.note ? ` (${m.note})` : ''}`;
}

/** One method as the terminal shows it: description, modalities, budget, each option. */
function formatMethod(m: MethodDescription): string {
  const budget = m.budget ? `epoch budget: ${m.budget}` : 'no epoch budget rule';
  const options = m.options.map((o) => {
    const fallback = o.required ? 'required' : `default ${o.defaultText ?? 'none'}`;
    return [
      `    ${o.key}: ${o.type}; ${fallback}`,
      ...(o.description ? [wrap(o.description, '      ')] : []),
    ].join('\n');
  });
  return [
    m.name,
    wrap(m.description, '  '),
    wrap(`${modalityText(m.modalities)}; ${budget}`, '  '),
    '  options:',
    ...options,
  ].join('\n');
}

/** The listing of `igm methods` (see the module doc). */
export function formatMethods(names: readonly string[] = []): string {
  const all = describeMethodsJson(names);
  const blocks = all.map(formatMethod);
  const footer = names.length
    ? []
    : [
        `${all.length} methods. Give options in a --config file: methodOptions: { <method>: { <option>: value } }, or as variants; igm methods <name> --json for the JSON Schema.`,
      ];
  return [...blocks, ...footer].join('\n\n');
}
