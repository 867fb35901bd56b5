/** Exit statuses, documented in clients/README.md. */
export const EXIT = {
  ok: 0,
  /** The server refused (a problem), or the operation failed. */
  failed: 1,
  /** The command was used wrongly: unknown option, unreadable or invalid file, not logged in. */
  usage: 2,
  /** The server could not be reached. */
  unreachable: 3,
} as const;

/** A mistake on the command line or in a file the user gave: said plainly, exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
