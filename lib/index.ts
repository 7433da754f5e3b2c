// The public API of nest-bindings, chosen on purpose: internals stay internal.
export { BindingsModule } from './bindings.module.js';
export { Binding } from './decorators/binding.decorator.js';
export { BindingAction, BindingHandler, OnStream } from './decorators/handler.decorators.js';
export { BindingsService } from './service/bindings.service.js';
export { RoomAdapter, type RoomHost, type ScopeIndex } from './adapters/room-adapter.js';
export { MemoryRoomAdapter } from './adapters/memory/memory-room-adapter.js';
export { BindingError, HTTP_STATUS, type ErrorCode, type ErrorDetail } from './protocol/binding-error.js';
export { BINDINGS_OPTIONS, CRUD_ACTIONS, type CrudAction } from './bindings.constants.js';
export type { BindingOptions, CanFunction, StreamHandler } from './interfaces/binding-options.interface.js';
export type { RequestContext } from './interfaces/request-context.interface.js';
// The row a client receives, for a types file shared by server and client (the client exports it too).
export type { BindingRow, ExcludeSpec } from './client/types.js';
export type {
  BindingsLimits,
  BindingsModuleOptions,
  AdminOptions,
  ChannelConfig,
  ChannelsOptions,
  DatabaseCaptureOptions,
  DocsOptions,
  PublishOptions,
  ProtocolKeys,
  RedisAdapterOptions,
  RedisClientLike,
  ReplayOptions,
  SseOptions,
} from './interfaces/bindings-module-options.interface.js';
export type { BindingsModuleAsyncOptions, BindingsOptionsFactory } from './interfaces/bindings-module-async-options.interface.js';
export { InvalidBindingException } from './exceptions/invalid-binding.exception.js';
export { UnboundRelationException } from './exceptions/unbound-relation.exception.js';
export { MissingPackageException } from './exceptions/missing-package.exception.js';
export { InvalidOptionsException } from './exceptions/invalid-options.exception.js';
export { DuplicateBindingsModuleException } from './exceptions/duplicate-bindings-module.exception.js';
export { DuplicateEventException } from './exceptions/duplicate-event.exception.js';
export { UnboundHandlerException } from './exceptions/unbound-handler.exception.js';
export { MissingBindingHandlerException } from './exceptions/missing-binding-handler.exception.js';
export { UnsupportedDatabaseException } from './exceptions/unsupported-database.exception.js';
export { InvalidAdapterException } from './exceptions/invalid-adapter.exception.js';
export { removeDatabaseCapture } from './changes/database/outbox-install.js';
export { ChannelMessage } from './channels/channel-message.entity.js';
export type { ChannelMessageData } from './channels/channel-message-store.js';
export { signPublish, signRequest, verifyPublishSignature, SIGNATURE_HEADER, type SignatureProblem } from './publish/sign.js';
export { signToken, verifyToken, type TokenPayload, type TokenProblem } from './standalone/token.js';
export { BindingsDocs, type OpenApiDocument } from './docs/openapi-document.js';
export type { AdminStatsBody } from './admin/admin-stats.js';
