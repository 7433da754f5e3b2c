/**
 * LIKE patterns as the contract defines them: `%` any run (also empty), `_` exactly one
 * character (code point, as in SQLite and PostgreSQL), `\` makes the next character literal.
 */

/** A `%` token. */
export const ANY_RUN = Symbol('%');
/** A `_` token. */
export const ANY_ONE = Symbol('_');
/** A literal character (one code point), `%` or `_`. */
export type LikeToken = string | typeof ANY_RUN | typeof ANY_ONE;

/** True when the pattern ends in an escape with nothing to escape (PostgreSQL rejects it). */
export function hasDanglingEscape(pattern: string): boolean {
  return /(?:^|[^\\])(?:\\\\)*\\$/.test(pattern);
}

export function tokenizeLike(pattern: string): LikeToken[] {
  const tokens: LikeToken[] = [];
  let escaped = false;
  for (const ch of pattern) {
    if (escaped) {
      tokens.push(ch);
      escaped = false;
    } else if (ch === '\\') escaped = true;
    else if (ch === '%') tokens.push(ANY_RUN);
    else if (ch === '_') tokens.push(ANY_ONE);
    else tokens.push(ch);
  }
  return tokens;
}

/**
 * The same pattern in SQLite GLOB syntax, which is case-sensitive where SQLite's LIKE is
 * not. GLOB has no escape character: `*`, `?` and `[` are made literal as `[*]`, `[?]`, `[[]`.
 */
export function likeToGlob(pattern: string): string {
  let glob = '';
  for (const t of tokenizeLike(pattern)) {
    if (t === ANY_RUN) glob += '*';
    else if (t === ANY_ONE) glob += '?';
    else glob += t === '*' || t === '?' || t === '[' ? `[${t}]` : t;
  }
  return glob;
}

/** A LIKE pattern matching any string that contains `text` literally. */
export function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, '\\$&')}%`;
}
