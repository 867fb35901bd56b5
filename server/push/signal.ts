/**
 * "Something may have been written to the outbox": the app raises it after every successful
 * write request, and this process's dispatcher wakes at once instead of at its next poll. Other
 * processes still find the messages by polling. Keyed by the application context, so several
 * servers in one process (tests) do not wake each other.
 */
const listeners = new WeakMap<object, Set<() => void>>();

export function onOutboxWrite(ctx: object, listener: () => void): () => void {
  let set = listeners.get(ctx);
  if (!set) listeners.set(ctx, (set = new Set()));
  set.add(listener);
  return () => set.delete(listener);
}

export function outboxWritten(ctx: object): void {
  for (const listener of listeners.get(ctx) ?? []) listener();
}
