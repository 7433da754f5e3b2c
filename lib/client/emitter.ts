/** A listener that throws must not break the client: its error is rethrown on its own turn. */
function report(error: unknown): void {
  setTimeout(() => {
    throw error;
  }, 0);
}

/** A minimal event emitter, the same in browsers and Node. */
export class Listeners {
  private readonly byName = new Map<string, Set<(...args: any[]) => void>>();

  add(name: string, listener: (...args: any[]) => void): () => void {
    let set = this.byName.get(name);
    if (!set) this.byName.set(name, (set = new Set()));
    set.add(listener);
    return () => this.remove(name, listener);
  }

  remove(name: string, listener: (...args: any[]) => void): void {
    this.byName.get(name)?.delete(listener);
  }

  has(name: string): boolean {
    return (this.byName.get(name)?.size ?? 0) > 0;
  }

  emit(name: string, ...args: unknown[]): void {
    const set = this.byName.get(name);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(...args);
      } catch (error) {
        report(error);
      }
    }
  }

  clear(): void {
    this.byName.clear();
  }
}
