import { Inject, Injectable, Logger } from '@nestjs/common';
import { BINDINGS_OPTIONS } from '../bindings.constants.js';
import type { ResolvedOptions } from '../bindings.options.js';
import { BindingError } from '../protocol/binding-error.js';
import { hookMessage } from '../protocol/hook-message.js';
import { APPLICATION_FILTER_LIMITS, compileMatcher, inputKey, parseFilter, sameInput, type FilterNode } from '../query/index.js';
import type { BindingDefinition } from '../registry/binding-definition.js';
import type { Row } from '../rows/entity-change.js';

/** Parsed scope answers kept per binding (see AccessPolicy.parsed). */
const PARSED_SCOPES = 256;

/** A scope answer of the application (a copy) and its parse. */
interface ParsedScope {
  answer: unknown;
  node: FilterNode;
}

/** A receiver of pushes as `mayReceive` sees it: its user, and its compiled scope matchers by stream (undefined until needed). */
export interface ScopeCache {
  readonly user: unknown;
  scopes: Map<string, (row: Row) => boolean> | undefined;
  /** Its scope on `stream` compiled already and shared with the receivers of the same scope, when it has one. */
  sharedScope?(stream: string): ((row: Row) => boolean) | undefined;
}

/**
 * `can` and `scope` of the bindings, applied the same way to requests of both transports
 * and to every push, so a subscriber never receives a row it could not retrieve.
 */
@Injectable()
export class AccessPolicy {
  private readonly logger = new Logger('BindingsModule');
  /**
   * Parsed scopes by binding and input key: the hook runs on every request (its answer may
   * change at any time), but an answer seen before is not parsed again. At most
   * PARSED_SCOPES per binding, the oldest dropped first.
   */
  private readonly parsed = new Map<string, Map<string, ParsedScope>>();
  /** Per binding, the last answer parsed or found: most answers repeat the last one, which costs no key. */
  private readonly lastAnswer = new Map<string, ParsedScope>();

  constructor(@Inject(BINDINGS_OPTIONS) private readonly options: ResolvedOptions) {}

  /** The row-level filter of `user` on `binding`, or undefined when the binding has no scope. */
  scope(binding: BindingDefinition, user: unknown): FilterNode | undefined {
    const scope = binding.options.scope;
    if (!scope) return undefined;
    let filter: unknown;
    try {
      filter = scope(user);
    } catch (error) {
      throw this.hookFailed('scope', binding.stream, error);
    }
    if (filter === undefined || filter === null) return undefined;
    const last = this.lastAnswer.get(binding.stream);
    if (last && sameInput(filter, last.answer)) return last.node;
    const key = inputKey(filter);
    let byKey = this.parsed.get(binding.stream);
    const known = key === undefined ? undefined : byKey?.get(key);
    if (known) {
      this.lastAnswer.set(binding.stream, known);
      return known.node;
    }
    let node: FilterNode | undefined;
    try {
      node = parseFilter(filter, binding.allFields, APPLICATION_FILTER_LIMITS);
    } catch (error) {
      // A broken scope is the application's bug; refusing is the only safe answer.
      throw new BindingError('internal', `The scope of ${binding.stream} is not a valid filter`);
    }
    if (node && key !== undefined) {
      if (!byKey) this.parsed.set(binding.stream, (byKey = new Map()));
      if (byKey.size >= PARSED_SCOPES) byKey.delete(byKey.keys().next().value!);
      // A copy of the answer: the application may change the object it answered with later.
      const parsed = { answer: structuredClone(filter), node };
      byKey.set(key, parsed);
      this.lastAnswer.set(binding.stream, parsed);
    }
    return node;
  }

  /** Throws `forbidden` unless `can[action]` (if any) allows `user` on `subject`. */
  async authorize(binding: BindingDefinition, action: string, user: unknown, subject: unknown): Promise<void> {
    if (!(await this.allowsNow(binding, action, user, subject))) throw new BindingError('forbidden', `Not allowed to ${action} ${binding.name}`);
  }

  /** Whether `can[action]` allows `user` on `subject`; a hook that throws still fails the request. */
  async allows(binding: BindingDefinition, action: string, user: unknown, subject: unknown): Promise<boolean> {
    return this.allowsNow(binding, action, user, subject);
  }

  /**
   * As `allows`, answered at once when there is no hook or the hook answers synchronously,
   * so the common case costs no promise.
   */
  allowsNow(binding: BindingDefinition, action: string, user: unknown, subject: unknown): boolean | Promise<boolean> {
    const can = binding.options.can?.[action];
    if (!can) return true;
    let allowed: unknown;
    try {
      allowed = can(user, subject);
    } catch (error) {
      throw this.hookFailed(`can.${action}`, binding.stream, error);
    }
    if (!isThenable(allowed)) return Boolean(allowed);
    return Promise.resolve(allowed).then(Boolean, (error: unknown) => {
      throw this.hookFailed(`can.${action}`, binding.stream, error);
    });
  }

  /**
   * Whether its user may receive a push carrying `row` (all columns): the scope and
   * `can.retrieve`, exactly as a retrieve would apply them. Synchronous when it can be.
   * The scope is the receiver's shared one when it has one (`sharedScope`), else compiled
   * once into `receiver.scopes` (made on first need: an empty Map costs about 180 bytes, a
   * compiled scope about 230, per socket).
   */
  mayReceive(binding: BindingDefinition, receiver: ScopeCache, row: Row | undefined): boolean | Promise<boolean> {
    if (!row) return false;
    const user = receiver.user;
    if (binding.options.scope) {
      const matches = receiver.sharedScope?.(binding.stream) ?? this.ownScope(binding, receiver);
      if (!matches(row)) return false;
    }
    const can = binding.options.can?.retrieve;
    if (!can) return true;
    try {
      const verdict: unknown = can(user, row);
      // Any thenable is awaited (a promise of another library or realm too): only `true` lets the push through.
      if (isThenable(verdict)) return Promise.resolve(verdict).then(Boolean, () => false);
      return Boolean(verdict);
    } catch {
      return false;
    }
  }

  /** The receiver's scope on `binding`, compiled on first use and kept on it; one that cannot compile matches nothing. */
  private ownScope(binding: BindingDefinition, receiver: ScopeCache): (row: Row) => boolean {
    const scopes = (receiver.scopes ??= new Map());
    let matches = scopes.get(binding.stream);
    if (!matches) {
      try {
        matches = compileMatcher(this.scope(binding, receiver.user), binding.allFields, binding.sql.dialect);
      } catch {
        matches = () => false;
      }
      scopes.set(binding.stream, matches);
    }
    return matches;
  }

  /** The name shown in presence lists, or undefined for anonymous users. */
  identify(user: unknown): string | undefined {
    if (user === null || user === undefined) return undefined;
    try {
      return this.options.identify(user);
    } catch (error) {
      throw this.hookFailed('identify', undefined, error);
    }
  }

  /** A hook of the application threw: logged here with its message, answered `internal` (section 6). */
  private hookFailed(hook: string, stream: string | undefined, error: unknown): BindingError {
    this.logger.error(`The ${hook} hook${stream ? ` of ${stream}` : ''} threw: ${hookMessage(error)}`);
    return new BindingError('internal', 'Internal error');
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}
