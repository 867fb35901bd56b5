import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/** Table types of the current schema. Migrations never import these: they are typed Kysely<unknown>. */
type Timestamp = ColumnType<Date, Date | string, Date | string>;

export interface PeopleTable {
  id: string;
  handle: string;
  password_hash: string;
  display_name: string | null;
  created_at: ColumnType<Date, Date | string | undefined, never>;
}

export interface RetiredHandlesTable {
  handle_digest: string;
  retired_at: ColumnType<Date, Date | string | undefined, never>;
}

export interface VendorsTable {
  id: string;
  client_id: string;
  secret_hash: string;
  name: string;
  homepage: string;
  contact: string;
  created_at: ColumnType<Date, Date | string | undefined, never>;
}

export interface SessionsTable {
  id: string;
  person_id: string | null;
  vendor_id: string | null;
  created_at: ColumnType<Date, Date | string | undefined, never>;
  expires_at: Timestamp;
  revoked_at: Timestamp | null;
}

export interface RefreshTokensTable {
  token_digest: string;
  session_id: string;
  created_at: ColumnType<Date, Date | string | undefined, never>;
  expires_at: Timestamp;
  rotated_at: Timestamp | null;
}

export interface ProfilesTable {
  person_id: string;
  document: ColumnType<Record<string, unknown>, string, string>;
  version: number;
  updated_at: Timestamp;
}

export interface NeedsTable {
  person_id: string;
  id: string;
  document: ColumnType<Record<string, unknown>, string, string>;
  status: 'open' | 'fulfilled' | 'withdrawn';
  visibility: 'subscribers' | 'public';
  category: string;
  wanted_by: string | null;
  version: number;
  created_at: Timestamp;
  updated_at: Timestamp;
  /** Random, set by the database: the need's public identity while it is listed (migration 0007). */
  intent_id: Generated<string>;
  /** The minute the need became public and open; null when it is not. Kept by a trigger. */
  listed_at: ColumnType<Date | null, never, never>;
  /** The creating request's Idempotency-Key and body digest, when it sent one (migration 0009). */
  idempotency_key: ColumnType<string | null, string | null | undefined, never>;
  request_digest: ColumnType<string | null, string | null | undefined, never>;
}

export interface EventsTable {
  person_id: string;
  /** int8, read as a string on both databases. */
  id: Generated<string>;
  kind: 'profile.updated' | 'need.created' | 'need.updated' | 'need.deleted';
  subject: string;
  version: number;
  data: ColumnType<Record<string, unknown>, string, string>;
  created_at: Timestamp;
}

export interface TermsTable {
  person_id: string;
  version: number;
  document: ColumnType<Record<string, unknown>, string, string>;
  created_at: ColumnType<Date, Date | string | undefined, never>;
}

export type SubscriptionStatus = 'pending' | 'active' | 'rejected' | 'revoked' | 'ended' | 'expired';

export interface SubscriptionsTable {
  person_id: string;
  id: string;
  vendor_id: string;
  status: SubscriptionStatus;
  status_reason: string | null;
  request: ColumnType<Record<string, unknown>, string, string>;
  decision: ColumnType<Record<string, unknown>, string, string>;
  granted_fields: ColumnType<string[], string, string>;
  granted_categories: ColumnType<string[], string, string>;
  duties: ColumnType<Record<string, unknown>, string, string>;
  terms_version: number;
  expires_at: Timestamp | null;
  reads_day: string | null;
  reads_on_day: ColumnType<number, number | undefined, number>;
  idempotency_key: string | null;
  request_digest: string;
  created_at: Timestamp;
  updated_at: Timestamp;
  decided_at: Timestamp | null;
  ended_at: Timestamp | null;
  /** Moved on by a trigger at every change of status, scope, duties or expiry (migration 0008). */
  grant_version: ColumnType<string, never, never>;
}

export interface AccessLogTable {
  person_id: string;
  id: Generated<string>;
  subscription_id: string;
  vendor_id: string;
  what: string;
  fields: ColumnType<string[], string, string>;
  address: string;
  at: Timestamp;
}

