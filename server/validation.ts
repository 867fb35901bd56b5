import type { ErrorObject, ValidateFunction } from 'ajv';
import { ProblemError, type FieldError } from './errors.js';

const escapePointer = (segment: string) => segment.replaceAll('~', '~0').replaceAll('/', '~1');

/** Ajv's errors as the problem's `errors`: each points at the offending value (or missing key). */
export function fieldErrors(errors: ErrorObject[] | null | undefined, location: FieldError['in']): FieldError[] {
  const seen = new Set<string>();
  const out: FieldError[] = [];
  for (const error of errors ?? []) {
    let pointer = error.instancePath;
    let message = error.message ?? 'is invalid';
    const params = error.params as Record<string, unknown>;
    if (error.keyword === 'required') pointer += `/${escapePointer(String(params.missingProperty))}`;
    if (error.keyword === 'additionalProperties') {
      pointer += `/${escapePointer(String(params.additionalProperty))}`;
      message = 'is not an allowed property';
    }
    if (error.keyword === 'propertyNames' && typeof params.propertyName === 'string') {
      pointer += `/${escapePointer(params.propertyName)}`;
      message = 'is not an allowed key';
    }
    if (error.keyword === 'enum' && Array.isArray(params.allowedValues)) {
      message = `must be one of: ${params.allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    }
    // anyOf/oneOf repeat what their branches said; one line per pointer and message is enough.
    const key = `${pointer}\u0000${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ in: location, pointer, message });
  }
  return out;
}

export function assertValid<T>(validate: ValidateFunction, value: unknown, location: FieldError['in'], detail: string): asserts value is T {
  if (!validate(value)) throw new ProblemError('validation', detail, { errors: fieldErrors(validate.errors, location) });
}
