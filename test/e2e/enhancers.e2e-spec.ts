import {
  Catch,
  HttpException,
  type ArgumentsHost,
  type CallHandler,
  type CanActivate,
  type ExceptionFilter,
  type ExecutionContext,
  ForbiddenException,
  Injectable,
  type NestInterceptor,
} from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR, HttpAdapterHost } from '@nestjs/core';
import { map, type Observable } from 'rxjs';
import { Category, NoteEntity, Product } from '../fixtures/entities.js';
import { http, startApp, TestSocket, type TestApp } from '../fixtures/harness.js';

// The application's global guards and interceptors apply to the bindings over both
// transports, as they would to a hand-written controller and gateway.
const seen: Array<{ type: string; pattern?: unknown; hasClient?: boolean }> = [];

@Injectable()
class NoDeleteGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    if (context.getType() === 'ws') {
      const ws = context.switchToWs();
      seen.push({ type: 'ws', pattern: ws.getPattern(), hasClient: typeof ws.getClient()?.send === 'function' });
      return ws.getPattern() !== 'shop.Product.delete' && (ws.getData() as any)?.blocked !== true;
    }
    const req = context.switchToHttp().getRequest();
    seen.push({ type: 'http', pattern: req.method });
    if (req.method === 'DELETE') throw new ForbiddenException('deleting is switched off');
    return true;
  }
}

@Injectable()
class StampInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(map((data) => (data && typeof data === 'object' && !Array.isArray(data) ? { ...data, stamped: context.getType() } : data)));
  }
}

/** An application's exception filter: it sees the bindings' REST errors like any controller's (written through the adapter, so it runs on Express and Fastify). */
@Catch(HttpException)
class TaggingFilter implements ExceptionFilter {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(exception: HttpException, host: ArgumentsHost) {
    const { httpAdapter } = this.adapterHost;
    const res = host.switchToHttp().getResponse();
    httpAdapter.setHeader(res, 'x-filtered', 'yes');
    httpAdapter.reply(res, exception.getResponse(), exception.getStatus());
  }
}

let t: TestApp;
let socket: TestSocket;
beforeAll(async () => {
  t = await startApp(
    [Product, Category, NoteEntity],
    {},
    {
      providers: [
        { provide: APP_GUARD, useClass: NoDeleteGuard },
        { provide: APP_INTERCEPTOR, useClass: StampInterceptor },
        { provide: APP_FILTER, useClass: TaggingFilter },
      ],
    },
  );
  socket = await TestSocket.open(t.ws);
});
afterAll(async () => {
  socket.close();
  await t.close();
});

it('a global guard sees the socket, the data and the event, and its refusal is forbidden', async () => {
  const created = await socket.request('shop.Product.create', { name: 'guarded', price: 1 });
  expect(created.data.name).toBe('guarded');
  const refused = await socket.request('shop.Product.delete', { id: created.data.id });
  expect(refused.error.code).toBe('forbidden');
  expect((await socket.request('shop.Product.list', { blocked: true })).error.code).toBe('forbidden');
  expect(seen).toEqual(expect.arrayContaining([{ type: 'ws', pattern: 'shop.Product.delete', hasClient: true }]));
  // Nothing was deleted.
  expect(await t.dataSource.getRepository(Product).countBy({ id: created.data.id })).toBe(1);
});

it('the same guard applies over REST', async () => {
  const created = await http(t.http, 'POST', '/api/shop/Product', { name: 'guarded rest', price: 1 });
  expect(created.status).toBe(201);
  const refused = await http(t.http, 'DELETE', `/api/shop/Product/${created.body.id}`);
  expect(refused.status).toBe(403);
  expect(seen.some((s) => s.type === 'http' && s.pattern === 'DELETE')).toBe(true);
});

it('a global interceptor transforms replies on both transports', async () => {
  const ws = await socket.request('shop.Product.list', {});
  expect(ws.data.stamped).toBe('ws');
  const rest = await http(t.http, 'GET', '/api/shop/Product');
  expect(rest.body.stamped).toBe('http');
});

it('a global exception filter handles REST errors, which keep the contract body', async () => {
  const res = await fetch(`${t.http}/api/shop/Product/999999`);
  expect(res.status).toBe(404);
  expect(res.headers.get('x-filtered')).toBe('yes');
  expect((await res.json()).error.code).toBe('not_found');
});
