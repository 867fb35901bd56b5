import { randomBytes } from 'node:crypto';
import { Builder } from 'xml2js';
import { toXml, type ToXmlOptions } from '../xml/index.js';

/**
 * Atom 1.0, RSS 2.0 and JSON Feed 1.1 from one description of a feed.
 *
 * Written on xml2js's builder rather than the `feed` package: `feed` types every entry title as
 * HTML (person-written text would become markup), has no RFC 5005 paging links, and writes JSON
 * Feed 1.0 only. Person-written text goes out as text everywhere: Atom `type="text"`, RSS with
 * HTML-escaped text (RSS readers treat titles and descriptions as HTML), JSON Feed `content_text`.
 */
export interface FeedEntry {
  /** Stable and unique across the feed's life (a URN). */
  id: string;
  title: string;
  summary: string;
  /** Where the entry's subject can be read, if anywhere. */
  url?: string | undefined;
  published: Date;
  updated: Date;
  /** The machine-readable entry, carried as JSON (JSON Feed `_proffer`, Atom/RSS content). */
  data: unknown;
  /**
   * The same entry as one Proffer XML element (a well-formed fragment written by `toXml`, without
   * XML declaration). When given, Atom carries it inline as `<content type="application/xml">`
   * and the JSON in a `<proffer:json>` extension element; RSS carries both as extension elements.
   */
  xml?: string | undefined;
}

export interface FeedDocument {
  id: string;
  title: string;
  description: string;
  author: string;
  homeUrl: string;
  /** The URL of this page of the feed in a given format. */
  selfUrl: (format: FeedFormat) => string;
  /** The next (older) page, when there is one. */
  nextUrl?: ((format: FeedFormat) => string) | undefined;
  /** The previous (newer) page, when this page is not the newest (RFC 5005 `previous`). */
  previousUrl?: ((format: FeedFormat) => string) | undefined;
  /** The newest page (RFC 5005 `first`), on pages that are not it. */
  firstUrl?: ((format: FeedFormat) => string) | undefined;
  updated: Date;
  entries: FeedEntry[];
}

export type FeedFormat = 'atom' | 'rss' | 'json';

export const FEED_MEDIA_TYPES: Record<FeedFormat, string> = {
  atom: 'application/atom+xml',
  rss: 'application/rss+xml',
  json: 'application/feed+json',
};

const ATOM_NS = 'http://www.w3.org/2005/Atom';
const PROFFER_NS = 'https://proffer.dev/ns/1';
// Compact: feeds are read by programs (and `xmllint --format` shows them to people); indentation
// was an eighth of a vendor's Atom page.
const builder = new Builder({ xmldec: { version: '1.0', encoding: 'UTF-8' }, renderOpts: { pretty: false } });

const escapeHtml = (text: string) =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;').replaceAll("'", '&#39;');

/** RFC 5005 paging links (`next`, `previous`, `first`) of a page, in a format. */
function pagingLinks(feed: FeedDocument, format: FeedFormat) {
  const links = [
    ['next', feed.nextUrl],
    ['previous', feed.previousUrl],
    ['first', feed.firstUrl],
  ] as const;
  return links.flatMap(([rel, url]) => (url ? [{ $: { rel, type: FEED_MEDIA_TYPES[format], href: url(format) } }] : []));
}

/**
 * Entries' XML fragments are placed after building: the builder would escape them as text. Each
 * goes in as a placeholder element whose name carries a random nonce, so no person-written text
 * (escaped by the builder, and unable to guess the nonce) can be taken for one; the fragment
 * then replaces the placeholder element whole. Fragments come from `toXml`: well-formed.
 */
function fragmentSlots() {
  const name = `proffer-fragment-${randomBytes(12).toString('hex')}`;
  const fragments: string[] = [];
  return {
    slot(xml: string) {
      fragments.push(xml.replace(/^<\?xml[^>]*\?>\s*/, '').trimEnd());
      return { [name]: String(fragments.length - 1) };
    },
    fill(document: string) {
      if (fragments.length === 0) return document;
      return document.replace(new RegExp(`<${name}>(\\d+)</${name}>`, 'g'), (_, index: string) => fragments[Number(index)] as string);
    },
  };
}

