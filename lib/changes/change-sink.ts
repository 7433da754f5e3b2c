import type { EntityChange } from '../rows/entity-change.js';

/**
 * Where committed changes go once captured. The capture sits below the rooms and their
 * adapter, so it names only this; the room adapter is the sink (bindings.providers.ts).
 */
export abstract class ChangeSink {
  /** A change was committed: hand it on. */
  abstract publish(change: EntityChange): void;
}
