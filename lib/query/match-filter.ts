import { parseIsoDate } from './dates.js';
import type { Dialect, FieldInfo, FieldMap, FilterNode } from './filter.types.js';
import { ANY_ONE, ANY_RUN, tokenizeLike } from './like-pattern.js';

export type RowMatcher = (row: Record<string, unknown>) => boolean;

/**
 * Compiles a filter once into a predicate over entity objects, giving the answer the SQL
 * of `compileWhere` gives: a NULL (null or undefined) column matches no comparison, not
 * even `ne`/`nin`; `like` is case-sensitive; strings compare in code point order (SQLite's
 * BINARY, PostgreSQL's COLLATE "C").
 *
 * Case-insensitive operators (`ilike`, search) fold case with `toLowerCase`, as PostgreSQL
 * does for text. SQLite folds ASCII letters only: pass `dialect: 'sqlite'` to fold the same
 * way and agree with it on non-ASCII text too ('Ä' vs 'ä').
 */
export function compileMatcher(node: FilterNode | undefined, fields: FieldMap, dialect?: Dialect): RowMatcher {
  if (!node) return () => true;
  return compileNode(node, fields, dialect === 'sqlite' ? asciiLower : unicodeLower);
}

type Fold = (s: string) => string;

/**
 * Remembers the last answer: a change is matched against every filter room in turn, and each
 * room would otherwise fold (or split into code points) the same long text again.
 */
function lastOne<T>(f: (s: string) => T): (s: string) => T {
  let lastIn: string | undefined;
  let lastOut!: T;
  return (s) => (s === lastIn ? lastOut : ((lastIn = s), (lastOut = f(s))));
}

const unicodeLower: Fold = lastOne((s) => s.toLowerCase());
const asciiLower: Fold = lastOne((s) => s.replace(/[A-Z]+/g, (m) => m.toLowerCase()));

function compileNode(node: FilterNode, fields: FieldMap, fold: Fold): RowMatcher {
  if (node.kind === 'and' || node.kind === 'or') {
    const preds = node.nodes.map((n) => compileNode(n, fields, fold));
    if (preds.length === 1) return preds[0];
    return node.kind === 'and' ? (row) => preds.every((p) => p(row)) : (row) => preds.some((p) => p(row));
  }
  const { field, op, value } = node;
  const info = fields.get(field);
  if (!info) throw new Error(`query: field "${field}" is not in the FieldMap the filter was parsed with`);
  const norm = NORMALIZE[info.kind];
  // `read` gives null for NULL and for anything the database could not have held.
  const read = (row: Record<string, unknown>) => norm(row[field]);
  const compare = info.kind === 'string' ? compareCodePoints : (a: unknown, b: unknown) => (a as number) - (b as number);

  switch (op) {
    case 'eq':
    case 'ne': {
      if (value === null) return op === 'eq' ? (row) => row[field] == null : (row) => row[field] != null;
      const want = norm(value);
      return op === 'eq'
        ? (row) => read(row) === want
        : (row) => {
            const v = read(row);
            return v !== null && v !== want;
          };
    }
    case 'isNull':
      return value ? (row) => row[field] == null : (row) => row[field] != null;
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      const want = norm(value);
      const test = { gt: (c: number) => c > 0, gte: (c: number) => c >= 0, lt: (c: number) => c < 0, lte: (c: number) => c <= 0 }[op];
      return (row) => {
        const v = read(row);
        return v !== null && test(compare(v, want));
      };
    }
    case 'in':
    case 'nin': {
      const set = new Set((value as unknown[]).map(norm));
      if (set.size === 0) return op === 'in' ? () => false : () => true; // SQL: 1=0 / 1=1
      return op === 'in'
        ? (row) => set.has(read(row))
        : (row) => {
            const v = read(row);
            return v !== null && !set.has(v);
          };
    }
    case 'like': {
      const test = likeMatcher(value as string);
      return (row) => {
        const v = row[field];
        return typeof v === 'string' && test(v);
      };
    }
    case 'ilike': {
      const test = likeMatcher(fold(value as string));
      return (row) => {
        const v = row[field];
        return typeof v === 'string' && test(fold(v));
      };
    }
    case 'contains': {
      const needle = fold(value as string);
      return (row) => {
        const v = row[field];
        return typeof v === 'string' && fold(v).includes(needle);
      };
    }
  }
}

/** A row value (or a filter value) in the form the matcher compares for a field of `kind`; null is SQL NULL. */
export function normalizeValue(kind: FieldInfo['kind'], value: unknown): unknown {
  return NORMALIZE[kind](value);
}

/** Brings a row value (or a filter value) to one comparable form per kind; null is SQL NULL. */
const NORMALIZE: Record<FieldInfo['kind'], (v: unknown) => unknown> = {
  string: (v) => (typeof v === 'string' ? v : null),
  // pg returns bigint and decimal columns as strings.
  number: (v) => (typeof v === 'number' ? v : typeof v === 'bigint' || (typeof v === 'string' && v.trim() !== '') ? Number(v) : null),
  // SQLite stores booleans as 1/0, and so does a raw query's row.
  boolean: (v) => (v === true || v === 1 ? 1 : v === false || v === 0 ? 0 : null),
  date: (v) => {
    const ms = v instanceof Date ? v.getTime() : typeof v === 'number' ? v : typeof v === 'string' ? (parseIsoDate(v)?.getTime() ?? Date.parse(v)) : NaN;
    return Number.isNaN(ms) ? null : ms;
  },
  other: (v) => (v === true ? 1 : v === false ? 0 : v instanceof Date ? v.getTime() : (v ?? null)),
};

