/** Inputs whose key would be longer than this are not worth keeping: they are parsed each time. */
const MAX_KEY_LENGTH = 2048;

/**
 * A text that is equal for two filter inputs exactly when `parseFilter` reads them alike:
 * same keys in the same order, same values of the same types (a Date is not its ISO string,
 * 1 is not "1"). A parse can then be reused for an input seen before. Undefined for an input
 * holding anything else (class instances, functions, BigInt...) or too long to keep.
 */
export function inputKey(input: unknown): string | undefined {
  const key = { text: '' };
  return write(input, key) ? key.text : undefined;
}

function write(value: unknown, key: { text: string }): boolean {
  if (key.text.length > MAX_KEY_LENGTH) return false;
  switch (typeof value) {
    case 'string':
      key.text += JSON.stringify(value);
      return true;
    case 'number':
      key.text += Object.is(value, -0) ? 'n-0' : `n${value}`;
      return true;
    case 'boolean':
      key.text += value ? 't' : 'f';
      return true;
    case 'undefined':
      key.text += 'u';
      return true;
    case 'object':
      break;
    default:
      return false;
  }
  if (value === null) {
    key.text += 'z';
  } else if (value instanceof Date) {
    key.text += `d${value.getTime()}`;
  } else if (Array.isArray(value)) {
    key.text += '[';
    for (const item of value) if (!write(item, key)) return false;
    key.text += ']';
  } else {
    if (!isPlain(value)) return false;
    key.text += '{';
    for (const name of Object.keys(value)) {
      key.text += `${JSON.stringify(name)}:`;
      if (!write((value as Record<string, unknown>)[name], key)) return false;
    }
    key.text += '}';
  }
  return key.text.length <= MAX_KEY_LENGTH;
}

/**
 * Whether two filter inputs are equal as `inputKey` tells them apart (keys in the same
 * order, values of the same types), without building either key: the common case of a
 * scope hook giving the same answer as last time costs a walk of two small objects.
 */
export function sameInput(a: unknown, b: unknown): boolean {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return Object.is(a, b);
  if (a instanceof Date || b instanceof Date) return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameInput(a[i], b[i])) return false;
    return true;
  }
  if (!isPlain(a) || !isPlain(b)) return false;
  const keys = Object.keys(a);
  const other = Object.keys(b);
  if (keys.length !== other.length) return false;
  for (let i = 0; i < keys.length; i++) {
    if (keys[i] !== other[i] || !sameInput((a as Record<string, unknown>)[keys[i]], (b as Record<string, unknown>)[keys[i]])) return false;
  }
  return true;
}

function isPlain(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
