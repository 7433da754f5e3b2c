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
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return false;
    key.text += '{';
    for (const name of Object.keys(value)) {
      key.text += `${JSON.stringify(name)}:`;
      if (!write((value as Record<string, unknown>)[name], key)) return false;
    }
    key.text += '}';
  }
  return key.text.length <= MAX_KEY_LENGTH;
}
