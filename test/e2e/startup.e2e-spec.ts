import { jest } from '@jest/globals';
import { Injectable, Logger, type Provider } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import {
  BindingAction,
  BindingHandler,
  BindingsModule,
  DuplicateEventException,
  InvalidOptionsException,
  MissingBindingHandlerException,
  UnboundHandlerException,
  type BindingsModuleOptions,
} from '../../lib/index.js';
import { Gadget, Memo } from '../fixtures/actions-fixtures.js';
import { createTestDatabase } from '../fixtures/database.js';
import { Hidden } from '../fixtures/entities.js';
import { createApp, startApp } from '../fixtures/harness.js';

/** What the module tells the developer at start-up. */
describe('start-up', () => {
  afterEach(() => jest.restoreAllMocks());

  it('warns with the fix when a @Binding class is not an entity of the DataSource (a forgotten forFeature)', async () => {
    // Memo is imported (and so decorated) but not given to the app's DataSource.
    expect(Memo.name).toBe('Memo');
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const t = await startApp([Gadget]);
    try {
      const messages = warn.mock.calls.map(([message]) => String(message));
      expect(messages).toContainEqual(
        expect.stringContaining('Memo has @Binding but is not an entity of the DataSource these bindings serve, so it is not served.'),
      );
      expect(messages).toContainEqual(expect.stringContaining('TypeOrmModule.forFeature([Memo])'));
      // A registered binding is served and not warned about.
      expect(messages.filter((message) => message.startsWith('Gadget '))).toEqual([]);
    } finally {
      await t.close();
    }
  });
});

/** The error that stops an application with these entities and providers from starting (undefined if it starts). */
async function startupFailure(entities: Function[], providers: Provider[], options: BindingsModuleOptions = {}): Promise<unknown> {
  const database = await createTestDatabase(entities);
  try {
    const moduleRef = await Test.createTestingModule({
      imports: [TypeOrmModule.forRoot({ ...database.options, retryAttempts: 0 }), BindingsModule.forRoot(options)],
      providers,
    }).compile();
    const app = createApp(moduleRef, { logger: false });
    const failure = await app.init().then(
      () => undefined,
      (error: unknown) => error,
    );
    await app.close().catch(() => undefined);
    return failure;
  } finally {
    await database.drop();
  }
}

describe('start-up failures are exception classes whose message says the fix', () => {
  it('two handlers for one event: DuplicateEventException', async () => {
    @BindingHandler(Gadget)
    class GadgetActions {
      @BindingAction('list')
      list() {
        return [];
      }
    }
    const failure = await startupFailure([Gadget], [GadgetActions]);
    expect(failure).toBeInstanceOf(DuplicateEventException);
    expect((failure as Error).message).toBe(
      'The event "shop.Gadget.list" has two handlers. Rename one of the @BindingAction/@OnStream methods, or leave the CRUD action out of the binding\'s actions.',
    );
  });

  it('@BindingAction without @BindingHandler on its class: MissingBindingHandlerException', async () => {
    @Injectable()
    class Orphan {
      @BindingAction('polish')
      polish() {
        return null;
      }
    }
    const failure = await startupFailure([Gadget], [Orphan]);
    expect(failure).toBeInstanceOf(MissingBindingHandlerException);
    expect((failure as Error).message).toBe("@BindingAction('polish') on Orphan.polish has no entity to belong to. Put @BindingHandler(Entity) on the class.");
  });

  it('@BindingHandler naming an entity without @Binding, or one outside the DataSource: UnboundHandlerException', async () => {
    @BindingHandler(Hidden)
    class HiddenActions {}
    const unbound = await startupFailure([Gadget, Hidden], [HiddenActions]);
    expect(unbound).toBeInstanceOf(UnboundHandlerException);
    expect((unbound as Error).message).toBe('@BindingHandler(Hidden) on HiddenActions names an entity without @Binding. Add @Binding() to Hidden.');

    @BindingHandler(Memo)
    class MemoActions {}
    const outside = await startupFailure([Gadget], [MemoActions]);
    expect(outside).toBeInstanceOf(UnboundHandlerException);
    expect((outside as Error).message).toBe(
      '@BindingHandler(Memo) on MemoActions names an entity that is not an entity of the DataSource these bindings serve. ' +
        "Register it with TypeORM: TypeOrmModule.forFeature([Memo]) (with autoLoadEntities: true), or list it in the DataSource's entities.",
    );
  });

  it('an empty publish.secret: InvalidOptionsException', () => {
    const attempt = () => BindingsModule.forRoot({ publish: { secret: '' } });
    expect(attempt).toThrow(InvalidOptionsException);
    expect(attempt).toThrow(
      'publish.secret must be a non-empty string (or a list of them). Pass the shared secret: publish: { secret: process.env.PUBLISH_SECRET }, or a list of them during a rotation.',
    );
  });
});
