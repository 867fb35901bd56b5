// Reading a served feed the way independent consumers do, for the conformance tests
// (test/feeds/). Atom and RSS go through three readers that share no code with the server:
// `xmllint --noout` (libxml2: well-formedness, run on the document written to a file), the npm
// `@rowanmanning/feed-parser` (what a feed reader sees), and a strict namespace-aware sax parse
// (exact text, to compare with what the person wrote). JSON Feed is validated against the
// JSON Feed 1.1 schema of ../shared/standards (draft-07, compiled with ajv).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseFeed } from '@rowanmanning/feed-parser';
import { Ajv, type AnySchema } from 'ajv';
import addFormats from 'ajv-formats';
import { parseXmlTree, type XmlNode } from './xml.js';
import { expect } from 'vitest';
import { parse as parseYaml } from 'yaml';

export type FeedFormat = 'atom' | 'rss' | 'json';

export const FEED_MEDIA_TYPES: Record<FeedFormat, string> = {
  atom: 'application/atom+xml',
  rss: 'application/rss+xml',
  json: 'application/feed+json',
};

const ROOT = new URL('../../', import.meta.url);
const ATOM_NS = 'http://www.w3.org/2005/Atom';
const PROFFER_NS = 'https://proffer.dev/ns/1';

// --- the contract: which feed formats an operation serves ------------------------------------

type SpecOperation = { operationId?: string; responses?: Record<string, { content?: Record<string, unknown> }> };
let spec: { paths: Record<string, Record<string, SpecOperation>> } | undefined;

/** The feed formats the GET at this path template declares for its 200, in the spec's order. */
export function servedFormats(pathTemplate: string): FeedFormat[] {
  spec ??= parseYaml(readFileSync(new URL('openapi.yaml', ROOT), 'utf8')) as typeof spec;
  const content = spec?.paths[pathTemplate]?.get?.responses?.['200']?.content ?? {};
  return (Object.keys(FEED_MEDIA_TYPES) as FeedFormat[]).filter((format) => FEED_MEDIA_TYPES[format] in content);
}

// --- consumer 1: xmllint ----------------------------------------------------------------------

const run = promisify(execFile);
const scratch = mkdtempSync(join(tmpdir(), 'proffer-feeds-'));
process.once('exit', () => rmSync(scratch, { recursive: true, force: true }));
let written = 0;

/** libxml2's verdict on the document as a file: '' when well-formed, else its messages. */
export async function xmllintErrors(document: string): Promise<string> {
  const file = join(scratch, `feed-${++written}.xml`);
  writeFileSync(file, document, 'utf8');
  try {
    // --nonet: a document that tried to fetch a DTD or entity would fail rather than reach out.
    await run('xmllint', ['--noout', '--nonet', file], { maxBuffer: 4 * 2 ** 20 });
    return '';
  } catch (error) {
    const failure = error as { code?: unknown; stderr?: string; message: string };
    if (failure.code === 'ENOENT') throw new Error('xmllint is not installed (apt-get install libxml2-utils)');
    return failure.stderr || failure.message;
  } finally {
    rmSync(file, { force: true });
  }
}

// --- consumer 2 (JSON Feed): the JSON Feed 1.1 schema ------------------------------------------

const jsonFeedSchema = JSON.parse(readFileSync(new URL('../shared/standards/jsonfeed-1.1.schema.json', ROOT), 'utf8')) as AnySchema;
// The schema says draft-07, which is what ajv's default class implements.
const jsonFeedAjv = new Ajv({ strict: false, allErrors: true });
addFormats.default(jsonFeedAjv);
const validateJsonFeed = jsonFeedAjv.compile(jsonFeedSchema);

/** Ajv's complaints about a JSON Feed, or '' when it is valid JSON Feed 1.1. */
export function jsonFeedErrors(document: unknown): string {
  return validateJsonFeed(document) ? '' : jsonFeedAjv.errorsText(validateJsonFeed.errors);
}

