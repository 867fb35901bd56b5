import { parseCategory, parsePath, pathMatches, redact, segmentsCover } from '../../policies/index.js';
import type { EventRow } from '../db/schema.js';

/** What a grant lets a vendor see, as it stands at the moment of reading. */
export interface GrantScope {
  fields: readonly string[];
  categories: readonly string[];
}

/**
 * One of the person's events as a vendor may see it: redacted to the grant *as it stands now*,
 * never as it stood when the event happened, so an entry from before a narrowing is narrowed too.
 * Shared by the vendor's feed and webhook deliveries, so pull and push carry the same content.
 */
export type GrantedEvent =
  | { kind: 'profile.updated'; eventId: string; version: number; at: Date; changed: string[]; profile: Record<string, unknown> }
  | { kind: 'need.created' | 'need.updated'; eventId: string; version: number; at: Date; need: Record<string, unknown> }
  | { kind: 'need.deleted'; eventId: string; version: number; at: Date; need: { id: string; category: string } };

function categoryGranted(category: unknown, granted: readonly string[]): boolean {
  const segments = parseCategory(category);
  if (!segments) return false;
  return granted.some((g) => {
    const grantedSegments = parseCategory(g);
    return grantedSegments !== undefined && segmentsCover(grantedSegments, segments);
  });
}

/** The event as the grant shows it, or null when nothing of it is granted. */
export function grantedEvent(row: EventRow, scope: GrantScope): GrantedEvent | null {
  const data = row.data as { changed?: string[]; profile?: Record<string, unknown>; need?: Record<string, unknown>; category?: string };
  const base = { eventId: row.id, version: row.version, at: row.created_at };
  switch (row.kind) {
    case 'profile.updated': {
      if (scope.fields.length === 0) return null;
      const patterns = scope.fields.map((f) => parsePath(f));
      const changed = (data.changed ?? []).filter((path) => {
        try {
          const concrete = parsePath(path);
          return patterns.some((p) => pathMatches(p, concrete));
        } catch {
          return false;
        }
      });
      if (changed.length === 0) return null;
      return { kind: row.kind, ...base, changed, profile: redact(data.profile ?? {}, scope.fields) };
    }
    case 'need.created':
    case 'need.updated':
      if (!data.need || !categoryGranted(data.need.category, scope.categories)) return null;
      return { kind: row.kind, ...base, need: data.need };
    case 'need.deleted': {
      // Deletions recorded before categories were kept on them cannot be placed: they stay out.
      const category = data.category;
      if (typeof category !== 'string' || !categoryGranted(category, scope.categories)) return null;
      return { kind: row.kind, ...base, need: { id: row.subject, category } };
    }
  }
}
