const uncounted = () => undefined;

/**
 * Open connections per identified user, for `limits.connectionsPerUser`. Anonymous users
 * (no name) are not counted. Each transport keeps its own count (see the README).
 */
export class UserConnections {
  private readonly open = new Map<string, number>();

  constructor(private readonly limit: number) {}

  /** Whether `name` already holds the most connections allowed. */
  full(name: string | undefined): boolean {
    return name !== undefined && (this.open.get(name) ?? 0) >= this.limit;
  }

  /** Counts one more connection of `name`; the function returned counts it closed, once. */
  add(name: string | undefined): () => void {
    if (name === undefined) return uncounted;
    this.count(name);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.remove(name);
    };
  }

  /** Counts one more connection of `name`, for a caller that calls `remove(name)` exactly once when it closes. */
  count(name: string | undefined): void {
    if (name !== undefined) this.open.set(name, (this.open.get(name) ?? 0) + 1);
  }

  /** Counts one connection of `name` closed. */
  remove(name: string | undefined): void {
    if (name === undefined) return;
    const left = (this.open.get(name) ?? 0) - 1;
    if (left > 0) this.open.set(name, left);
    else this.open.delete(name);
  }
}
