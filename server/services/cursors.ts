import { sql, type SqlBool } from 'kysely';
import { ProblemError } from '../errors.js';

/**
 * Opaque paging cursors, one format per kind of key: a (created-at, id) pair for lists ordered
 * by time, or one serial number (event, log entry, version) with a letter naming its kind. A
 * cursor this server did not give out is a 400 naming `cursor`, never a query with odd values.
 */
const invalidCursor = () =>
  new ProblemError('validation', 'The cursor is not one this server gave out.', {
    errors: [{ in: 'query', pointer: '/cursor', message: 'is not a valid cursor' }],
  });

export const encodeTimeCursor = (createdAt: Date, id: string) => Buffer.from(JSON.stringify([createdAt.toISOString(), id])).toString('base64url');

export function decodeTimeCursor(cursor: string): { createdAt: Date; id: string } {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 2) {
      const [at, id] = value as unknown[];
      if (typeof at === 'string' && !Number.isNaN(Date.parse(at)) && typeof id === 'string' && /^[0-9a-f-]{36}$/.test(id)) {
        return { createdAt: new Date(at), id };
      }
    }
  } catch {
    // not base64url JSON: refused below
  }
  throw invalidCursor();
}

/**
 * Keyset paging of a list ordered newest first by (time, id): the rows strictly after a time
 * cursor's position, as one row comparison (which a btree index on the two columns serves).
 */
export const olderThan = (timeColumn: string, idColumn: string, position: { createdAt: Date; id: string }) =>
  sql<SqlBool>`(${sql.ref(timeColumn)}, ${sql.ref(idColumn)}) < (${position.createdAt}, ${position.id})`;

export const encodeSerialCursor = (kind: string, serial: string | number) => Buffer.from(`${kind}${serial}`).toString('base64url');

/** The serial in a cursor of this kind; `maxDigits` keeps it within its column's type. */
export function decodeSerialCursor(kind: string, cursor: string, maxDigits: number): string {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!new RegExp(`^${kind}[1-9][0-9]{0,${maxDigits - 1}}$`).test(text)) throw invalidCursor();
  return text.slice(kind.length);
}

/** int8 serials (events, access log): 18 digits always fit. */
export const BIGINT_DIGITS = 18;
/** int4 serials (terms versions). */
export const INTEGER_DIGITS = 9;
