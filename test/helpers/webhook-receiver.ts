import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Webhook } from 'standardwebhooks';

/**
 * A webhook receiver on 127.0.0.1 for tests: it records every request it gets (headers, raw body,
 * how it answered), answers as told (`behave`), and notices when two requests for one
 * subscription are in progress at the same time (which the dispatcher must never do).
 */

export interface Delivery {
  path: string;
  headers: Record<string, string>;
  body: string;
  /** The parsed body (Standard Webhooks `{type, timestamp, data}`). */
  message: { type: string; timestamp: string; data: Record<string, unknown> & { subscription: string } };
  /** How the receiver answered: a status, or 'dropped' when it closed the connection unanswered. */
  answer: number | 'dropped';
}

export type Behaviour =
  | { status: number; headers?: Record<string, string>; body?: string; delayMs?: number }
  /** Sends this many bytes of body, slowly enough that a reader would have to wait. */
  | { status: number; hugeBodyBytes: number }
  /** Never answers (until the connection is closed by the client). */
  | { hang: true };

export interface Receiver {
  url(path?: string): string;
  port: number;
  deliveries: Delivery[];
  /** Deliveries the receiver answered 2xx. */
  accepted(): Delivery[];
  /** How each request is answered, decided per request (default: 204). */
  behave(decide: (path: string, message: Delivery['message']) => Behaviour): void;
  /** Pairs of overlapping requests for one subscription seen so far. */
  overlaps: string[];
  /** Bytes of huge bodies actually written before the client went away. */
  hugeBodyWritten: number[];
  waitFor(predicate: (deliveries: Delivery[]) => boolean, timeoutMs?: number, what?: string): Promise<void>;
  close(): Promise<void>;
}

export function verifySignature(secret: string, delivery: Delivery): unknown {
  return new Webhook(secret).verify(delivery.body, delivery.headers);
}

export async function startReceiver(): Promise<Receiver> {
  const deliveries: Delivery[] = [];
  const overlaps: string[] = [];
  const hugeBodyWritten: number[] = [];
  const inProgress = new Map<string, number>();
  const sockets = new Set<Socket>();
  let decide: (path: string, message: Delivery['message']) => Behaviour = () => ({ status: 204 });

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const headers = Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k, String(v)]));
    let message: Delivery['message'];
    try {
      message = JSON.parse(body) as Delivery['message'];
    } catch {
      message = { type: 'unparseable', timestamp: '', data: { subscription: '' } };
    }
    const delivery: Delivery = { path: request.url ?? '', headers, body, message, answer: 'dropped' };
    deliveries.push(delivery);
    const key = message.data?.subscription ?? '';
    const concurrent = (inProgress.get(key) ?? 0) + 1;
    inProgress.set(key, concurrent);
    if (concurrent > 1) overlaps.push(`${key}: ${headers['webhook-id']}`);
    const done = () => inProgress.set(key, (inProgress.get(key) ?? 1) - 1);
    response.on('close', done);

    const behaviour = decide(delivery.path, message);
    if ('hang' in behaviour) return;
    if ('hugeBodyBytes' in behaviour) {
      delivery.answer = behaviour.status;
      response.writeHead(behaviour.status, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(64 * 1024, 'x');
      let written = 0;
      const index = hugeBodyWritten.push(0) - 1;
      const pump = () => {
        while (written < behaviour.hugeBodyBytes && !response.destroyed) {
          written += chunk.length;
          hugeBodyWritten[index] = written;
          if (!response.write(chunk)) return void response.once('drain', pump);
        }
        if (!response.destroyed) response.end();
      };
      pump();
      return;
    }
    if (behaviour.delayMs) await new Promise((resolve) => setTimeout(resolve, behaviour.delayMs));
    if (response.destroyed) return;
    delivery.answer = behaviour.status;
    response.writeHead(behaviour.status, behaviour.headers ?? {});
    response.end(behaviour.body ?? '');
  };

  const server: Server = createServer((request, response) => {
    handle(request, response).catch(() => response.destroy());
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    port,
    url: (path = '/hook') => `http://127.0.0.1:${port}${path}`,
    deliveries,
    accepted: () => deliveries.filter((d) => typeof d.answer === 'number' && d.answer >= 200 && d.answer < 300),
    behave: (next) => {
      decide = next;
    },
    overlaps,
    hugeBodyWritten,
    waitFor: async (predicate, timeoutMs = 15_000, what = 'the expected deliveries') => {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(deliveries)) {
        if (Date.now() > deadline) {
          throw new Error(`timed out waiting for ${what}; received: ${JSON.stringify(deliveries.map((d) => [d.message.type, d.answer, d.message.data?.subscription]))}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
