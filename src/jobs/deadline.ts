/** The grace handlers get at a close deadline (waiting itself is settleWithin, in src/abort.ts). */

/** How long handlers get to unwind once their signals are aborted at a close deadline. */
export const ABORT_GRACE_MS = 1000;
