import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Put, Query, Req, type Type } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import { HttpGateway } from './http-gateway.js';

/**
 * Creates the REST controller of one BindingsModule. A fresh class per module lets each
 * carry its own route prefix (set as the controller's path before Nest registers routes).
 */
export function createRestController(): Type<unknown> {
  @Controller()
  class BindingsRestController {
    constructor(private readonly http: HttpGateway) {}

    @Post('events')
    @HttpCode(200)
    events(@Req() req: IncomingMessage, @Body() body: unknown) {
      const { event, data } = this.http.envelope(body);
      return this.http.event(req, event, data);
    }

    @Get(':app/:model')
    list(@Req() req: IncomingMessage, @Param('app') app: string, @Param('model') model: string, @Query() query: Record<string, unknown>) {
      return this.http.serve(req, app, model, 'list', this.http.listQuery(query));
    }

    @Get(':app/:model/:id')
    retrieve(@Req() req: IncomingMessage, @Param('app') app: string, @Param('model') model: string, @Param('id') id: string, @Query() query: Record<string, unknown>) {
      return this.http.serve(req, app, model, 'retrieve', this.http.retrieveQuery(id, query));
    }

    @Post(':app/:model')
    @HttpCode(201)
    create(@Req() req: IncomingMessage, @Param('app') app: string, @Param('model') model: string, @Body() body: unknown) {
      return this.http.serve(req, app, model, 'create', body);
    }

    @Post(':app/:model/:action')
    @HttpCode(200)
    action(@Req() req: IncomingMessage, @Param('app') app: string, @Param('model') model: string, @Param('action') action: string, @Body() body: unknown) {
      return this.http.serveAction(req, app, model, action, body);
    }

    @Patch(':app/:model/:id')
    update(@Req() req: IncomingMessage, @Param('app') app: string, @Param('model') model: string, @Param('id') id: string, @Body() body: unknown) {
      return this.http.serve(req, app, model, 'update', this.http.withId(id, body));
    }

    @Put(':app/:model/:id')
    save(@Req() req: IncomingMessage, @Param('app') app: string, @Param('model') model: string, @Param('id') id: string, @Body() body: unknown) {
      return this.http.serve(req, app, model, 'save', this.http.withId(id, body));
    }

    @Delete(':app/:model/:id')
    remove(@Req() req: IncomingMessage, @Param('app') app: string, @Param('model') model: string, @Param('id') id: string) {
      return this.http.serve(req, app, model, 'delete', { id });
    }
  }
  return BindingsRestController;
}
