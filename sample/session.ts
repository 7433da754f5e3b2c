import { BadRequestException, Body, Controller, HttpCode, Post } from '@nestjs/common';
import { randomBytes, randomInt } from 'node:crypto';
import { signToken, type SampleUser } from './auth.examples.js';

/**
 * The key the sample signs its tokens with: `SAMPLE_SECRET`, or a random one per process
 * (instances side by side must share it for a token of one to open sockets on the other).
 */
export const SAMPLE_SECRET = process.env.SAMPLE_SECRET ?? randomBytes(32).toString('hex');

/**
 * `POST /session {name}` → `{user, token}`: the sample's stand-in for a login. The page
 * connects with `?token=`, the module's `authenticate` (queryTokenAuth) turns it back into
 * the user, and `identify` names the user by `name` in presence and chat. No password: this
 * is a demo, not an account system.
 */
@Controller('session')
export class SessionController {
  @Post()
  @HttpCode(200)
  open(@Body() body: { name?: unknown }): { user: SampleUser; token: string } {
    const name = typeof body?.name === 'string' ? body.name.trim() : '';
    // eslint-disable-next-line no-control-regex
    if (name.length < 1 || name.length > 40 || /[\u0000-\u001f]/.test(name)) throw new BadRequestException('name must be 1 to 40 characters');
    const user = { id: randomInt(1, 2 ** 31), name };
    return { user, token: signToken(SAMPLE_SECRET, user) };
  }
}
