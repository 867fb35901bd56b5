/** Conditional requests (RFC 9110 §13): the one place If-None-Match and If-Modified-Since are read. */

/** §13.1.2: weak comparison against the current tag; `*` matches any current representation. */
export function matchesIfNoneMatch(ifNoneMatch: string, etag: string): boolean {
  return ifNoneMatch.trim() === '*' || ifNoneMatch.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}

/**
 * Whether a GET may be answered 304: If-None-Match against the tag of the representation this
 * request would be sent, or, only without it (§13.1.3), If-Modified-Since against its date.
 */
export function notModified(
  headers: { 'if-none-match'?: string | undefined; 'if-modified-since'?: string | undefined },
  etag: string,
  lastModified: Date,
): boolean {
  const ifNoneMatch = headers['if-none-match'];
  if (ifNoneMatch !== undefined) return matchesIfNoneMatch(ifNoneMatch, etag);
  const ifModifiedSince = headers['if-modified-since'];
  if (ifModifiedSince === undefined) return false;
  const since = Date.parse(ifModifiedSince);
  return !Number.isNaN(since) && lastModified.getTime() <= since;
}
