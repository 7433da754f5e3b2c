import type { AbstractHttpAdapter } from '@nestjs/core';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import { BindingError, HTTP_STATUS } from '../../protocol/binding-error.js';
import { captureRawBodies, RAW_BODY, readBody } from '../../publish/raw-body.js';
import { notJson } from './http-failure.js';

/**
 * Everything that differs between Nest's two HTTP platforms, `@nestjs/platform-express` and
 * `@nestjs/platform-fastify`, and nothing else: the actions, errors and streams are shared.
 * On Express `@Req()`/`@Res()` are Node's request and response (extended); on Fastify they are
 * a FastifyRequest and a FastifyReply, whose Node objects are `req.raw` and `reply.raw`.
 */

type Adapter = AbstractHttpAdapter | undefined;

const JSON_TYPE = 'application/json; charset=utf-8';

/** Fastify's request and reply, as far as they are used here. */
interface FastifyRequestLike {
  raw: IncomingMessage;
  url: string;
  headers: IncomingMessage['headers'];
}
interface FastifyReplyLike {
  raw: ServerResponse;
  hijack(): void;
  code(status: number): void;
  header(name: string, value: string): void;
}
interface FastifyLike {
  addHook(name: 'onError', hook: (req: FastifyRequestLike, reply: FastifyReplyLike, error: unknown, done: () => void) => void): void;
  addHook(
    name: 'onSend',
    hook: (req: FastifyRequestLike, reply: FastifyReplyLike, payload: unknown, done: (error: null, payload: unknown) => void) => void,
  ): void;
  addHook(name: 'preParsing', hook: (req: FastifyRequestLike, reply: FastifyReplyLike, payload: Readable) => Promise<Readable>): void;
}

function isFastify(adapter: Adapter): boolean {
  return adapter?.getType?.() === 'fastify';
}

function isExpress(adapter: Adapter): boolean {
  return adapter?.getType?.() === 'express';
}

/** Node's request behind `@Req()`: the hooks (`authenticate`) get an IncomingMessage on both platforms, as on the WebSocket upgrade. */
export function nodeRequest(req: unknown): IncomingMessage {
  const raw = (req as Partial<FastifyRequestLike>).raw;
  return raw && typeof raw === 'object' && 'headers' in raw ? raw : (req as IncomingMessage);
}

/** Node's response behind `@Res()`. */
export function nodeResponse(res: unknown): ServerResponse {
  const raw = (res as Partial<FastifyReplyLike>).raw;
  return raw && typeof raw === 'object' && 'writeHead' in raw ? raw : (res as ServerResponse);
}

/**
 * Takes the response over before writing to Node's response directly (an event stream):
 * Fastify would otherwise answer it as well when the handler returns. Called only once the
 * stream starts, so that an error before that is still answered through the reply.
 */
export function takeOver(res: unknown): void {
  const reply = res as Partial<FastifyReplyLike>;
  if (typeof reply.hijack === 'function' && reply.raw) reply.hijack();
}

/**
 * A body the platform's parser refused before any route ran (invalid JSON, too large, a media
 * type it does not parse) is answered, on the paths `ours` selects, with the contract's
 * `{"error": ...}` body and status instead of the platform's own; other paths are left alone.
 * Call it in onModuleInit: after the routes, before Nest adds its own error handler.
 */
