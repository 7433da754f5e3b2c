import { Controller, Get, Inject, Req, Res } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { Authenticator } from '../auth/authenticator.js';
import { BINDINGS_OPTIONS } from '../bindings.constants.js';
import type { ResolvedOptions } from '../bindings.options.js';
import { BindingError } from '../protocol/binding-error.js';
import { httpFailure } from '../transports/http/http-failure.js';
import { nodeRequest, nodeResponse, takeOver } from '../transports/http/platform.js';
import { adminPage } from './admin-page.js';
import { tokenOf, type StandaloneUser } from './token-auth.js';

/** `GET /admin`: the live page for the users of `admin.users`, with their token as `?token=` or a bearer header. */
@Controller()
export class AdminPageController {
  constructor(
    @Inject(BINDINGS_OPTIONS) private readonly options: ResolvedOptions,
    private readonly authenticator: Authenticator,
  ) {}

  @Get('admin')
  async page(@Req() request: unknown, @Res() reply: unknown): Promise<void> {
    const req = nodeRequest(request);
    let user: StandaloneUser;
    try {
      user = (await this.authenticator.authenticate(req)) as StandaloneUser;
    } catch (error) {
      throw httpFailure(error);
    }
    if (!user.admin) throw httpFailure(new BindingError('forbidden', 'The admin page is for the users of the configuration admin.users'));
    const nonce = randomBytes(16).toString('base64');
    const res = nodeResponse(reply);
    takeOver(reply);
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
      'content-security-policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; style-src-attr 'unsafe-inline'; img-src data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'`,
    });
    res.end(adminPage(tokenOf(req)!, nonce, this.options.path));
  }
}
