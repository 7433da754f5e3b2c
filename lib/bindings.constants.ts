/** Injection token of the resolved module options. */
export const BINDINGS_OPTIONS = Symbol('nest-bindings:options');
/** Injection token of the TypeORM DataSource the bindings are discovered from. */
export const BINDINGS_DATA_SOURCE = Symbol('nest-bindings:data-source');
/** Injection token of the name of that DataSource (`'default'` when none was given). */
export const BINDINGS_DATA_SOURCE_NAME = Symbol('nest-bindings:data-source-name');

// Metadata keys share one namespace so they never collide with the application's.
export const BINDING_METADATA = 'nest-bindings:binding';
export const BINDING_HANDLER_METADATA = 'nest-bindings:handler';
export const BINDING_ACTION_METADATA = 'nest-bindings:action';
export const BINDING_ACTION_DTO_METADATA = 'nest-bindings:action-dto';
export const ON_STREAM_METADATA = 'nest-bindings:on-stream';
/** Set on the library's own stream handlers that need the socket's subscription state (channels). */
export const STREAM_SUBSCRIBER_METADATA = 'nest-bindings:stream-subscriber';

/** The actions every binding can serve (PROTOCOL.md section 3). */
export const CRUD_ACTIONS = ['retrieve', 'list', 'search', 'create', 'update', 'save', 'delete', 'subscribe', 'unsubscribe'] as const;
export type CrudAction = (typeof CRUD_ACTIONS)[number];
