import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';

/** Where the captured bytes of a request body are kept on the request. */
export const RAW_BODY = Symbol.for('nest-bindings:raw-body');

type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Reads the body of the requests that `matches` selects into a Buffer (`req[RAW_BODY]`)
 * before the application sees them. A signature covers the exact bytes sent, which a JSON
 * body parser does not keep; the application's parser is registered before any module
 * can add middleware, so the bytes are taken one step earlier, at the HTTP server, for
 * these requests only. A fully read request is left alone by the body parser (it checks
 * whether the request is finished), and the route parses the captured bytes itself.
 *
 * Answers a function that restores the server's listeners.
 */
export function captureRawBodies(server: Server, matches: (req: IncomingMessage) => boolean, limit: number): () => void {
  const listeners = server.listeners('request') as RequestListener[];
  const forward: RequestListener = (req, res) => {
    for (const listener of listeners) listener.call(server, req, res);
  };
  const capture: RequestListener = (req, res) => {
    if (!matches(req)) return forward(req, res);
    readBody(req, limit).then(
      (body) => {
        (req as any)[RAW_BODY] = body;
        forward(req, res);
      },
      (error: Error & { status?: number }) => {
        const tooLarge = error.status === 413;
        res.statusCode = tooLarge ? 413 : 400;
        res.setHeader('content-type', 'application/json; charset=utf-8');
        res.setHeader('connection', 'close');
        const body = tooLarge ? { code: 'too_large', message: 'The body is too large' } : { code: 'bad_request', message: 'The body could not be read' };
        res.end(JSON.stringify({ error: body }), () => req.destroy());
      },
    );
  };
  for (const listener of listeners) server.off('request', listener);
  server.on('request', capture);
  return () => {
    server.off('request', capture);
    for (const listener of listeners) server.on('request', listener);
  };
}

/**
 * The request body, at most `limit` bytes (larger: an error with status 413). `req` may be
 * another stream of the body (Fastify's preParsing payload), with its `contentLength` given.
 */
export function readBody(req: Readable, limit: number, contentLength = (req as IncomingMessage).headers?.['content-length']): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(contentLength);
    if (Number.isFinite(declared) && declared > limit) return reject(Object.assign(new Error('too large'), { status: 413 }));
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onError);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.pause();
        reject(Object.assign(new Error('too large'), { status: 413 }));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (error?: unknown) => {
      cleanup();
      reject(error instanceof Error ? error : new Error('aborted'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onError);
  });
}
