import type { ChannelConfig } from '../interfaces/bindings-module-options.interface.js';
import type { ChannelOverride, StandaloneConfig } from './config.js';

/** Channels configured at run time by `POST /api/channel_config`, at most this many (the API refuses more). */
export const MAX_CONFIGURED_CHANNELS = 10_000;

/**
 * The per-channel settings of the standalone server: the overrides of the configuration
 * (by name pattern, the first match wins) and, over them, what the backend set at run time
 * through `POST /api/channel_config`.
 */
export class ChannelRules {
  private readonly patterns: Array<{ match: (name: string) => boolean; override: ChannelOverride }>;
  private readonly configured = new Map<string, ChannelConfig>();

  constructor(config: StandaloneConfig['channels']) {
    this.patterns = config.overrides.map(([pattern, override]) => ({ match: globMatcher(pattern), override }));
  }

  /** The override of the first pattern matching `channel`, if any. */
  override(channel: string): ChannelOverride | undefined {
    return this.patterns.find((p) => p.match(channel))?.override;
  }

  /** Whether any user with a valid token may join `channel`. */
  openToAnyone(channel: string): boolean {
    return this.override(channel)?.join === 'anyone';
  }

  /** The `channels.configure` of the module: run-time settings over the pattern's. */
  configure(channel: string): ChannelConfig | undefined {
    const own = this.override(channel);
    const set = this.configured.get(channel);
    if (!own && !set) return undefined;
    return { history: set?.history ?? own?.history, presence: set?.presence ?? own?.presence };
  }

  /** Whether settings of `channel` can be recorded: it has some already, or there is room for one more channel. */
  hasRoomFor(channel: string): boolean {
    return this.configured.has(channel) || this.configured.size < MAX_CONFIGURED_CHANNELS;
  }

  /** Records settings of one channel (from the backend, on this instance or another); past the bound, the oldest are forgotten. */
  set(channel: string, config: ChannelConfig): void {
    const merged = { ...this.configured.get(channel), ...config };
    this.configured.delete(channel);
    this.configured.set(channel, merged);
    if (this.configured.size > MAX_CONFIGURED_CHANNELS) this.configured.delete(this.configured.keys().next().value!);
  }

  /** Every run-time setting, for an instance that starts later (kept in Redis by the command bus). */
  entries(): Array<[string, ChannelConfig]> {
    return [...this.configured];
  }
}

/**
 * A matcher of a pattern where `*` stands for any characters (none included) and every
 * other character for itself. Greedy with one backtrack point (the last `*`), so a match
 * costs at most the product of the two lengths, both at most 200 characters.
 */
export function globMatcher(pattern: string): (name: string) => boolean {
  return (name) => {
    let p = 0;
    let n = 0;
    let star = -1;
    let resume = 0;
    while (n < name.length) {
      if (p < pattern.length && pattern[p] === '*') {
        star = p++;
        resume = n;
      } else if (p < pattern.length && pattern[p] === name[n]) {
        p++;
        n++;
      } else if (star >= 0) {
        p = star + 1;
        n = ++resume;
      } else {
        return false;
      }
    }
    while (p < pattern.length && pattern[p] === '*') p++;
    return p === pattern.length;
  };
}
