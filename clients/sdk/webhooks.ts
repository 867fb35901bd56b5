import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import type { WebhookMessage } from './types.js';

export { WebhookVerificationError };

export interface VerifiedWebhook {
  /** `webhook-id`: the same on every retry of one message; deduplicate on it. */
  id: string;
  /** `{type, timestamp, data}`: narrow on `type` for the shape of `data`. */
  message: WebhookMessage;
}

type HeaderBag = Headers | Record<string, string | string[] | undefined>;

function header(headers: HeaderBag, name: string): string {
  const value = headers instanceof Headers ? headers.get(name) : headers[name] ?? headers[name.toLowerCase()];
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) throw new WebhookVerificationError(`Missing ${name} header`);
  return text;
}

/**
 * Checks a webhook delivery as Proffer signs it (Standard Webhooks: `webhook-id`,
 * `webhook-timestamp`, `webhook-signature`, HMAC-SHA256 with the `whsec_` secret given when the
 * webhook was registered) and answers its payload. Throws `WebhookVerificationError` when the
 * signature does not match the exact body bytes, or the timestamp is more than five minutes off
 * (a replay). Pass the raw body as received, before any JSON parsing.
 */
export function verifyWebhook(secret: string, body: string | Buffer, headers: HeaderBag): VerifiedWebhook {
  const signed = {
    'webhook-id': header(headers, 'webhook-id'),
    'webhook-timestamp': header(headers, 'webhook-timestamp'),
    'webhook-signature': header(headers, 'webhook-signature'),
  };
  // The signature proves the body is the server's; its shape is the contract's WebhookMessage.
  const message = new Webhook(secret).verify(body, signed) as WebhookMessage;
  return { id: signed['webhook-id'], message };
}
