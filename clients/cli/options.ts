import { InvalidArgumentError } from 'commander';
import type { FeedFormat, OfferStatus } from '../sdk/index.js';

// Parsers of option values shared by the commands: a bad value is a usage error naming the option.

/** `a,b, c` → ['a', 'b', 'c']. */
export const list = (value: string) => value.split(',').map((item) => item.trim()).filter(Boolean);

export function oneOf<T extends string>(allowed: readonly T[], what: string) {
  return (value: string): T => {
    if (!allowed.includes(value as T)) throw new InvalidArgumentError(`${what} must be one of ${allowed.join(', ')}; got "${value}".`);
    return value as T;
  };
}

/** An amount of money, or any other number that cannot be negative. */
export function nonNegative(what: string) {
  return (value: string): number => {
    const number = Number(value);
    if (value.trim() === '' || !Number.isFinite(number) || number < 0) throw new InvalidArgumentError(`${what} must be a number, 0 or more; got "${value}".`);
    return number;
  };
}

export const FEED_FORMATS = ['atom', 'rss', 'json'] as const satisfies readonly FeedFormat[];
export const feedFormat = oneOf(FEED_FORMATS, '--format');

export const OFFER_STATUSES = ['open', 'accepted', 'declined', 'withdrawn', 'expired'] as const satisfies readonly OfferStatus[];
export const offerStatus = oneOf(OFFER_STATUSES, '--status');
