import { HttpException, Injectable } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import { Dispatcher } from '../../actions/dispatcher.js';
import { Authenticator } from '../../auth/authenticator.js';
import { CRUD_ACTIONS } from '../../bindings.constants.js';
import { BindingError, HTTP_STATUS } from '../../protocol/binding-error.js';
import { isPlainObject } from '../../protocol/plain-object.js';
import { parseOrderString } from '../../query/index.js';
import { BindingRegistry } from '../../registry/binding.registry.js';

/**
 * Turns REST requests into events for the dispatcher, and its errors into HTTP answers
 * with the body `{"error": {code, message, details?}}`. The actions are the WebSocket ones.
 */
@Injectable()
export class HttpGateway {
  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly authenticator: Authenticator,
    private readonly registry: BindingRegistry,
  ) {}

  /** Serves `<app>.<model>.<action>` with `data`. */
  async serve(req: IncomingMessage, app: string, model: string, action: string, data: unknown): Promise<unknown> {
    const stream = `${app}.${model}`;
    if (!this.registry.get(stream)) return fail(new BindingError('unknown_event', `No binding named ${stream}`));
    return this.event(req, `${stream}.${action}`, data);
  }

  /** `POST /<app>/<model>/<action>`: `search` and custom actions. The other actions have their own routes. */
  serveAction(req: IncomingMessage, app: string, model: string, action: string, data: unknown): Promise<unknown> {
    if (action !== 'search' && (CRUD_ACTIONS as readonly string[]).includes(action)) {
      return fail(new BindingError('unknown_event', `${action} is not served at this route; see the REST mapping`));
    }
    return this.serve(req, app, model, action, data);
  }

  /** Serves any event, as `POST /api/events` does. */
  async event(req: IncomingMessage, event: string, data: unknown): Promise<unknown> {
    try {
      const user = await this.authenticator.authenticate(req);
      return await this.dispatcher.dispatch(event, data, { user, transport: 'http' });
    } catch (error) {
      return fail(error instanceof BindingError ? error : new BindingError('internal', 'Internal error'));
    }
  }

  /** The body of `POST /api/events`: `{event, data}`. */
  envelope(body: unknown): { event: string; data: unknown } {
    if (!isPlainObject(body) || typeof body.event !== 'string' || body.event.length === 0) {
      fail(BindingError.badRequest('The body must be {"event": string, "data": any}'));
    }
    return { event: body.event as string, data: body.data };
  }

  /** `data` of a `list` from query parameters: page, limit, order=-price,name, filter=<json>, include=a,b. */
  listQuery(query: Record<string, unknown>): Record<string, unknown> {
    const data: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(query)) {
      if (typeof value !== 'string') fail(BindingError.badRequest(`Query parameter ${key} must be given once`));
      switch (key) {
        case 'page':
        case 'limit':
          data[key] = value;
          break;
        case 'order':
          data.order = parseOrderString(value as string);
          break;
        case 'filter':
          data.filter = parseJson(value as string, 'filter');
          break;
        case 'include':
          data.include = (value as string).split(',').filter(Boolean);
          break;
        default:
          fail(BindingError.badRequest(`Unknown query parameter ${key}; use page, limit, order, filter, include`));
      }
    }
    return data;
  }

  /** `data` of a retrieve: the id of the path, and `include=a,b`. */
  retrieveQuery(id: string, query: Record<string, unknown>): Record<string, unknown> {
    const data: Record<string, unknown> = { id };
    for (const [key, value] of Object.entries(query)) {
      if (key !== 'include' || typeof value !== 'string') fail(BindingError.badRequest(`Unknown query parameter ${key}; use include`));
      data.include = (value as string).split(',').filter(Boolean);
    }
    return data;
  }

  /** A write body with the id of the path. */
  withId(id: string, body: unknown): Record<string, unknown> {
    if (!isPlainObject(body)) fail(BindingError.badRequest('The body must be a JSON object'));
    return { ...body, id };
  }
}

function parseJson(text: string, name: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return fail(BindingError.badRequest(`${name} must be JSON`));
  }
}

/** Throws the HTTP form of a BindingError; Nest's exception layer sends it. */
function fail(error: BindingError): never {
  throw new HttpException({ error: error.toJSON() }, HTTP_STATUS[error.code]);
}
