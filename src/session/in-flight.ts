/**
 * The two per-I/O bookkeeping structures of the data path, in place of a Map or Set that gains and loses an
 * entry per I/O: TagTable (tasks by Initiator Task Tag) and InFlightList (I/Os in issue order).
 *
 * Why not Map/Set: an ordered hash table with an insert and a delete per I/O is rebuilt every few dozen I/Os,
 * and V8 keeps each retired table linked to its successor (so that a live iterator can follow). Once one
 * retired table has been promoted to the old generation, the scavenger treats it as live until the next
 * mark-compact, so it keeps the next table, and the tasks in it, and everything they reference, alive through
 * every scavenge: measured on `mpiscsi serve` under fio 4 KiB randread at 32 in flight (`--trace-gc-nvp`),
 * about one run in two settled into that state, 2-3 MB of I/O records promoted per scavenge and scavenges of
 * 7-16 ms (0.3-0.5 ms otherwise); the 4 KiB p99 followed. The heap sampler (objects collected by scavenges
 * left out) named the survivors: the tasks and I/O records these structures hold. An array slot that is
 * cleared when its entry leaves, and list links that are cleared when a member leaves, keep nothing alive
 * that has left.
 */

/** Slots: up to 2^20 entries at once. The generation in the bits above tells a tag from its slot's earlier ones. */
const SLOT_BITS = 20;
const SLOT_MASK = (1 << SLOT_BITS) - 1;
/** Generations 1..MAX_GEN: tags stay in 1..0x7fffffff (never 0, never the reserved 0xffffffff, no high bit). */
const MAX_GEN = (1 << (31 - SLOT_BITS)) - 1;

/**
 * Values by a 31-bit tag the table chooses: slot index in the low bits, the slot's generation above, so a late
 * answer for a tag whose slot was reused finds nothing. Insertion order is kept for values() (the order the
 * caller issued in: a session fails its tasks in that order).
 */
export class TagTable<T> {
  private readonly slots: (T | undefined)[] = [];
  private readonly tags: number[] = [];
  private readonly order: number[] = [];
  private readonly free: number[] = [];
  private count = 0;
  private seq = 0;

  get size(): number {
    return this.count;
  }

  /** Stores `value`; its tag. */
  add(value: T): number {
    let slot = this.free.pop();
    if (slot === undefined) {
      slot = this.slots.length;
      if (slot > SLOT_MASK) throw new RangeError(`more than ${SLOT_MASK + 1} tasks outstanding`);
      this.slots.push(undefined);
      this.tags.push(0);
      this.order.push(0);
    }
    const gen = ((this.tags[slot] >>> SLOT_BITS) % MAX_GEN) + 1;
    const tag = (gen << SLOT_BITS) | slot;
    this.tags[slot] = tag;
    this.slots[slot] = value;
    this.order[slot] = this.seq++;
    this.count++;
    return tag;
  }

  get(tag: number): T | undefined {
    const slot = tag & SLOT_MASK;
    return this.tags[slot] === tag ? this.slots[slot] : undefined;
  }

  /** Removes the value of `tag`; false when there is none. */
  delete(tag: number): boolean {
    const slot = tag & SLOT_MASK;
    if (this.tags[slot] !== tag || this.slots[slot] === undefined) return false;
    this.slots[slot] = undefined;
    this.free.push(slot);
    this.count--;
    return true;
  }

  /** The values, in the order they were added (a copy: the caller may delete while it walks). */
  values(): T[] {
    const live: number[] = [];
    for (let slot = 0; slot < this.slots.length; slot++) if (this.slots[slot] !== undefined) live.push(slot);
    live.sort((a, b) => this.order[a] - this.order[b]);
    return live.map((slot) => this.slots[slot] as T);
  }

  clear(): void {
    for (let slot = 0; slot < this.slots.length; slot++) {
      if (this.slots[slot] === undefined) continue;
      this.slots[slot] = undefined;
      this.free.push(slot);
    }
    this.count = 0;
  }
}

/** The links an InFlightList threads through its members (a member is in one list at a time). */
export interface InFlightLinks<T> {
  flightPrev: T | undefined;
  flightNext: T | undefined;
  /** The list it is in (identity only). */
  flightList: object | undefined;
}

/** Members in the order they were pushed: O(1) push, remove and oldest; a removed member keeps no links. */
export class InFlightList<T extends InFlightLinks<T>> {
  private head: T | undefined;
  private tail: T | undefined;
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** The member pushed first, if any. */
  get oldest(): T | undefined {
    return this.head;
  }

  push(x: T): void {
    if (x.flightList !== undefined) throw new Error('already in an in-flight list');
    x.flightList = this;
    x.flightPrev = this.tail;
    x.flightNext = undefined;
    if (this.tail) this.tail.flightNext = x;
    else this.head = x;
    this.tail = x;
    this.count++;
  }

  /** Takes `x` out; false when it is not in this list. */
  remove(x: T): boolean {
    if (x.flightList !== this) return false;
    const { flightPrev: prev, flightNext: next } = x;
    if (prev) prev.flightNext = next;
    else this.head = next;
    if (next) next.flightPrev = prev;
    else this.tail = prev;
    x.flightPrev = undefined;
    x.flightNext = undefined;
    x.flightList = undefined;
    this.count--;
    return true;
  }

  /** The members, oldest first (a copy: the caller may remove while it walks). */
  toArray(): T[] {
    const out: T[] = [];
    for (let x = this.head; x !== undefined; x = x.flightNext) out.push(x);
    return out;
  }
}