// --- the strict tree, for exact text --------------------------------------------------------

/** The strict namespaced tree of test/helpers/xml.ts: the element's own text and CDATA, entities decoded. */
export type XmlElement = XmlNode;
export const parseXml = parseXmlTree;

export function* descendants(element: XmlElement): Generator<XmlElement> {
  yield element;
  for (const child of element.children) yield* descendants(child);
}

const childrenNamed = (element: XmlElement, local: string, uri: string) => element.children.filter((c) => c.local === local && c.uri === uri);
const childNamed = (element: XmlElement, local: string, uri: string) => childrenNamed(element, local, uri)[0];

// --- HTML text (RSS titles and descriptions, Atom type="html", JSON Feed content_html) ----------

const NAMED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'", nbsp: '\u00A0' };

/** Decodes character references of HTML source: what a reader shows of text the server escaped. */
export function decodeHtml(source: string): string {
  return source.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, ref: string) => {
    if (ref[0] === '#') return String.fromCodePoint(ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10));
    return NAMED[ref.toLowerCase()] ?? whole;
  });
}

const ACTIVE_XML_ELEMENTS = new Set(['script', 'iframe', 'object', 'embed', 'frame', 'frameset', 'applet']);
const RENDERED_NAMESPACES = new Set(['http://www.w3.org/1999/xhtml', 'http://www.w3.org/2000/svg', 'http://www.w3.org/1998/Math/MathML']);
const DANGEROUS_TAGS = new Set(['script', 'iframe', 'object', 'embed', 'style', 'link', 'meta', 'base', 'form', 'svg', 'math']);

