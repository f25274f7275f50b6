import type { TSchema } from '@sinclair/typebox';
import { KindGuard, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { InvalidConfigError } from '../errors.js';

/**
 * Option checking shared by the node and every service: each option has a
 * schema (TypeBox) and a default; an unknown name or a bad value throws an
 * `InvalidConfigError` that names the option, says what it must be and what it got.
 */
export type OptionSchemas<T> = { [Name in keyof T]-?: TSchema };

export const optionTypes = {
  /** An integer in [minimum, maximum]. */
  integer: (minimum: number, maximum = Number.MAX_SAFE_INTEGER) => Type.Integer({ minimum, maximum }),
  /** A finite number above zero. */
  positive: () => Type.Number({ exclusiveMinimum: 0 }),
  /** A finite number in [minimum, maximum]. */
  between: (minimum: number, maximum: number) => Type.Number({ minimum, maximum }),
  boolean: () => Type.Boolean(),
  text: (minLength: number, maxLength: number) => Type.String({ minLength, maxLength }),
  optional: (schema: TSchema) => Type.Optional(schema),
};

/** Fills `defaults` from `given`, checking every name and value. `scope` prefixes names in messages ("storage."). */
export function checkOptions<T extends object>(scope: string, given: unknown, schemas: OptionSchemas<T>, defaults: T): T {
  if (given !== undefined && (given === null || typeof given !== 'object' || Array.isArray(given))) {
    throw new InvalidConfigError(`${scope ? `${scope.replace(/\.$/, '')} options` : 'options'} must be an object, got ${describeValue(given)}`);
  }
  const options: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  for (const [name, value] of Object.entries(given ?? {})) {
    if (!Object.hasOwn(schemas, name)) throw new InvalidConfigError(`unknown option "${scope}${name}"${suggestion(name, Object.keys(schemas), scope)}`);
    if (value !== undefined) options[name] = value;
  }
  for (const [name, schema] of Object.entries(schemas) as Array<[string, TSchema]>) {
    checkValue(`${scope}${name}`, schema, options[name]);
  }
  return options as T;
}

/** Throws unless `value` fits `schema`; optional schemas accept undefined. */
export function checkValue(name: string, schema: TSchema, value: unknown): void {
  if (value === undefined && isOptional(schema)) return;
  if (!Value.Check(schema, value)) throw new InvalidConfigError(`${name} must be ${describeSchema(schema)}, got ${describeValue(value)}`);
}

function isOptional(schema: TSchema): boolean {
  return KindGuard.IsOptional(schema);
}

/** "an integer from 0 to 65535", "a number above 0", … from the schema's own bounds. */
export function describeSchema(schema: TSchema): string {
  if (schema.description) return schema.description;
  const { type, minimum, maximum, exclusiveMinimum, minLength, maxLength } = schema as Record<string, number | string | undefined>;
  if (type === 'boolean') return 'true or false';
  if (type === 'string') return minLength === maxLength ? `a string of ${minLength} characters` : `a string of ${minLength ?? 0} to ${maxLength} characters`;
  if (type === 'integer' || type === 'number') {
    const noun = type === 'integer' ? 'an integer' : 'a number';
    if (exclusiveMinimum !== undefined) return `${noun} above ${exclusiveMinimum}`;
    if (maximum === undefined || maximum === Number.MAX_SAFE_INTEGER) return minimum === undefined ? noun : `${noun} of at least ${minimum}`;
    return `${noun} from ${minimum} to ${maximum}`;
  }
  return 'valid';
}

/** A value as a message shows it: strings quoted with their type, so "9000" and 9000 are told apart. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return `${JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)} (a string)`;
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return 'bytes';
  if (typeof value === 'object' && value !== null) return 'an object';
  return String(value);
}

/** " (did you mean "replicas"?)" for a near miss: at most two edits away. */
function suggestion(name: string, known: string[], scope: string): string {
  const close = known.find((candidate) => editDistance(name.toLowerCase(), candidate.toLowerCase()) <= 2);
  return close ? ` (did you mean "${scope}${close}"?)` : '';
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      current[j] = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length] as number;
}