/**
 * Code point order, which is UTF-8 byte order (SQLite BINARY, PostgreSQL "C"). Plain `<`
 * compares UTF-16 units and puts U+E000..U+FFFF after astral characters: shift the units.
 */
function compareCodePoints(a: unknown, b: unknown): number {
  const x = a as string;
  const y = b as string;
  if (x === y) return 0;
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    const cx = x.charCodeAt(i);
    const cy = y.charCodeAt(i);
    if (cx !== cy) return unitRank(cx) - unitRank(cy);
  }
  return x.length - y.length;
}

function unitRank(u: number): number {
  return u < 0xd800 ? u : u < 0xe000 ? u + 0x2000 : u - 0x800;
}

/**
 * A LIKE pattern as a predicate, without RegExp: a pattern such as `%a%a%a%…b` makes a
 * backtracking regex exponential, and this runs for every push. The pattern is cut at each
 * `%` into fixed-length segments; the first is anchored at the start, the last at the end,
 * and each one between is placed at its leftmost occurrence after the previous one, which is
 * exact for `%`. A segment without `_` is found with `indexOf`; one with `_` with a
 * bit-parallel (shift-and) scan, one step per text character and 32 pattern characters. So
 * one test reads the text a bounded number of times: linear in the text, never text × pattern
 * with backtracking.
 */
export function likeMatcher(pattern: string): (s: string) => boolean {
  const segments: Array<Array<string | typeof ANY_ONE>> = [[]];
  for (const t of tokenizeLike(pattern)) {
    if (t === ANY_RUN) segments.push([]);
    else segments[segments.length - 1].push(t);
  }
  if (segments.every((seg) => !seg.includes(ANY_ONE))) {
    // Common case (`%lamp%`): plain string search, no per-row allocation.
    return placeSegments(
      segments.map((seg) => seg.join('')),
      (s) => s,
      (s, seg, at) => s.startsWith(seg, at),
      (s, seg, from) => s.indexOf(seg, from),
    );
  }
  // `_` is one code point, not one UTF-16 unit: work on code points.
  const compiled = segments.map(compileSegment);
  return placeSegments(
    compiled,
    toCodePoints,
    (text, seg, at) => seg.fitsAt(text, at),
    (text, seg, from) => seg.find(text, from),
  );
}

const WILD = -1; // `_` in a compiled segment

interface Segment {
  length: number;
  fitsAt(text: Uint32Array, at: number): boolean;
  find(text: Uint32Array, from: number): number;
}

/** One segment between `%`s, with the shift-and masks of its leftmost-occurrence search. */
function compileSegment(tokens: Array<string | typeof ANY_ONE>): Segment {
  const units = tokens.map((t) => (t === ANY_ONE ? WILD : t.codePointAt(0)!));
  const k = units.length;
  const words = Math.max(1, Math.ceil(k / 32));
  // Bit j of a mask: pattern position j accepts the character (every character for `_`).
  const wild = new Int32Array(words);
  units.forEach((u, j) => {
    if (u === WILD) wild[j >> 5] |= 1 << (j & 31);
  });
  const masks = new Map<number, Int32Array>();
  units.forEach((u, j) => {
    if (u === WILD) return;
    let mask = masks.get(u);
    if (!mask) masks.set(u, (mask = Int32Array.from(wild)));
    mask[j >> 5] |= 1 << (j & 31);
  });
  const lastWord = (k - 1) >> 5;
  const lastBit = 1 << ((k - 1) & 31);
  const state = new Int32Array(words);
  return {
    length: k,
    fitsAt(text, at) {
      for (let j = 0; j < k; j++) if (units[j] !== WILD && units[j] !== text[at + j]) return false;
      return true;
    },
    find(text, from) {
      if (k === 0) return from;
      state.fill(0);
      for (let i = from; i < text.length; i++) {
        const mask = masks.get(text[i]) ?? wild;
        let carry = 1; // a match may start at every position
        for (let w = 0; w < words; w++) {
          const v = state[w];
          state[w] = ((v << 1) | carry) & mask[w];
          carry = v >>> 31;
        }
        if (state[lastWord] & lastBit) return i - k + 1;
      }
      return -1;
    },
  };
}

const toCodePoints = lastOne(codePoints);

function codePoints(s: string): Uint32Array {
  const out = new Uint32Array(s.length);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.codePointAt(i)!;
    out[n++] = c;
    if (c > 0xffff) i++;
  }
  return out.subarray(0, n);
}

/** Anchors the first segment at the start, the last at the end, and the ones between leftmost. */
function placeSegments<T extends { length: number }, S extends { length: number }>(
  segments: S[],
  prepare: (s: string) => T,
  fitsAt: (text: T, seg: S, at: number) => boolean,
  find: (text: T, seg: S, from: number) => number,
): (s: string) => boolean {
  const first = segments[0];
  const last = segments[segments.length - 1];
  const middle = segments.slice(1, -1).filter((seg) => seg.length > 0);
  if (segments.length === 1) {
    return (s) => {
      const text = prepare(s);
      return text.length === first.length && fitsAt(text, first, 0);
    };
  }
  return (s) => {
    const text = prepare(s);
    const end = text.length - last.length; // where the last segment must start
    if (end < first.length || !fitsAt(text, first, 0) || !fitsAt(text, last, end)) return false;
    let pos = first.length;
    for (const seg of middle) {
      const at = find(text, seg, pos);
      if (at < 0 || at + seg.length > end) return false;
      pos = at + seg.length;
    }
    return true;
  };
}
