import type { Logger } from '@nestjs/common';
import { BindingError } from '../protocol/binding-error.js';
import type { EntityChange } from '../rows/entity-change.js';

/**
 * Where committed changes go once captured. The capture sits below the rooms and their
 * adapter, so it names only this; the room adapter is the sink (bindings.providers.ts).
 */
export abstract class ChangeSink {
  /** A change was committed: hand it on (pushes only: capture code calls `commit`, which live lists see too). */
  abstract publish(change: EntityChange): void;

  /**
   * One commit: the changes of a transaction (or of one statement outside a transaction), in
   * the order they were made. Live lists need to know them together, so that a client never
   * shows half a transaction. By default they are published one by one.
   */
  commit(changes: readonly EntityChange[]): void {
    for (const change of changes) if (!change.hidden) this.publish(change); // hidden: for live lists only
  }
}

/**
 * Hands one commit's changes to `sink`. A push that fails must never fail the application's
 * commit: the failure is logged, not thrown (a hook's failure was logged where it happened,
 * with its message; this says what it cost).
 */
export function commitOrLog(sink: ChangeSink, changes: readonly EntityChange[], logger: Logger): void {
  try {
    sink.commit(changes);
  } catch (error) {
    const why = error instanceof BindingError ? error.message : ((error as Error)?.stack ?? String(error));
    logger.error(`Pushes of ${changes.map((c) => `${c.binding.stream} ${c.id}`).join(', ')} were not all sent: ${why}`);
  }
}
