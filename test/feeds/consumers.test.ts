// The conformance checks themselves can fail: a minimal good document of each format passes them,
// and each kind of fault a feed could have (a fault of escaping, of links, of ids, of dates, of
// the format) makes them fail. Without this, a check that never looks would pass too.
import { describe, expect, it } from 'vitest';
import { consumeFeed, decodeHtml, htmlHazards, isScriptUrl, type FeedFormat } from '../helpers/feeds.js';

const atom = (entries: string, extra = '') => `<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <id>urn:test:feed</id>
  <title type="text">Test</title>
  <updated>2026-11-22T10:00:00.000Z</updated>
  <link rel="self" href="http://proffer.test/feed"/>
  ${extra}
  ${entries}
</feed>`;

const atomEntry = (id: string, title: string, updated = '2026-11-22T10:00:00.000Z', link = 'http://proffer.test/x') => `<entry>
    <id>${id}</id>
    <title type="text">${title}</title>
    <updated>${updated}</updated>
    <link rel="alternate" href="${link}"/>
    <summary type="text">s</summary>
  </entry>`;

const rss = (items: string) => `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>
  <title>Test</title><link>http://proffer.test/</link><description>d</description>
  ${items}
</channel></rss>`;

const rssItem = (id: string, title: string, pubDate = 'Sun, 22 Nov 2026 10:00:00 GMT') =>
  `<item><title>${title}</title><link>http://proffer.test/x</link><guid isPermaLink="false">${id}</guid><pubDate>${pubDate}</pubDate><description>d</description></item>`;

const jsonFeed = (items: unknown[], extra: Record<string, unknown> = {}) =>
  JSON.stringify({ version: 'https://jsonfeed.org/version/1.1', title: 'Test', home_page_url: 'http://proffer.test/', feed_url: 'http://proffer.test/feed', ...extra, items });

const jsonItem = (id: string, title: string, extra: Record<string, unknown> = {}) => ({ id, title, content_text: 't', date_published: '2026-11-22T10:00:00.000Z', ...extra });

const passes = (document: string, format: FeedFormat) => expect(consumeFeed(document, format)).resolves.toBeDefined();
const fails = (document: string, format: FeedFormat) => expect(consumeFeed(document, format)).rejects.toThrow();

