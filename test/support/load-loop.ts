// Test helper: a load of `workers` loops that run until stopped (the write and read loads of
// the cluster harnesses).

export abstract class LoadLoop {
  /** True once stop() was called: each worker ends its loop at its next turn. */
  protected stopped = false;
  private readonly done: Promise<void>[] = [];

  constructor(private readonly workerCount: number) {}

  start(): void {
    for (let w = 0; w < this.workerCount; w++) this.done.push(this.worker(w));
  }

  /** Stops the loops; resolves once every worker has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.done);
  }

  /** Worker `w`'s loop: runs while !this.stopped. */
  protected abstract worker(w: number): Promise<void>;
}
