/**
 * How failures of observers reach someone: a promise that hands its rejection to a reporter if nobody
 * reads it, so a failure is never silent and never an unhandled rejection. (The events module's own
 * reports go to the last-resort sink, `reportUnhandled` in diagnostics.ts.)
 */
/**
 * A promise that notes whether anyone subscribed to it. Built with `Promise`'s own species, so the
 * promises derived from it are ordinary ones.
 */
class ObservedPromise<T> extends Promise<T> {
  static override get [Symbol.species]() {
    return Promise;
  }

  observed = false;

  // biome-ignore lint/suspicious/noThenProperty: overriding then is how the promise learns it is observed.
  override then<R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    this.observed = true;
    return super.then(onFulfilled, onRejected);
  }
}

/**
 * Returns a promise that settles like `source`. If it rejects and no one has subscribed to it by the next
 * turn of the event loop, the reason goes to `report` instead of becoming an unhandled rejection.
 */
export function reportIfUnobserved<T>(source: Promise<T>, report: (error: unknown) => void): Promise<T> {
  const result = new ObservedPromise<T>((resolve, reject) => {
    source.then(resolve, (error: unknown) => {
      reject(error);
      setImmediate(() => {
        if (!result.observed) report(error);
      });
    });
  });
  // Our own subscription, through the base method so it does not count as the caller's.
  Promise.prototype.then.call(result, undefined, () => {});
  return result;
}
