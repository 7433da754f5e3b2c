/** What a hook threw, for the server's log (never sent to a client). */
export function hookMessage(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  try {
    return String(error);
  } catch {
    return 'an unprintable value';
  }
}
