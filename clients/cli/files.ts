import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { UsageError } from './errors.js';

export type Document = { kind: 'json'; value: unknown } | { kind: 'xml'; text: string };

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw new UsageError(`Cannot read ${path}: ${why}.`);
  }
}

/** A JSON file, parsed; an unreadable or malformed one is a plain usage error naming the file. */
export function readJsonFile(path: string): unknown {
  const text = readText(path);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${path} is not valid JSON: ${(error as Error).message}.`);
  }
}

/** A JSON object file (a form, a request, terms). */
export function readJsonObject(path: string): Record<string, unknown> {
  const value = readJsonFile(path);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new UsageError(`${path} must hold a JSON object.`);
  return value as Record<string, unknown>;
}

/**
 * A profile or need document: XML when the file is `.xml` (or starts with `<`), JSON otherwise.
 * XML is sent as it is (the server checks it); JSON is parsed here so a typo is caught before sending.
 */
export function readDocument(path: string): Document {
  const extension = extname(path).toLowerCase();
  if (extension === '.xml') return { kind: 'xml', text: readText(path) };
  if (extension === '.json') return { kind: 'json', value: readJsonObject(path) };
  const text = readText(path);
  if (text.trimStart().startsWith('<')) return { kind: 'xml', text };
  return { kind: 'json', value: readJsonObject(path) };
}
