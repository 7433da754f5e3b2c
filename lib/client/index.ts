// nest-bindings/client: the browser and Node client of the wire protocol (PROTOCOL.md
// sections 1, 2, 4 and 9). No Node-only imports: it runs on the browser's WebSocket, or on
// any class with the same shape passed as `WebSocket` (the `ws` package in Node 20).
export { BindingClient, backoffDelay, connect, type ConnectOptions, type ConnectionState, type ResyncEvent } from './client.js';
export { BindingClientError, type ClientErrorCode, type ErrorDetail } from './errors.js';
export { LiveList, type LiveChange, type LiveFrame, type LivePage } from './live-list.js';
export { applyLiveOps, pageLength, type LiveOp, type LiveOpsResult } from './live-ops.js';
export { ModelClient } from './model.js';
export { Subscription } from './subscription.js';
export type {
  BindingRow,
  ChangeKind,
  ChangeKindOf,
  CreateFields,
  ExcludedKeys,
  ExcludeSpec,
  Filter,
  FilterOperators,
  FrameKeys,
  Id,
  ListQuery,
  ModelPush,
  Order,
  Page,
  Push,
  PushEventName,
  RequestOptions,
  Row,
  RowOf,
  SaveFields,
  SearchQuery,
  ServerMessage,
  SubscribeTarget,
  UpdateFields,
  WebSocketConstructor,
  WebSocketLike,
} from './types.js';