describe('the feed consumers', () => {
  it('accept good documents, and give escaped text back exactly', async () => {
    const title = '&lt;script&gt;alert(1)&lt;/script&gt; &amp; ]]&gt; \u202E 🧮';
    const read = await consumeFeed(atom(atomEntry('urn:a', title) + atomEntry('urn:b', 'two')), 'atom');
    expect(read.entries.map((e) => e.title)).toEqual(['<script>alert(1)</script> & ]]> \u202E 🧮', 'two']);
    // RSS titles are HTML: the markup is escaped twice, once for HTML and once for XML.
    const rssRead = await consumeFeed(rss(rssItem('urn:a', '&amp;lt;b&amp;gt; &amp;amp;')), 'rss');
    expect(rssRead.entries[0]?.title).toBe('<b> &');
    await passes(jsonFeed([jsonItem('urn:a', '<script>'), jsonItem('urn:b', 'two')], { next_url: 'http://proffer.test/feed?cursor=x' }), 'json');
  });

  it('refuse documents that are not well-formed, whichever parser notices', async () => {
    await fails(atom(atomEntry('urn:a', 'a raw ]]> in text')), 'atom');
    await fails(atom(atomEntry('urn:a', 'an unescaped & ampersand')), 'atom');
    await fails(atom(atomEntry('urn:a', 'a control character &#x1;')), 'atom');
    await fails(atom(atomEntry('urn:a', 'an unclosed <b>')), 'atom');
    await fails(rss(rssItem('urn:a', 'undeclared &nbsp; entity')), 'rss');
  });

  it('refuse active content: script elements, script URLs, HTML that a reader would run', async () => {
    await fails(atom(atomEntry('urn:a', 'x').replace('<summary type="text">s</summary>', '<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><b>hi</b></div></content>')), 'atom');
    await fails(atom(atomEntry('urn:a', 'x').replace('<summary type="text">s</summary>', '<script>alert(1)</script>')), 'atom');
    // Markup that slipped through as elements of the feed's own namespace: not its vocabulary.
    await fails(atom(atomEntry('urn:a', 'x <b>bold</b>')), 'atom');
    await fails(rss(rssItem('urn:a', '<img src="x"/>')), 'rss');
    // Proffer XML carries the person's labels as element names, in its own namespace: data, not markup.
    await passes(atom(atomEntry('urn:a', 'x').replace('<summary type="text">s</summary>', '<content type="application/xml"><event xmlns="https://proffer.dev/ns/1"><script>t</script></event></content>')), 'atom');
    await fails(atom(atomEntry('urn:a', 'x', undefined, 'javascript:alert(1)')), 'atom');
    await fails(atom(atomEntry('urn:a', 'x'), '<link rel="next" href=" JaVa\tScRiPt:alert(1)"/>'), 'atom');
    await fails(atom(atomEntry('urn:a', 'x').replace('<summary type="text">s</summary>', '<summary type="html">&lt;img src=x onerror=alert(1)&gt;</summary>')), 'atom');
    // Escaped once only: an RSS reader renders the title as HTML and runs it.
    await fails(rss(rssItem('urn:a', '&lt;script&gt;alert(1)&lt;/script&gt;')), 'rss');
    await fails(jsonFeed([jsonItem('urn:a', 'x', { url: 'javascript:alert(1)' })]), 'json');
    await fails(jsonFeed([jsonItem('urn:a', 'x', { content_html: '<a href="javascript:alert(1)">x</a>' })]), 'json');
  });

  it('refuse entries without ids, with duplicate ids or with dates that are not the format’s', async () => {
    await fails(atom(atomEntry('urn:a', 'x') + atomEntry('urn:a', 'y')), 'atom');
    await fails(atom(atomEntry('', 'x')), 'atom');
    await fails(atom(atomEntry('urn:a', 'x', 'yesterday')), 'atom');
    await fails(atom(atomEntry('urn:a', 'x', 'Sun, 22 Nov 2026 10:00:00 GMT')), 'atom');
    await fails(rss(rssItem('urn:a', 'x', '2026-11-22T10:00:00Z')), 'rss');
    await fails(rss(rssItem('urn:a', 'x') + rssItem('urn:a', 'y')), 'rss');
    await fails(jsonFeed([jsonItem('urn:a', 'x'), jsonItem('urn:a', 'y')]), 'json');
    await fails(jsonFeed([{ title: 'no id', content_text: 't' }]), 'json');
    await fails(jsonFeed([jsonItem('urn:a', 'x', { date_published: '22/11/2026' })]), 'json');
  });

  it('refuse a document of the wrong format or version', async () => {
    await fails(rss(rssItem('urn:a', 'x')), 'atom');
    await fails(atom(atomEntry('urn:a', 'x')), 'rss');
    await fails(atom(atomEntry('urn:a', 'x')).replace('http://www.w3.org/2005/Atom', 'http://purl.org/atom/ns#'), 'atom');
    await fails(jsonFeed([]).replace('version/1.1', 'version/2'), 'json');
  });

  it('helpers: HTML hazards, script URLs and decoding', () => {
    expect(htmlHazards('&lt;script&gt; plain')).toEqual([]);
    expect(htmlHazards('<p>fine</p>')).toEqual([]);
    expect(htmlHazards('<SCRIPT>x</SCRIPT>')).not.toEqual([]);
    expect(htmlHazards('<img src="x" onerror="alert(1)">')).not.toEqual([]);
    expect(isScriptUrl('\u0001java\nscript:alert(1)')).toBe(true);
    expect(isScriptUrl('https://example.org/javascript:x')).toBe(false);
    expect(decodeHtml('&lt;&#x3C;&#60;&amp;amp;&unknown;')).toBe('<<<&amp;&unknown;');
  });
});
