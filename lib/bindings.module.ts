import { Module, type DynamicModule, type NestModule, type Provider, type Type } from '@nestjs/common';
import { HOST_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { DiscoveryModule } from '@nestjs/core';
import { getDataSourceToken } from '@nestjs/typeorm';
import { CrudActions } from './actions/crud.actions.js';
import { Dispatcher } from './actions/dispatcher.js';
import { RowSerializer } from './actions/row-serializer.js';
import { PatternReads } from './actions/pattern-reads.js';
import { RowStore } from './actions/row-store.js';
import { WriteGate } from './actions/write-gate.js';
import { WriteValidator } from './actions/write-validator.js';
import { AccessPolicy } from './auth/access-policy.js';
import { Authenticator } from './auth/authenticator.js';
import { BINDINGS_DATA_SOURCE, BINDINGS_OPTIONS } from './bindings.constants.js';
import { resolveOptions, type ResolvedOptions } from './bindings.options.js';
import { ChangeCapture } from './changes/change-capture.js';
import type { BindingsModuleAsyncOptions, BindingsModuleOptions, BindingsOptionsFactory } from './interfaces/bindings-module-options.interface.js';
import { FrameCodec } from './protocol/frame-codec.js';
import { BindingRegistry } from './registry/binding.registry.js';
import { BindingsMetadataAccessor } from './registry/metadata.accessor.js';
import { RoomHub } from './rooms/room-hub.js';
import { MemoryRoomAdapter } from './adapters/memory/memory-room-adapter.js';
import { RoomAdapter } from './adapters/room-adapter.js';
import { loadRedisAdapter } from './adapters/redis/load-redis-adapter.js';
import { InvalidAdapterException } from './exceptions/invalid-adapter.exception.js';
import { BindingsService } from './service/bindings.service.js';
import { AdminStats } from './admin/admin-stats.js';
import { ChannelActions } from './channels/channel-actions.js';
import { ChannelMessage } from './channels/channel-message.entity.js';
import { ChannelMessageStore, MemoryMessageStore, TypeOrmMessageStore } from './channels/channel-message-store.js';
import { MemoryPresenceStore, PresenceStore } from './channels/presence-store.js';
import { DocsServer } from './docs/docs-server.js';
import { BindingsDocs } from './docs/openapi-document.js';
import { Publisher } from './publish/publisher.js';
import { MemorySignatureLedger, SignatureLedger } from './publish/signature-ledger.js';
import { createOpsController } from './transports/http/ops.controller.js';
import { HttpGateway } from './transports/http/http-gateway.js';
import { createRestController } from './transports/http/rest.controller.js';
import { SseTransport } from './transports/http/sse.transport.js';
import { WsEnhancers } from './transports/ws/ws-enhancers.js';
import { WsTransport } from './transports/ws/ws-transport.js';

const RAW_OPTIONS = Symbol('nest-bindings:raw-options');

/** Stores an adapter may share between instances besides rooms (the Redis adapter does). */
interface SharedStores {
  presenceStore?(): PresenceStore;
  signatureLedger?(): SignatureLedger;
}

/** The `adapter` option as a RoomAdapter; ioredis is loaded only for the Redis forms. */
async function createRoomAdapter(options: ResolvedOptions): Promise<RoomAdapter> {
  const adapter = options.adapter;
  if (adapter === undefined) return new MemoryRoomAdapter();
  if (adapter instanceof RoomAdapter) return adapter;
  const redis = (adapter as { redis?: unknown } | null)?.redis;
  const client = typeof redis === 'object' && redis !== null && typeof (redis as { duplicate?: unknown }).duplicate === 'function';
  if (typeof redis !== 'string' && !client) throw new InvalidAdapterException(describe(adapter));
  const RedisRoomAdapter = await loadRedisAdapter();
  return new RedisRoomAdapter({ ...(adapter as ConstructorParameters<typeof RedisRoomAdapter>[0]), replay: options.replay });
}

function describe(value: unknown): string {
  if (value === null || typeof value !== 'object') return String(value);
  const redis = (value as { redis?: unknown }).redis;
  return `an object${'redis' in value ? ` whose redis is ${redis === null ? 'null' : typeof redis}` : ' without redis'} (${value.constructor?.name ?? 'Object'})`;
}

const CORE_PROVIDERS: Provider[] = [
  BindingsMetadataAccessor,
  BindingRegistry,
  FrameCodec,
  AccessPolicy,
  Authenticator,
  RowStore,
  RowSerializer,
  WriteValidator,
  WriteGate,
  PatternReads,
  {
    provide: RoomAdapter,
    inject: [BINDINGS_OPTIONS],
    useFactory: createRoomAdapter,
  },
  RoomHub,
  {
    // Shared by every instance when the adapter offers it (Redis), in memory otherwise.
    provide: PresenceStore,
    inject: [RoomAdapter],
    useFactory: (adapter: RoomAdapter & SharedStores): PresenceStore => adapter.presenceStore?.() ?? new MemoryPresenceStore(),
  },
  {
    // History in the database when the application registered the ChannelMessage entity, in memory otherwise.
    provide: ChannelMessageStore,
    inject: [BindingRegistry, WriteGate, BINDINGS_OPTIONS],
    useFactory: (registry: BindingRegistry, gate: WriteGate, options: ResolvedOptions): ChannelMessageStore =>
      registry.dataSource.hasMetadata(ChannelMessage)
        ? new TypeOrmMessageStore(registry.dataSource.getRepository(ChannelMessage), (work) => gate.run(work))
        : new MemoryMessageStore(undefined, {
            perChannel: options.channels.historyBytes,
            perUser: options.channels.historyBytesPerUser,
            total: options.channels.historyBytesTotal,
          }),
  },
  {
    // With several instances, a signature accepted by one is a replay on every other.
    provide: SignatureLedger,
    inject: [BINDINGS_OPTIONS, RoomAdapter],
    useFactory: (options: ResolvedOptions, adapter: RoomAdapter & SharedStores): SignatureLedger =>
      (options.publish && adapter.signatureLedger?.()) || new MemorySignatureLedger(),
  },
  ChannelActions,
  CrudActions,
  Dispatcher,
  ChangeCapture,
  WsEnhancers,
  WsTransport,
  HttpGateway,
  SseTransport,
  BindingsService,
  Publisher,
  AdminStats,
  BindingsDocs,
  DocsServer,
];

/**
 * Serves every `@Binding` entity of a TypeORM DataSource over WebSocket and REST, and
 * pushes their committed changes to subscribed sockets.
 */
@Module({})
export class BindingsModule implements NestModule {
  constructor(private readonly docs: DocsServer) {}

  /** Nest calls this before it registers controller routes: the docs page goes first (see DocsServer). */
  async configure(): Promise<void> {
    await this.docs.mount();
  }

  static forRoot(options: BindingsModuleOptions = {}): DynamicModule {
    const controllers = createControllers();
    const resolved = resolveOptions(options);
    setPrefix(controllers, resolved.restPrefix);
    return this.assemble(controllers, resolved.restPrefix !== false, options.dataSource, [{ provide: BINDINGS_OPTIONS, useValue: resolved }], []);
  }

  static forRootAsync(options: BindingsModuleAsyncOptions): DynamicModule {
    const controllers = createControllers();
    const raw: Provider[] = [];
    if (options.useFactory) {
      raw.push({ provide: RAW_OPTIONS, useFactory: options.useFactory, inject: options.inject ?? [] });
    } else if (options.useClass || options.useExisting) {
      const factory = (options.useClass ?? options.useExisting)!;
      if (options.useClass) raw.push({ provide: factory, useClass: factory });
      raw.push({ provide: RAW_OPTIONS, useFactory: (f: BindingsOptionsFactory) => f.createBindingsOptions(), inject: [factory] });
    } else {
      throw new Error('BindingsModule.forRootAsync needs useFactory, useClass or useExisting.');
    }
    const resolved: Provider = {
      provide: BINDINGS_OPTIONS,
      inject: [RAW_OPTIONS],
      useFactory: (value: BindingsModuleOptions): ResolvedOptions => {
        const options_ = resolveOptions({ ...value, ...(options.restPrefix !== undefined ? { restPrefix: options.restPrefix } : {}) });
        // Nest reads a controller's path when it registers routes, after every provider
        // (this one included) has been created, so the factory's prefix still applies.
        setPrefix(controllers, options_.restPrefix);
        return options_;
      },
    };
    return this.assemble(controllers, options.restPrefix !== false, options.dataSource, [...raw, resolved], options.imports ?? []);
  }

  private static assemble(controllers: Type<unknown>[], rest: boolean, dataSource: string | undefined, options: Provider[], imports: DynamicModule['imports']): DynamicModule {
    return {
      module: BindingsModule,
      global: true,
      imports: [DiscoveryModule, ...(imports ?? [])],
      controllers: rest ? controllers : [],
      providers: [...options, { provide: BINDINGS_DATA_SOURCE, useExisting: getDataSourceToken(dataSource) }, ...CORE_PROVIDERS],
      exports: [BindingsService, BindingsDocs, BINDINGS_OPTIONS],
    };
  }
}

/** A host pattern that no request has. */
const NO_HOST = /(?!)/;

/** The controllers of one module, in route order: operations (publish, admin/stats) before the REST routes. */
function createControllers(): Type<unknown>[] {
  return [createOpsController(), createRestController()];
}

function setPrefix(controllers: Type<unknown>[], prefix: string | false): void {
  for (const controller of controllers) {
    Reflect.defineMetadata(PATH_METADATA, prefix || '/', controller);
    // A forRootAsync factory answering `false` comes after the controller was registered, and
    // its routes would be served at the root, shadowing the application's. Bound to a host no
    // request has, they never match and every request goes on to the application's routes.
    if (prefix === false) Reflect.defineMetadata(HOST_METADATA, NO_HOST, controller);
  }
}
