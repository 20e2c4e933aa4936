/** Subscription: the handle that ends a subscription, callable and `Disposable` so `using` works. */

/** Call it (or let `using` dispose it) to unsubscribe; calling it again does nothing. */
export type Subscription = (() => void) & Disposable;

/** Wraps an idempotent unsubscribe function as a Subscription. */
export function subscription(unsubscribe: () => void): Subscription {
  let done = false;
  const end = (() => {
    if (done) return;
    done = true;
    unsubscribe();
  }) as Subscription;
  end[Symbol.dispose] = end;
  return end;
}
