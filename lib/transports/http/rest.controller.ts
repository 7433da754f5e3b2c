import { Body, Controller, Delete, Get, Header, HttpCode, Param, Patch, Post, Put, Query, Req, Res, type Type } from '@nestjs/common';
import { HttpGateway } from './http-gateway.js';
import { nodeRequest } from './platform.js';
import { SseTransport } from './sse.transport.js';

/** Every answer is JSON, also a reply that is a bare string or null (see HttpGateway). */
const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * Creates the REST controller of one BindingsModule. A fresh class per module lets each
 * carry its own route prefix (set as the controller's path before Nest registers routes).
 */
export function createRestController(): Type<unknown> {
  @Controller()
  class BindingsRestController {
    constructor(
      private readonly http: HttpGateway,
      private readonly sse: SseTransport,
    ) {}

    @Post('events')
    @Header('Content-Type', JSON_TYPE)
    @HttpCode(200)
    events(@Req() request: unknown, @Body() body: unknown) {
      const req = nodeRequest(request);
      const { event, data } = this.http.envelope(this.http.body(req, body));
      return this.http.event(req, event, data);
    }

    @Get(':app/:model')
    @Header('Content-Type', JSON_TYPE)
    list(@Req() request: unknown, @Param('app') app: string, @Param('model') model: string, @Query() query: Record<string, unknown>) {
      const req = nodeRequest(request);
      return this.http.serve(req, app, model, 'list', this.http.listQuery(query));
    }

    /** Server-Sent Events; declared before `:app/:model/:id` so that `events` is not taken as an id. */
    @Get(':app/:model/events')
    stream(@Req() request: unknown, @Res() res: unknown, @Param('app') app: string, @Param('model') model: string, @Query() query: Record<string, unknown>) {
      const req = nodeRequest(request);
      return this.sse.open(req, res, app, model, query);
    }

    /** A live list as Server-Sent Events (PROTOCOL.md section 9); declared before `:app/:model/:id` too. */
    @Get(':app/:model/live')
    live(@Req() request: unknown, @Res() res: unknown, @Param('app') app: string, @Param('model') model: string, @Query() query: Record<string, unknown>) {
      const req = nodeRequest(request);
      return this.sse.openLive(req, res, app, model, query);
    }

    @Get(':app/:model/:id')
    @Header('Content-Type', JSON_TYPE)
    retrieve(
      @Req() request: unknown,
      @Param('app') app: string,
      @Param('model') model: string,
      @Param('id') id: string,
      @Query() query: Record<string, unknown>,
    ) {
      const req = nodeRequest(request);
      return this.http.serve(req, app, model, 'retrieve', this.http.retrieveQuery(id, query));
    }

    @Post(':app/:model')
    @Header('Content-Type', JSON_TYPE)
    @HttpCode(201)
    create(@Req() request: unknown, @Param('app') app: string, @Param('model') model: string, @Body() body: unknown) {
      const req = nodeRequest(request);
      return this.http.serve(req, app, model, 'create', this.http.body(req, body));
    }

    @Post(':app/:model/:action')
    @Header('Content-Type', JSON_TYPE)
    @HttpCode(200)
    action(@Req() request: unknown, @Param('app') app: string, @Param('model') model: string, @Param('action') action: string, @Body() body: unknown) {
      const req = nodeRequest(request);
      return this.http.serveAction(req, app, model, action, this.http.body(req, body));
    }

    @Patch(':app/:model/:id')
    @Header('Content-Type', JSON_TYPE)
    update(@Req() request: unknown, @Param('app') app: string, @Param('model') model: string, @Param('id') id: string, @Body() body: unknown) {
      const req = nodeRequest(request);
      return this.http.serve(req, app, model, 'update', this.http.withId(req, id, body));
    }

    @Put(':app/:model/:id')
    @Header('Content-Type', JSON_TYPE)
    save(@Req() request: unknown, @Param('app') app: string, @Param('model') model: string, @Param('id') id: string, @Body() body: unknown) {
      const req = nodeRequest(request);
      return this.http.serve(req, app, model, 'save', this.http.withId(req, id, body));
    }

    @Delete(':app/:model/:id')
    @Header('Content-Type', JSON_TYPE)
    remove(@Req() request: unknown, @Param('app') app: string, @Param('model') model: string, @Param('id') id: string) {
      const req = nodeRequest(request);
      return this.http.serve(req, app, model, 'delete', { id });
    }
  }
  return BindingsRestController;
}
