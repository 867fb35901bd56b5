import { lookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';

/**
 * Which webhook URLs Proffer will call. A webhook makes the server send requests wherever a vendor
 * says, so it must not become a way into the server's own network (SSRF): https only, and every
 * address the host resolves to must be a public unicast one. The check runs when a vendor
 * registers a URL and again before every delivery, and the connection then goes to the very
 * address that was checked (see `pinnedLookup`), so a DNS answer that changes in between
 * (rebinding) cannot steer it elsewhere.
 */

export interface TargetPolicy {
  /** PROFFER_WEBHOOK_ALLOW_HTTP_LOOPBACK: loopback addresses allowed, over http too (tests, local development). */
  allowHttpLoopback: boolean;
  /** How host names are resolved; tests pass their own. */
  resolve?: Resolver;
}

export type Resolver = (hostname: string) => Promise<{ address: string; family: number }[]>;

const systemResolver: Resolver = (hostname) => lookup(hostname, { all: true, verbatim: true });

/** Why a target is refused, in words a vendor can act on. */
export class TargetRefused extends Error {
  constructor(
    readonly reason: 'malformed' | 'scheme' | 'credentials' | 'unresolvable' | 'address' | 'https-only',
    message: string,
  ) {
    super(message);
    this.name = 'TargetRefused';
  }
}

export interface VettedTarget {
  url: URL;
  /** The host without IPv6 brackets, as TLS and the Host header want it. */
  host: string;
  /** The checked address every connection for this delivery goes to. */
  address: string;
  family: 4 | 6;
}

export const MAX_URL_LENGTH = 2000;

/** The address's range per ipaddr.js, IPv4-mapped IPv6 addresses judged as the IPv4 address they carry. */
function rangeOf(address: string): { range: string; normalized: string; family: 4 | 6 } {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6 = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  return { range: parsed.range(), normalized: parsed.toString(), family: parsed.kind() === 'ipv4' ? 4 : 6 };
}

/** Checks a URL's form only (no DNS): what registration can refuse at once. */
export function parseTarget(raw: string): URL {
  if (raw.length > MAX_URL_LENGTH) throw new TargetRefused('malformed', `A webhook URL may be at most ${MAX_URL_LENGTH} characters long.`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TargetRefused('malformed', 'The webhook URL is not an absolute URL.');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TargetRefused('scheme', 'A webhook URL must be https.');
  if (url.username || url.password) {
    throw new TargetRefused('credentials', 'A webhook URL may not carry credentials; deliveries are signed with the webhook secret instead.');
  }
  if (!url.hostname) throw new TargetRefused('malformed', 'The webhook URL has no host.');
  return url;
}

/**
 * Resolves the target and checks every address it resolves to (one bad address refuses the
 * target: the resolver might hand any of them to a later connection).
 */
export async function vetTarget(raw: string, policy: TargetPolicy): Promise<VettedTarget> {
  const url = parseTarget(raw);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: { address: string; family: number }[];
  if (ipaddr.isValid(host)) {
    addresses = [{ address: host, family: host.includes(':') ? 6 : 4 }];
  } else {
    try {
      addresses = await (policy.resolve ?? systemResolver)(host);
    } catch {
      addresses = [];
    }
    if (addresses.length === 0) throw new TargetRefused('unresolvable', `The webhook host ${host} does not resolve.`);
  }
  const checked = addresses.map((a) => {
    try {
      return rangeOf(a.address);
    } catch {
      return { range: 'invalid', normalized: a.address, family: 4 as const };
    }
  });
  for (const { range } of checked) {
    const allowed = range === 'unicast' || (range === 'loopback' && policy.allowHttpLoopback);
    if (!allowed) {
      throw new TargetRefused(
        'address',
        `The webhook host resolves to a non-public address (${range}); webhooks are only delivered to public unicast addresses.`,
      );
    }
  }
  if (url.protocol === 'http:' && !(policy.allowHttpLoopback && checked.every((c) => c.range === 'loopback'))) {
    throw new TargetRefused('https-only', 'A webhook URL must be https.');
  }
  const first = checked[0] as { normalized: string; family: 4 | 6 };
  return { url, host, address: first.normalized, family: first.family };
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | { address: string; family: number }[], family?: number) => void;

/**
 * A `lookup` for node:http(s) that answers only the vetted address, whatever name it is asked
 * for: the connection cannot reach anything but what was checked.
 */
export function pinnedLookup(target: VettedTarget) {
  return (_hostname: string, options: { all?: boolean } | undefined, callback: LookupCallback): void => {
    if (options?.all) callback(null, [{ address: target.address, family: target.family }]);
    else callback(null, target.address, target.family);
  };
}
