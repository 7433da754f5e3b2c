import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { ApplicationConfig, HttpAdapterHost } from '@nestjs/core';
import type { IncomingMessage } from 'node:http';
import { Dispatcher } from '../../actions/dispatcher.js';
import { Authenticator } from '../../auth/authenticator.js';
import { BINDINGS_OPTIONS, CRUD_ACTIONS } from '../../bindings.constants.js';
import type { ResolvedOptions } from '../../bindings.options.js';
import { BindingError } from '../../protocol/binding-error.js';
import { isPlainObject } from '../../protocol/plain-object.js';
import { parseOrderString } from '../../query/index.js';
import { BindingRegistry } from '../../registry/binding.registry.js';
import { httpFailure, notJson } from './http-failure.js';
import { Traffic } from '../../admin/traffic.js';
import { Publisher } from '../../publish/publisher.js';
import { answerBodyErrors, captureRawBody } from './platform.js';

/**
 * Turns REST requests into events for the dispatcher, and its errors into HTTP answers
 * with the body `{"error": {code, message, details?}}`. The actions are the WebSocket ones.
 */
@Injectable()
export class HttpGateway implements OnModuleInit, OnModuleDestroy {
  private restoreRawBody?: () => void;

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly authenticator: Authenticator,
    private readonly registry: BindingRegistry,
    @Inject(BINDINGS_OPTIONS) private readonly options: ResolvedOptions,
    private readonly adapterHost: HttpAdapterHost,
    private readonly appConfig: ApplicationConfig,
    private readonly publisher: Publisher,
    private readonly traffic: Traffic,
  ) {}

  /**
   * A body that the platform's parser rejects (invalid JSON, too large, a media type it does
   * not parse) never reaches a route: Nest's global error handler would answer it in Nest's
   * own format. Nest calls onModuleInit after registering the routes and before adding that
   * handler, so what is added here answers such errors on the REST routes with the
   * contract's `{"error": ...}` body; other paths are left alone (see platform.ts).
   */
  onModuleInit(): void {
    if (this.options.restPrefix === false) return;
    const prefix = `/${[this.appConfig.getGlobalPrefix(), this.options.restPrefix].map(trimSlashes).filter(Boolean).join('/')}`;
    answerBodyErrors(this.adapterHost.httpAdapter, (path) => prefix === '/' || path === prefix || path.startsWith(`${prefix}/`));
    // Publish signatures cover the exact bytes: kept before the platform's parser reads them.
    // Express and Fastify; another platform falls back to Nest's `rawBody: true` (req.rawBody).
    if (this.options.publish)
      this.restoreRawBody = captureRawBody(this.adapterHost.httpAdapter, (req) => this.publisher.takesRawBody(req), this.options.limits.maxPayload);
  }

  onModuleDestroy(): void {
    this.restoreRawBody?.();
    this.restoreRawBody = undefined;
  }

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
    this.traffic.requests++;
    try {
      const user = await this.authenticator.authenticate(req);
      return asBody(await this.dispatcher.dispatch(event, data, { user, transport: 'http' }));
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
          data.order = parseOrderParam(value as string);
          break;
        case 'filter':
          data.filter = parseJson(value as string, 'filter');
          break;
        case 'include':
          data.include = (value as string).split(',').filter(Boolean);
          break;
        default:
          refuseUnknownParameter(key, LIST_PARAMETERS);
      }
    }
    return data;
  }

  /** `data` of a retrieve: the id of the path, and `include=a,b`. */
  retrieveQuery(id: string, query: Record<string, unknown>): Record<string, unknown> {
    const data: Record<string, unknown> = { id };
    for (const key of Object.keys(query)) if (key !== 'include') refuseUnknownParameter(key, ['include']);
    const include = query.include;
    if (include !== undefined) {
      if (typeof include !== 'string') fail(BindingError.badRequest('Query parameter include must be given once'));
      data.include = include.split(',').filter(Boolean);
    }
    return data;
  }

  /**
   * The body of a request that carries one. A body sent with another content type never
   * reaches the JSON parser and arrives empty: say what was expected instead of answering
   * as if no field had been sent.
   */
  body(req: IncomingMessage, body: unknown): unknown {
    const type = req.headers['content-type'];
    const sent = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
    if (sent && !(typeof type === 'string' && /^application\/([\w.+-]+\+)?json\b/i.test(type))) fail(notJson(type));
    return body;
  }

  /** A write body with the id of the path; an `id` in the body must name the same row. */
  withId(req: IncomingMessage, id: string, body: unknown): Record<string, unknown> {
    body = this.body(req, body);
    if (!isPlainObject(body)) fail(BindingError.badRequest('The body must be a JSON object'));
    if (body.id !== undefined && String(body.id) !== id) {
      fail(
        BindingError.badRequest(`The body names id ${JSON.stringify(body.id)} but the path names ${id}; leave id out of the body or make them equal`, [
          { field: 'id', constraint: 'path', message: 'must equal the id of the path' },
        ]),
      );
    }
    return { ...body, id };
  }
}

/** Query parameters of a list, and those any request may carry for `authenticate` (`token`) or a cache (`_`). */
const LIST_PARAMETERS = ['page', 'limit', 'order', 'filter', 'include'];
const APPLICATION_PARAMETERS = new Set(['token', 'access_token', '_']);

/** A typo such as `?fitler=` is refused, so it never silently returns every row. */
function refuseUnknownParameter(key: string, accepted: readonly string[]): void {
  if (APPLICATION_PARAMETERS.has(key)) return;
  const near = accepted.find((name) => editDistance(name, key.toLowerCase()) <= 2);
  fail(
    BindingError.badRequest(
      `Unknown query parameter ${key}${near ? `; did you mean ${near}?` : ''} Accepted: ${[...accepted, ...APPLICATION_PARAMETERS].join(', ')}`,
      [{ field: key, constraint: 'whitelist', message: `${key} is not a query parameter of this route` }],
    ),
  );
}

/** Levenshtein distance of two short strings (parameter names), for the hint above. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length];
}

function parseJson(text: string, name: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return fail(BindingError.badRequest(`${name} must be JSON`));
  }
}

/** `order=-price,name`; a malformed one answers 400 like every other bad parameter (not 500). */
function parseOrderParam(text: string): Record<string, unknown> {
  try {
    return parseOrderString(text);
  } catch (error) {
    return fail(error instanceof BindingError ? error : BindingError.badRequest('order is malformed'));
  }
}

/**
 * The HTTP body of a reply. Nest writes objects and arrays as JSON, but sends a string as
 * it is (as text/html) and null as an empty body; those are written as JSON text here (the
 * routes declare JSON), so every success body is the reply data in JSON, as over the WebSocket.
 */
function asBody(reply: unknown): unknown {
  return typeof reply === 'object' && reply !== null ? reply : JSON.stringify(reply ?? null);
}

function trimSlashes(path: string): string {
  return path.replace(/^\/+|\/+$/g, '');
}

function fail(error: BindingError): never {
  throw httpFailure(error);
}