export function answerBodyErrors(adapter: Adapter, ours: (path: string) => boolean): void {
  if (isExpress(adapter)) {
    adapter!.use((thrown: unknown, req: IncomingMessage & { path?: string }, res: ServerResponse, next: (error: unknown) => void) => {
      const error = ours(req.path ?? '') ? bodyError(thrown, req.headers['content-type']) : undefined;
      if (!error) return next(thrown);
      res.statusCode = HTTP_STATUS[error.code];
      res.setHeader('content-type', JSON_TYPE);
      res.end(JSON.stringify({ error }));
    });
  } else if (isFastify(adapter)) {
    // Fastify sends such an error through its error handler (Nest's, set after this). The
    // onError hook sees the error first and keeps the answer; onSend then replaces the body
    // that handler produced, so the application's error handling is not touched otherwise.
    const answers = new WeakMap<object, BindingError>();
    const fastify = adapter!.getInstance<FastifyLike>();
    fastify.addHook('onError', (req, _reply, thrown, done) => {
      const error = ours(pathOf(req.url)) ? bodyError(thrown, req.headers['content-type']) : undefined;
      if (error) answers.set(req, error);
      done();
    });
    fastify.addHook('onSend', (req, reply, payload, done) => {
      const error = answers.get(req);
      if (!error) return done(null, payload);
      answers.delete(req);
      reply.code(HTTP_STATUS[error.code]);
      reply.header('content-type', JSON_TYPE);
      done(null, JSON.stringify({ error }));
    });
  }
}

/**
 * Keeps the exact bytes of the bodies of the requests `matches` selects at `req[RAW_BODY]`
 * (Node's request), for a signature over them. Express: read at the HTTP server before the
 * application's parser (see captureRawBodies). Fastify: read in a preParsing hook and handed
 * on to Fastify's parser as a new stream of the same bytes. Answers a function that undoes it
 * where that is possible (Fastify's hooks stay, and then find nothing to match).
 */
export function captureRawBody(adapter: Adapter, matches: (req: IncomingMessage) => boolean, limit: number): () => void {
  if (isExpress(adapter)) return captureRawBodies(adapter!.getHttpServer(), matches, limit);
  if (!isFastify(adapter)) return () => undefined; // other platforms: Nest's `rawBody: true` (req.rawBody)
  let active = true;
  adapter!.getInstance<FastifyLike>().addHook('preParsing', async (req, _reply, payload) => {
    if (!active || !matches(req.raw)) return payload;
    let body: Buffer;
    try {
      body = await readBody(payload, limit, req.headers['content-length']);
    } catch (error) {
      throw (error as { status?: number }).status === 413
        ? new BindingError('too_large', 'The body is too large')
        : BindingError.badRequest('The body could not be read');
    }
    (req.raw as any)[RAW_BODY] = body;
    return new PassThrough().end(body);
  });
  return () => {
    active = false;
  };
}

/**
 * The error of a request body the platform's parser refused, or undefined for any other
 * error. Express (body-parser) marks them with a `type` such as `entity.parse.failed` and a
 * 4xx `status`; Fastify with a code `FST_ERR_CTP_*` and a `statusCode` (its JSON parser throws
 * a SyntaxError with statusCode 400 for a forbidden `__proto__` key). The parser's own
 * message is not sent: it quotes the body and names internals.
 */
function bodyError(thrown: unknown, contentType: string | string[] | undefined): BindingError | undefined {
  if (thrown instanceof BindingError) return thrown; // from captureRawBody's hook
  const { type, status, statusCode, code } = (thrown ?? {}) as { type?: unknown; status?: unknown; statusCode?: unknown; code?: unknown };
  const fastify = typeof code === 'string' && code.startsWith('FST_ERR_CTP_');
  const express = typeof type === 'string';
  const httpStatus = fastify || thrown instanceof SyntaxError ? statusCode : express ? status : undefined;
  if (typeof httpStatus !== 'number' || httpStatus < 400 || httpStatus >= 500) return undefined;
  if (httpStatus === 413) return new BindingError('too_large', 'The body is too large');
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return notJson(Array.isArray(contentType) ? contentType[0] : contentType);
  if (type === 'entity.parse.failed' || thrown instanceof SyntaxError || code === 'FST_ERR_CTP_INVALID_JSON_BODY' || code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
    return BindingError.badRequest('The body must be a JSON object or array');
  }
  return BindingError.badRequest('The body could not be read');
}

function pathOf(url: string): string {
  const end = url.indexOf('?');
  return end === -1 ? url : url.slice(0, end);
}