/** What is wrong with HTML source a reader would render: active tags, event handlers, script URLs. */
export function htmlHazards(source: string): string[] {
  const found: string[] = [];
  for (const tag of source.matchAll(/<\s*\/?\s*([a-z][\w:-]*)([^>]*)>?/gi)) {
    const name = (tag[1] ?? '').toLowerCase();
    if (DANGEROUS_TAGS.has(name)) found.push(`<${name}> element`);
    if (/\bon[a-z]+\s*=/i.test(tag[2] ?? '')) found.push(`event handler in <${name}>`);
    if (/\b(href|src|action|formaction|xlink:href)\s*=\s*["']?\s*(javascript|vbscript|data):/i.test(tag[2] ?? '')) found.push(`script URL in <${name}>`);
  }
  return found;
}

/** A URL a reader would follow or load that runs script when it is followed. */
// Browsers skip ASCII whitespace and control characters in a URL's scheme: strip them as they do.
// eslint-disable-next-line no-control-regex -- exactly the characters a browser ignores there
export const isScriptUrl = (value: string) => /^(javascript|vbscript|data):/i.test(value.replace(/[\u0000-\u0020]/g, ''));

// --- one feed document, as the consumers read it ----------------------------------------------

export interface ConsumedEntry {
  id: string;
  /** The title as a reader shows it (text; RSS's HTML decoded). */
  title: string;
  updated: Date;
  published: Date | null;
}

export interface ConsumedFeed {
  format: FeedFormat;
  entries: ConsumedEntry[];
  /** The next (older) page, when the document links one. */
  next: string | undefined;
  /**
   * Every piece of text a consumer can get out of the document, decoded as its carrier says:
   * element text, HTML text decoded, and the string values of any JSON carried in text or in
   * JSON Feed extensions. Person-written text must come back out of it exactly.
   */
  texts: string[];
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const RFC822 = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} (GMT|UT|Z|[+-]\d{4})$/;

function dateOf(text: string | undefined, pattern: RegExp, what: string): Date {
  expect(text, `${what}: missing`).toBeDefined();
  expect(text, `${what}: not ${pattern === RFC3339 ? 'RFC 3339' : 'RFC 822'}`).toMatch(pattern);
  const date = new Date(text as string);
  expect(Number.isNaN(date.valueOf()), `${what}: ${text} does not parse`).toBe(false);
  return date;
}

function stringLeaves(value: unknown, out: string[]): void {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const item of value) stringLeaves(item, out);
  else if (value && typeof value === 'object') for (const [key, item] of Object.entries(value)) {
    out.push(key);
    stringLeaves(item, out);
  }
}

/** The text, and if the text is a JSON document, its strings too. */
function withJson(text: string, out: string[]): void {
  out.push(text);
  const trimmed = text.trim();
  if (!/^[[{]/.test(trimmed)) return;
  try {
    stringLeaves(JSON.parse(trimmed), out);
  } catch {
    // not JSON: the text alone
  }
}

/** Every attribute of every element, and every URL-bearing element's text, that a reader may follow. */
function xmlUrls(root: XmlElement): string[] {
  const urls: string[] = [];
  for (const element of descendants(root)) {
    for (const value of Object.values(element.attributes)) urls.push(value);
    if (['link', 'url', 'comments', 'docs', 'guid', 'icon', 'logo', 'uri'].includes(element.local) && element.children.length === 0) urls.push(element.text.trim());
  }
  return urls;
}

const ATOM_VOCABULARY = new Set(['feed', 'entry', 'id', 'title', 'subtitle', 'updated', 'published', 'author', 'contributor', 'name', 'email', 'uri', 'link', 'summary', 'content', 'category', 'generator', 'icon', 'logo', 'rights', 'source']);
const RSS_VOCABULARY = new Set(['rss', 'channel', 'title', 'link', 'description', 'language', 'copyright', 'managingEditor', 'webMaster', 'pubDate', 'lastBuildDate', 'category', 'generator', 'docs', 'cloud', 'ttl', 'image', 'url', 'width', 'height', 'rating', 'textInput', 'skipHours', 'skipDays', 'item', 'author', 'comments', 'enclosure', 'guid', 'source']);

/** Whether an element is one the format defines (or Proffer's data): anything else was injected. */
function known(element: XmlElement, format: 'atom' | 'rss'): boolean {
  if (element.uri === PROFFER_NS) return true;
  if (format === 'atom') return element.uri === ATOM_NS && ATOM_VOCABULARY.has(element.local);
  return (element.uri === '' && RSS_VOCABULARY.has(element.local)) || (element.uri === ATOM_NS && element.local === 'link');
}

/**
 * Asserts an XML feed document is inert: every element is the format's vocabulary or Proffer
 * data (nothing injected), no active element anywhere, no script URL anywhere, no active HTML text.
 */
function expectInertXml(root: XmlElement, htmlTexts: string[], format: 'atom' | 'rss'): void {
  for (const element of descendants(root)) {
    expect(known(element, format), `<${element.name}> (${element.uri || 'no namespace'}) is not ${format} vocabulary`).toBe(true);
    // `link` and the like are feed vocabulary; markup would be a script element, or anything in
    // the namespaces that browsers render (a feed has no reason to carry either). Proffer XML's
    // element names are data (schema names and the person's labels, `custom.script` included):
    // in their own namespace, no reader takes them for HTML.
    if (element.uri !== PROFFER_NS) expect(ACTIVE_XML_ELEMENTS.has(element.local.toLowerCase()), `<${element.name}> element in the document`).toBe(false);
    expect(RENDERED_NAMESPACES.has(element.uri), `<${element.name}> in ${element.uri}`).toBe(false);
  }
  for (const url of xmlUrls(root)) expect(isScriptUrl(url), `script URL in the document: ${url}`).toBe(false);
  for (const html of htmlTexts) expect(htmlHazards(html), `active HTML: ${html.slice(0, 200)}`).toEqual([]);
}

function consumeAtom(root: XmlElement): ConsumedFeed {
  expect(root.local).toBe('feed');
  expect(root.uri).toBe(ATOM_NS);
  const texts: string[] = [];
  const htmlTexts: string[] = [];
  for (const element of descendants(root)) {
    if (element.attributes.type === 'html') {
      htmlTexts.push(element.text);
      texts.push(decodeHtml(element.text));
    }
    withJson(element.text, texts);
  }
  expectInertXml(root, htmlTexts, 'atom');
  dateOf(childNamed(root, 'updated', ATOM_NS)?.text, RFC3339, 'feed updated');
  expect(childNamed(root, 'id', ATOM_NS)?.text, 'feed id').toBeTruthy();
  const entries = childrenNamed(root, 'entry', ATOM_NS).map((entry, i): ConsumedEntry => {
    const title = childNamed(entry, 'title', ATOM_NS);
    expect(title, `entry ${i}: no title`).toBeDefined();
    const type = title?.attributes.type ?? 'text';
    expect(['text', 'html'], `entry ${i}: title type ${type}`).toContain(type);
    const published = childNamed(entry, 'published', ATOM_NS);
    return {
      id: childNamed(entry, 'id', ATOM_NS)?.text ?? '',
      title: type === 'html' ? decodeHtml(title?.text ?? '') : (title?.text ?? ''),
      updated: dateOf(childNamed(entry, 'updated', ATOM_NS)?.text, RFC3339, `entry ${i} updated`),
      published: published ? dateOf(published.text, RFC3339, `entry ${i} published`) : null,
    };
  });
  const next = childrenNamed(root, 'link', ATOM_NS).find((l) => l.attributes.rel === 'next')?.attributes.href;
  return { format: 'atom', entries, next, texts };
}

function consumeRss(root: XmlElement): ConsumedFeed {
  expect(root.local).toBe('rss');
  expect(root.attributes.version).toBe('2.0');
  const channel = childNamed(root, 'channel', '');
  expect(channel, 'no <channel>').toBeDefined();
  const texts: string[] = [];
  const htmlTexts: string[] = [];
  for (const element of descendants(root)) {
    // RSS 2.0 titles and descriptions are HTML to every reader.
    if (element.uri === '' && (element.local === 'title' || element.local === 'description')) {
      htmlTexts.push(element.text);
      texts.push(decodeHtml(element.text));
    }
    withJson(element.text, texts);
  }
  expectInertXml(root, htmlTexts, 'rss');
  const entries = childrenNamed(channel as XmlElement, 'item', '').map((item, i): ConsumedEntry => {
    const guid = childNamed(item, 'guid', '');
    expect(guid, `item ${i}: no guid`).toBeDefined();
    return {
      id: guid?.text ?? '',
      title: decodeHtml(childNamed(item, 'title', '')?.text ?? ''),
      updated: dateOf(childNamed(item, 'pubDate', '')?.text, RFC822, `item ${i} pubDate`),
      published: null,
    };
  });
  const next = childrenNamed(channel as XmlElement, 'link', ATOM_NS).find((l) => l.attributes.rel === 'next')?.attributes.href;
  return { format: 'rss', entries, next, texts };
}

const JSON_FEED_URLS = ['home_page_url', 'feed_url', 'next_url', 'icon', 'favicon', 'url', 'external_url', 'image', 'banner_image', 'avatar'];

function jsonUrls(value: unknown, out: string[]): void {
  if (Array.isArray(value)) for (const item of value) jsonUrls(item, out);
  else if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      if (JSON_FEED_URLS.includes(key) && typeof item === 'string') out.push(item);
      else if (key === 'attachments' || key === 'items' || key === 'authors' || key === 'author' || key === 'hubs') jsonUrls(item, out);
    }
  }
}

function consumeJson(document: string): ConsumedFeed {
  const feed = JSON.parse(document) as {
    version: string;
    next_url?: string;
    items: { id: string; title?: string; content_html?: string; date_published?: string; date_modified?: string }[];
  };
  expect(jsonFeedErrors(feed)).toBe('');
  expect(feed.version).toBe('https://jsonfeed.org/version/1.1');
  const texts: string[] = [];
  stringLeaves(feed, texts);
  for (const text of [...texts]) withJson(text, texts);
  const urls: string[] = [];
  jsonUrls(feed, urls);
  for (const url of urls) expect(isScriptUrl(url), `script URL in the JSON Feed: ${url}`).toBe(false);
  for (const item of feed.items) {
    if (item.content_html !== undefined) {
      expect(htmlHazards(item.content_html), `active content_html: ${item.content_html.slice(0, 200)}`).toEqual([]);
      texts.push(decodeHtml(item.content_html));
    }
  }
  const entries = feed.items.map((item, i): ConsumedEntry => {
    // JSON Feed 1.1: an item has a date_published or a date_modified or both; RFC 3339.
    expect(item.date_modified ?? item.date_published, `item ${i}: no date`).toBeDefined();
    const published = item.date_published ? dateOf(item.date_published, RFC3339, `item ${i} date_published`) : null;
    return {
      id: item.id,
      title: item.title ?? '',
      updated: item.date_modified ? dateOf(item.date_modified, RFC3339, `item ${i} date_modified`) : (published as Date),
      published,
    };
  });
  return { format: 'json', entries, next: feed.next_url, texts };
}

/**
 * Whether feed-parser's reading of a text construct can be compared with the person's text.
 * It decodes HTML character references in every text it returns, Atom `type="text"` included,
 * where RFC 4287 says the text is plain; and it trims. Text that holds a character reference or
 * outer whitespace reads differently there by the library's design, not by the server's fault
 * (the exact reading is the strict sax parse, which checks every text).
 */
const feedParserReadsAsIs = (format: FeedFormat, text: string) =>
  text === text.trim() && (format === 'rss' || !/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/i.test(text));

/** feed-parser's reading must agree with the strict one: same entries, ids, titles and dates. */
function expectFeedParserAgrees(document: string, consumed: ConsumedFeed): void {
  const parsed = parseFeed(document);
  expect(parsed.meta.type).toBe(consumed.format);
  expect(parsed.items.map((item) => item.id)).toEqual(consumed.entries.map((e) => e.id));
  for (const [i, item] of parsed.items.entries()) {
    const entry = consumed.entries[i] as ConsumedEntry;
    if (feedParserReadsAsIs(consumed.format, entry.title)) expect(item.title ?? '', `feed-parser title of ${entry.id}`).toBe(entry.title);
    expect(item.updated?.valueOf(), `feed-parser date of ${entry.id}`).toBe(entry.updated.valueOf());
    for (const url of [item.url, ...item.media.map((m) => m.url)]) if (url) expect(isScriptUrl(url), `feed-parser link ${url}`).toBe(false);
  }
  for (const url of [parsed.url, parsed.self]) if (url) expect(isScriptUrl(url), `feed-parser feed link ${url}`).toBe(false);
}

/**
 * Reads one feed document with every consumer of its format and asserts what holds for any
 * feed: well-formed (xmllint and strict sax) or valid JSON Feed 1.1, each entry with an id and
 * parseable dates, ids unique, nothing active in it. Returns the strict reading.
 */
export async function consumeFeed(document: string, format: FeedFormat): Promise<ConsumedFeed> {
  let consumed: ConsumedFeed;
  if (format === 'json') consumed = consumeJson(document);
  else {
    expect(await xmllintErrors(document), 'xmllint').toBe('');
    const root = parseXml(document);
    consumed = format === 'atom' ? consumeAtom(root) : consumeRss(root);
    expectFeedParserAgrees(document, consumed);
  }
  const ids = consumed.entries.map((e) => e.id);
  for (const id of ids) expect(id, 'an entry without an id').toMatch(/\S/);
  expect(new Set(ids).size, `duplicate entry ids: ${ids.join(', ')}`).toBe(ids.length);
  return consumed;
}