export interface ReceiptsTable {
  person_id: string;
  id: string;
  subscription_id: string;
  event: string;
  jws: string;
  receipt: ColumnType<Record<string, unknown>, string, string>;
  created_at: Timestamp;
}

/** Capability feed links: only the SHA-256 digest of the capability is kept. */
export interface FeedLinksTable {
  person_id: string;
  id: string;
  subscription_id: string;
  vendor_id: string;
  digest: string;
  created_at: Timestamp;
  rotated_at: Timestamp | null;
}

export interface ServerSecretsTable {
  name: string;
  value: string;
  created_at: ColumnType<Date, Date | string | undefined, never>;
}

export interface WebhooksTable {
  subscription_id: string;
  vendor_id: string;
  url: string;
  secret: string;
  /** int8, read as a string. */
  last_seq: ColumnType<string, string | number | undefined, string | number>;
  next_attempt_at: Timestamp;
  attempts: ColumnType<number, number | undefined, number>;
  last_attempt_at: Timestamp | null;
  last_delivered_at: Timestamp | null;
  last_error: string | null;
  lease_owner: string | null;
  lease_until: Timestamp | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface WebhookOutboxTable {
  subscription_id: string;
  seq: ColumnType<string, string | number, string | number>;
  message_id: string;
  type: string;
  person_id: string | null;
  event_id: string | null;
  data: ColumnType<Record<string, unknown> | null, string | null, string | null>;
  created_at: Timestamp;
}

export type AcknowledgementKind = 'revocation' | 'erasure';

export interface AcknowledgementsTable {
  subscription_id: string;
  kind: AcknowledgementKind;
  vendor_id: string;
  person_id: string;
  fields: ColumnType<string[], string, string>;
  message_id: string | null;
  requested_at: Timestamp;
  acknowledged_at: Timestamp | null;
  overdue_at: Timestamp | null;
}

export interface ErasedSubscriptionsTable {
  subscription_id: string;
  vendor_id: string;
  erased_at: Timestamp;
}

/** One row: a version of the set of listed needs, bumped by a trigger in the changing transaction. */
export interface PublicIntentsStateTable {
  id: number;
  /** int8, read as a string. */
  version: string;
  changed_at: Timestamp;
}

export type StoredOfferStatus = 'open' | 'accepted' | 'declined' | 'withdrawn' | 'expired';

export interface OffersTable {
  person_id: string;
  id: string;
  need_id: string;
  vendor_id: string;
  intent_id: string;
  message: string;
  price: ColumnType<{ amount: number; currency: string } | null, string | null, string | null>;
  valid_until: Timestamp | null;
  request: ColumnType<Record<string, unknown>, string, string>;
  request_digest: string;
  status: StoredOfferStatus;
  status_reason: string | null;
  subscription_id: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  decided_at: Timestamp | null;
}

export interface Database {
  people: PeopleTable;
  retired_handles: RetiredHandlesTable;
  vendors: VendorsTable;
  sessions: SessionsTable;
  refresh_tokens: RefreshTokensTable;
  profiles: ProfilesTable;
  needs: NeedsTable;
  events: EventsTable;
  server_secrets: ServerSecretsTable;
  terms: TermsTable;
  subscriptions: SubscriptionsTable;
  access_log: AccessLogTable;
  receipts: ReceiptsTable;
  feed_links: FeedLinksTable;
  webhooks: WebhooksTable;
  webhook_outbox: WebhookOutboxTable;
  acknowledgements: AcknowledgementsTable;
  erased_subscriptions: ErasedSubscriptionsTable;
  public_intents_state: PublicIntentsStateTable;
  offers: OffersTable;
}

export type PersonRow = Selectable<PeopleTable>;
export type NeedRow = Selectable<NeedsTable>;
export type EventRow = Selectable<EventsTable>;
export type NewEvent = Insertable<EventsTable>;