export function renderAtom(feed: FeedDocument): string {
  const links = [
    { $: { rel: 'self', type: FEED_MEDIA_TYPES.atom, href: feed.selfUrl('atom') } },
    { $: { rel: 'alternate', href: feed.homeUrl } },
    ...pagingLinks(feed, 'atom'),
  ];
  const slots = fragmentSlots();
  const withXml = feed.entries.some((entry) => entry.xml !== undefined);
  return slots.fill(
    builder.buildObject({
      feed: {
        $: { xmlns: ATOM_NS, ...(withXml ? { 'xmlns:proffer': PROFFER_NS } : {}) },
        id: feed.id,
        title: { $: { type: 'text' }, _: feed.title },
        subtitle: { $: { type: 'text' }, _: feed.description },
        updated: feed.updated.toISOString(),
        author: { name: feed.author },
        link: links,
        entry: feed.entries.map((entry) => ({
          id: entry.id,
          title: { $: { type: 'text' }, _: entry.title },
          updated: entry.updated.toISOString(),
          published: entry.published.toISOString(),
          ...(entry.url ? { link: { $: { rel: 'alternate', href: entry.url } } } : {}),
          summary: { $: { type: 'text' }, _: entry.summary },
          ...(entry.xml === undefined
            ? // RFC 4287 §4.1.3.3: text content is shown as text; the JSON is for machines.
              { content: { $: { type: 'text' }, _: JSON.stringify(entry.data) } }
            : // An XML media type may be carried inline as one child element (§4.1.3.3, 3.); the
              // JSON cannot (other types must be base64), so it rides in an extension element.
              { content: { $: { type: 'application/xml' }, ...slots.slot(entry.xml) }, 'proffer:json': JSON.stringify(entry.data) }),
        })),
      },
    }),
  );
}

export function renderRss(feed: FeedDocument): string {
  const atomLinks = [{ $: { rel: 'self', type: FEED_MEDIA_TYPES.rss, href: feed.selfUrl('rss') } }, ...pagingLinks(feed, 'rss')];
  const slots = fragmentSlots();
  const withXml = feed.entries.some((entry) => entry.xml !== undefined);
  return slots.fill(
    builder.buildObject({
      rss: {
        $: { version: '2.0', 'xmlns:atom': ATOM_NS, ...(withXml ? { 'xmlns:proffer': PROFFER_NS } : {}) },
        channel: {
          title: escapeHtml(feed.title),
          link: feed.homeUrl,
          description: escapeHtml(feed.description),
          lastBuildDate: feed.updated.toUTCString(),
          'atom:link': atomLinks,
          item: feed.entries.map((entry) => ({
            title: escapeHtml(entry.title),
            ...(entry.url ? { link: entry.url } : {}),
            guid: { $: { isPermaLink: 'false' }, _: entry.id },
            pubDate: entry.updated.toUTCString(),
            description: escapeHtml(entry.summary),
            // Extension elements (RSS 2.0 allows namespaced ones): the entry as Proffer XML and as JSON.
            ...(entry.xml === undefined ? {} : { 'proffer:json': JSON.stringify(entry.data), ...slots.slot(entry.xml) }),
          })),
        },
      },
    }),
  );
}

export function renderJsonFeed(feed: FeedDocument): string {
  return JSON.stringify({
    version: 'https://jsonfeed.org/version/1.1',
    title: feed.title,
    description: feed.description,
    home_page_url: feed.homeUrl,
    feed_url: feed.selfUrl('json'),
    ...(feed.nextUrl ? { next_url: feed.nextUrl('json') } : {}),
    authors: [{ name: feed.author }],
    items: feed.entries.map((entry) => ({
      id: entry.id,
      ...(entry.url ? { url: entry.url } : {}),
      title: entry.title,
      content_text: entry.summary,
      date_published: entry.published.toISOString(),
      date_modified: entry.updated.toISOString(),
      _proffer: entry.data,
    })),
  });
}

export function renderFeed(feed: FeedDocument, format: FeedFormat): string {
  return format === 'atom' ? renderAtom(feed) : format === 'rss' ? renderRss(feed) : renderJsonFeed(feed);
}

/**
 * An entry's content as Proffer XML, or undefined when it holds a value XML cannot carry (input
 * refuses such values; older data may still hold one): the entry then keeps its JSON only.
 */
export function entryXml(content: unknown, options: ToXmlOptions): string | undefined {
  try {
    return toXml(content, { ...options, compact: true });
  } catch {
    return undefined;
  }
}
