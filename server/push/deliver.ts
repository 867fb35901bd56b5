import http from 'node:http';
import https from 'node:https';
import { Webhook } from 'standardwebhooks';
import { pinnedLookup, TargetRefused, vetTarget, type TargetPolicy, type VettedTarget } from './targets.js';

/** One signed POST of one message to a webhook. */
export interface Message {
  url: string;
  secret: string;
  /** The Standard Webhooks message id: the same on every retry, so receivers can deduplicate. */
  id: string;
  body: string;
}

export interface DeliveryLimits {
  timeoutMs: number;
  /** Aborts the attempt (shutdown). */
  signal?: AbortSignal;
}

export type Outcome = { delivered: true; status: number } | { delivered: false; status?: number; error: string };

/** Of a failed delivery's response, only this much is read (to quote it); of a success, nothing. */
const EXCERPT_BYTES = 512;
const USER_AGENT = 'Proffer-Webhooks/1';

/** The Standard Webhooks headers for this message, signed now. */
export function signedHeaders(message: Pick<Message, 'secret' | 'id' | 'body'>, at = new Date()): Record<string, string> {
  return {
    'webhook-id': message.id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(message.secret).sign(message.id, at, message.body),
  };
}

/**
 * Delivers one message: the target is checked again now, the connection goes to the checked
 * address, redirects are failures, and the whole attempt (DNS, connection, TLS, response) is
 * bounded in time; at most a few hundred bytes of the response are read. 2xx is delivered; anything else, or no answer, is not.
 */
export async function deliver(message: Message, policy: TargetPolicy, limits: DeliveryLimits): Promise<Outcome> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error(`no answer within ${limits.timeoutMs} ms`)), limits.timeoutMs);
  const onAbort = () => controller.abort(new Error('the server is shutting down'));
  limits.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const aborted = new Promise<never>((_, reject) => {
      controller.signal.addEventListener('abort', () => reject(controller.signal.reason as Error), { once: true });
    });
    aborted.catch(() => {});
    const target = await Promise.race([vetTarget(message.url, policy), aborted]);
    return await Promise.race([post(target, message, controller.signal), aborted]);
  } catch (error) {
    if (error instanceof TargetRefused) return { delivered: false, error: `target refused: ${error.message}` };
    return { delivered: false, error: (error as Error).message || String(error) };
  } finally {
    clearTimeout(timer);
    limits.signal?.removeEventListener('abort', onAbort);
  }
}

function post(target: VettedTarget, message: Message, signal: AbortSignal): Promise<Outcome> {
  const { url } = target;
  const client = url.protocol === 'https:' ? https : http;
  return new Promise<Outcome>((resolve) => {
    const request = client.request({
      method: 'POST',
      host: target.host,
      port: url.port || undefined,
      path: `${url.pathname}${url.search}`,
      // A fresh connection per attempt: a pooled one might have been opened to another address.
      agent: false,
      lookup: pinnedLookup(target) as never,
      signal,
      headers: {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(message.body)),
        'user-agent': USER_AGENT,
        ...signedHeaders(message),
      },
    });
    request.on('error', (error) => resolve({ delivered: false, error: describe(error, signal) }));
    request.on('response', (response) => {
      const status = response.statusCode ?? 0;
      // The status decides. A success is not read further; of a failure only the start is read,
      // to quote it in the webhook's lastError. Either way the connection is then dropped, so
      // neither a huge nor a never-ending response can hold the dispatcher.
      if (status >= 200 && status < 300) {
        response.destroy();
        resolve({ delivered: true, status });
        return;
      }
      const excerpt: Buffer[] = [];
      let read = 0;
      const finish = () => {
        response.destroy();
        const text = Buffer.concat(excerpt).toString('utf8').replace(/[\p{Cc}\s]+/gu, ' ').trim().slice(0, 200);
        if (status >= 300 && status < 400) resolve({ delivered: false, status, error: `HTTP ${status}: redirects are not followed` });
        else resolve({ delivered: false, status, error: `HTTP ${status}${text ? `: ${text}` : ''}` });
      };
      response.on('data', (chunk: Buffer) => {
        excerpt.push(chunk.subarray(0, EXCERPT_BYTES - read));
        read += chunk.length;
        if (read >= EXCERPT_BYTES) finish();
      });
      response.on('end', finish);
      response.on('error', finish);
    });
    request.end(message.body);
  });
}

function describe(error: Error, signal: AbortSignal): string {
  if (signal.aborted) return (signal.reason as Error | undefined)?.message ?? 'aborted';
  const code = (error as NodeJS.ErrnoException).code;
  return code ? `${code}: ${error.message}` : error.message;
}
