import type { Provider } from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import { CrudActions } from './actions/crud.actions.js';
import { LiveLists } from './live/live-lists.js';
import { Dispatcher } from './actions/dispatcher.js';
import { RowSerializer } from './rows/row-serializer.js';
import { PatternReads } from './actions/pattern-reads.js';
import { RowStore } from './rows/row-store.js';
import { WriteGate } from './actions/write-gate.js';
import { WriteValidator } from './actions/write-validator.js';
import { AccessPolicy } from './auth/access-policy.js';
import { Authenticator } from './auth/authenticator.js';
import { BINDINGS_DATA_SOURCE, BINDINGS_DATA_SOURCE_NAME, BINDINGS_OPTIONS } from './bindings.constants.js';
import { resolveOptions, type ResolvedOptions } from './bindings.options.js';
import { ChangeCapture } from './changes/change-capture.js';
import { ChangeSink } from './changes/change-sink.js';
import { DatabaseCapture, SHARED_CHANGE_SINK } from './changes/database/database-capture.js';
import { InvalidOptionsException } from './exceptions/invalid-options.exception.js';
import type { BindingsModuleAsyncOptions, BindingsOptionsFactory } from './interfaces/bindings-module-async-options.interface.js';
import type { BindingsModuleOptions } from './interfaces/bindings-module-options.interface.js';
import { FrameCodec } from './protocol/frame-codec.js';
import { BindingRegistry } from './registry/binding.registry.js';
import { BindingsMetadataAccessor } from './registry/metadata.accessor.js';
import { RoomHub } from './rooms/room-hub.js';
import { MemoryRoomAdapter } from './adapters/memory/memory-room-adapter.js';
import { RoomAdapter } from './adapters/room-adapter.js';
import { InvalidAdapterException } from './exceptions/invalid-adapter.exception.js';
import { loadRedisAdapter } from './adapters/redis/load-redis-adapter.js';
import { BindingsService } from './service/bindings.service.js';
import { AdminStats } from './admin/admin-stats.js';
import { Traffic } from './admin/traffic.js';
import { ChannelActions } from './channels/channel-actions.js';
import { ChannelMessage } from './channels/channel-message.entity.js';
import { ChannelMessageStore, MemoryMessageStore, TypeOrmMessageStore } from './channels/channel-message-store.js';
import { MemoryPresenceStore, PresenceStore } from './adapters/presence-store.js';
import { DocsServer } from './docs/docs-server.js';
import { BindingsDocs } from './docs/openapi-document.js';
import { Publisher } from './publish/publisher.js';
import { SignedRequests } from './publish/signed-requests.js';
import { MemorySignatureLedger, SignatureLedger } from './adapters/signature-ledger.js';
import { HttpGateway } from './transports/http/http-gateway.js';
import { SseTransport } from './transports/http/sse.transport.js';
import { WsEnhancers } from './transports/ws/ws-enhancers.js';
import { WsTransport } from './transports/ws/ws-transport.js';

/** The options as the application gave them, before defaults: what a forRootAsync factory returns. */
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

/**
 * The services of one bindings module. The room adapter (in memory by default, Redis or the
 * application's own) is chosen from the options; presence and publish signatures are shared
 * through it when it offers them.
 */
export const BINDINGS_PROVIDERS: Provider[] = [
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
  // Captured changes go to the room adapter, which numbers them and gets them to the rooms.
  { provide: ChangeSink, useExisting: RoomAdapter },
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
  LiveLists,
  CrudActions,
  Dispatcher,
  ChangeCapture,
  // capture: 'database': with an adapter that reaches every instance, each outbox row is published by one of them.
  { provide: SHARED_CHANGE_SINK, inject: [RoomAdapter], useFactory: (adapter: RoomAdapter) => !(adapter instanceof MemoryRoomAdapter) },
  DatabaseCapture,
  WsEnhancers,
  WsTransport,
  HttpGateway,
  SseTransport,
  BindingsService,
  SignedRequests,
  Publisher,
  AdminStats,
  Traffic,
  BindingsDocs,
  DocsServer,
];

/** The services a module exports to the application (the core module is global). */
export const BINDINGS_EXPORTS = [BindingsService, BindingsDocs, BINDINGS_OPTIONS];

/** The DataSource the bindings are discovered from, and its name (for start-up messages). */
export function createDataSourceProviders(dataSource: string | undefined): Provider[] {
  return [
    { provide: BINDINGS_DATA_SOURCE, useExisting: getDataSourceToken(dataSource) },
    { provide: BINDINGS_DATA_SOURCE_NAME, useValue: dataSource ?? 'default' },
  ];
}

/** `forRoot`: the options are known now; defaults are filled in once. */
export function createOptionsProviders(options: BindingsModuleOptions): Provider[] {
  return [{ provide: BINDINGS_OPTIONS, useValue: resolveOptions(options) }];
}

/**
 * `forRootAsync`: the options come from a factory function, a class the module creates, or
 * a provider the application already has. `resolved` sees the resolved options first (the
 * core module sets its controllers' prefix from them).
 */
export function createAsyncOptionsProviders(options: BindingsModuleAsyncOptions, resolved: (options: ResolvedOptions) => void): Provider[] {
  const providers: Provider[] = [];
  if (options.useFactory) {
    providers.push({ provide: RAW_OPTIONS, useFactory: options.useFactory, inject: options.inject ?? [] });
  } else if (options.useClass || options.useExisting) {
    const factory = (options.useClass ?? options.useExisting)!;
    if (options.useClass) providers.push({ provide: factory, useClass: factory });
    providers.push({ provide: RAW_OPTIONS, useFactory: (f: BindingsOptionsFactory) => f.createBindingsOptions(), inject: [factory] });
  } else {
    throw new InvalidOptionsException(
      'BindingsModule.forRootAsync',
      'has no useFactory, useClass or useExisting',
      'Pass one of them: forRootAsync({ useFactory: (config) => ({ ... }), inject: [ConfigService] }).',
    );
  }
  providers.push({
    provide: BINDINGS_OPTIONS,
    inject: [RAW_OPTIONS],
    useFactory: (value: BindingsModuleOptions): ResolvedOptions => {
      const result = resolveOptions({ ...value, ...(options.restPrefix !== undefined ? { restPrefix: options.restPrefix } : {}) });
      resolved(result);
      return result;
    },
  });
  return providers;
}
