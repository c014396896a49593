// Runs on: the main thread. The budget of every client's unparsed input together (Redis 7's
// maxmemory-clients, for input): each connection reports the bytes its parser holds after
// every chunk; when their sum passes the budget, the connection holding the most is closed
// with an error (and so on, while the sum is still over), so one or a few clients sending
// huge unfinished commands are cut off and the others are unharmed.

export interface InputHolder {
  /** Bytes this connection's parser holds (as last reported). */
  readonly bufferedInput: number;
  /** Drops its buffered input (bufferedInput becomes 0), answers an error and closes. */
  closeForInputBudget(): void;
}

/** One per server. */
export class ClientInputBudget {
  private total = 0;
  /** Connections closed for the budget (INFO). */
  closes = 0;

  constructor(
    /** 0: no budget. CONFIG SET maxmemory-clients changes it. */
    public limit: number,
    private readonly holders: () => Iterable<InputHolder>,
  ) {}

  /** Every client's buffered input bytes together. */
  get bytes(): number {
    return this.total;
  }

  /** A holder's buffered input changed by `delta`; over the budget, the biggest holders are closed. */
  change(delta: number): void {
    this.total += delta;
    while (this.limit > 0 && this.total > this.limit) {
      let victim: InputHolder | undefined;
      let most = 0;
      for (const h of this.holders()) {
        if (h.bufferedInput > most) {
          most = h.bufferedInput;
          victim = h;
        }
      }
      if (victim === undefined) return;
      this.total -= most;
      this.closes++;
      victim.closeForInputBudget();
    }
  }
}
