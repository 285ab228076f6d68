/**
 * Events as they arrive (a subscription's callback pushes them), and waits for the first one from now on that
 * matches: each push wakes the waiters, so a test waits for the event itself, not on a polling timer.
 */
export class EventLog<T> {
  /** Every event so far, in arrival order. */
  readonly all: T[] = [];
  private waiters: Array<{ pred: (e: T) => boolean; resolve: (e: T) => void }> = [];

  readonly push = (e: T): void => {
    this.all.push(e);
    const hit = this.waiters.filter((w) => w.pred(e));
    if (hit.length === 0) return;
    this.waiters = this.waiters.filter((w) => !hit.includes(w));
    for (const w of hit) w.resolve(e);
  };

  /** Resolves with the first event pushed after this call that matches `pred`. */
  next(pred: (e: T) => boolean): Promise<T> {
    return new Promise((resolve) => this.waiters.push({ pred, resolve }));
  }
}
