import { BindingError } from '../protocol/binding-error.js';
import { isPlainObject } from '../protocol/plain-object.js';

/** Prefix of the room of a channel: the members of channel `lobby` are the room `channel:lobby`. */
export const CHANNEL_ROOM_PREFIX = 'channel:';
/** The room holding the sockets that joined `channel`. */
export const channelRoom = (channel: string): string => `${CHANNEL_ROOM_PREFIX}${channel}`;

const MAX_CHANNEL_LENGTH = 200;
// Control characters would make log lines and room names ambiguous.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Whether `name` may name a channel: 1 to 200 characters, no control characters. */
export function isChannelName(name: unknown): name is string {
  return typeof name === 'string' && name.length > 0 && name.length <= MAX_CHANNEL_LENGTH && !CONTROL.test(name);
}

/**
 * The input object of a channel event: only the members listed are accepted (a typo answers
 * `bad_request` instead of being ignored), and `channel` must be a valid channel name.
 */
export function readChannelInput(data: unknown, event: string, members: readonly string[]): { channel: string } & Record<string, unknown> {
  if (!isPlainObject(data)) throw BindingError.badRequest(`${event} needs an object {channel${members.length ? `, ${members.join(', ')}` : ''}}`);
  const unknown = Object.keys(data).filter((key) => key !== 'channel' && !members.includes(key));
  if (unknown.length) {
    throw BindingError.badRequest(
      `Unknown member${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}`,
      unknown.map((field) => ({ field, constraint: 'whitelist', message: `${field} is not a member of ${event}` })),
    );
  }
  if (!isChannelName(data.channel)) {
    throw BindingError.badRequest('channel must be a string of 1 to 200 characters without control characters', [
      { field: 'channel', constraint: 'isChannel', message: 'channel must be a string of 1 to 200 characters without control characters' },
    ]);
  }
  return data as { channel: string } & Record<string, unknown>;
}
