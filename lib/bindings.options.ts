import { InvalidOptionsException } from './exceptions/invalid-options.exception.js';
import type { FilterLimits } from './query/index.js';
import type {
  AdminOptions,
  BindingsModuleOptions,
  ChannelsOptions,
  DatabaseCaptureOptions,
  DocsOptions,
} from './interfaces/bindings-module-options.interface.js';

/** The module options with every default filled in, so no code reads `?? default` twice. */
export interface ResolvedOptions {
  path: string;
  restPrefix: string | false;
  defaultApp: string;
  keys: { event: string; id: string; data: string };
  authenticate: NonNullable<BindingsModuleOptions['authenticate']>;
  anonymous: boolean;
  /** Allowed browser origins of upgrades and event streams; undefined allows any. */
  origins?: ReadonlySet<string>;
  identify: (user: any) => string;
  limits: Required<NonNullable<BindingsModuleOptions['limits']>> & { filterLimits: FilterLimits };
  replay: { size: number; maxAge: number };
  heartbeatInterval: number;
  sse: { heartbeat: number };
  adapter?: BindingsModuleOptions['adapter'];
  channels: {
    history: number;
    presence: boolean;
    historyBytes: number;
    historyBytesPerUser: number;
    historyBytesTotal: number;
    can: NonNullable<ChannelsOptions['can']>;
    configure?: ChannelsOptions['configure'];
    initialState?: ChannelsOptions['initialState'];
  };
  /** Secrets of `POST /publish`; undefined when publishing is off. */
  publish?: { secrets: readonly string[] };
  admin?: AdminOptions;
  docs: false | DocsOptions;
  shutdownTimeout: number;
  /** How committed changes are captured: TypeORM calls, or the database's triggers and outbox. */
  capture: { mode: 'orm' } | { mode: 'database'; pollInterval: number };
}

const MiB = 1024 * 1024;

export function resolveOptions(options: BindingsModuleOptions = {}): ResolvedOptions {
  const limits = {
    maxPayload: 1024 * 1024,
    filterDepth: 4,
    inValues: 1000,
    stringLength: 10_000,
    subscriptionsPerSocket: 1000,
    connectionsPerUser: 100,
    framesPerSecond: 100,
    burst: 200,
    sendBuffer: 4 * 1024 * 1024,
    includeRows: 1000,
    subscriptionBytesPerUser: 16 * MiB,
    subscriptionBytesTotal: 128 * MiB,
    replayBytesPerRoom: 4 * MiB,
    replayBytesTotal: 64 * MiB,
    presenceBytesPerUser: MiB,
    presenceBytesTotal: 64 * MiB,
    liveListBytesPerUser: 16 * MiB,
    liveListBytesTotal: 128 * MiB,
    liveLists: 100,
    patternLength: 100,
    filterTerms: 100,
    patternTotal: 100,
    ...options.limits,
  };
  const path = options.path ?? '/ws';
  return {
    path: path.startsWith('/') ? path : `/${path}`,
    restPrefix: options.restPrefix ?? 'api',
    defaultApp: options.defaultApp ?? 'app',
    keys: {
      event: options.protocol?.eventKey ?? 'event',
      id: options.protocol?.idKey ?? 'id',
      data: options.protocol?.dataKey ?? 'data',
    },
    authenticate: options.authenticate ?? (() => null),
    anonymous: options.anonymous ?? true,
    origins: options.origins ? allowedOrigins(options.origins) : undefined,
    identify: options.identify ?? identifyById,
    limits: {
      ...limits,
      filterLimits: {
        depth: limits.filterDepth,
        inValues: limits.inValues,
        stringLength: limits.stringLength,
        patternLength: limits.patternLength,
        terms: limits.filterTerms,
        patternTotal: limits.patternTotal,
      },
    },
    replay: { size: options.replay?.size ?? 1000, maxAge: options.replay?.maxAge ?? 5 * 60_000 },
    heartbeatInterval: options.heartbeatInterval ?? 30_000,
    sse: { heartbeat: options.sse?.heartbeat ?? 15_000 },
    adapter: options.adapter,
    channels: {
      history: options.channels?.history ?? 100,
      presence: options.channels?.presence ?? true,
      historyBytes: options.channels?.historyBytes ?? MiB,
      historyBytesPerUser: options.channels?.historyBytesPerUser ?? 4 * MiB,
      historyBytesTotal: options.channels?.historyBytesTotal ?? 64 * MiB,
      can: options.channels?.can ?? {},
      configure: options.channels?.configure,
      initialState: options.channels?.initialState,
    },
    publish: options.publish ? { secrets: publishSecrets(options.publish.secret) } : undefined,
    admin: options.admin,
    docs: options.docs === false ? false : options.docs === true || options.docs === undefined ? {} : options.docs,
    shutdownTimeout: options.shutdownTimeout ?? 3000,
    capture: captureMode(options.capture),
  };
}

function captureMode(capture: BindingsModuleOptions['capture']): ResolvedOptions['capture'] {
  if (capture === undefined || capture === 'orm') return { mode: 'orm' };
  if (capture === 'database') return { mode: 'database', pollInterval: 1000 };
  const pollInterval = (capture as DatabaseCaptureOptions | null)?.pollInterval ?? 1000;
  if ((capture as DatabaseCaptureOptions | null)?.mode !== 'database' || !Number.isFinite(pollInterval) || pollInterval < 10) {
    throw new InvalidOptionsException(
      'capture',
      "must be 'orm', 'database' or { mode: 'database', pollInterval } with pollInterval >= 10 ms",
      "Pass capture: 'database', or capture: { mode: 'database', pollInterval: 1000 }.",
    );
  }
  return { mode: 'database', pollInterval };
}

function allowedOrigins(origins: readonly string[]): ReadonlySet<string> {
  if (!Array.isArray(origins) || origins.some((o) => typeof o !== 'string' || !/^[a-z][a-z0-9+.-]*:\/\/[^/\s]+$/i.test(o))) {
    throw new InvalidOptionsException(
      'origins',
      'must be a list of origins, each a scheme and host without a path',
      "List the origins of your pages exactly as browsers send them: origins: ['https://app.example.com', 'http://localhost:3000'].",
    );
  }
  return new Set(origins.map((o) => o.toLowerCase()));
}

function publishSecrets(secret: string | readonly string[]): readonly string[] {
  const secrets = typeof secret === 'string' ? [secret] : [...secret];
  if (secrets.length === 0 || secrets.some((s) => typeof s !== 'string' || s.length === 0)) {
    throw new InvalidOptionsException(
      'publish.secret',
      'must be a non-empty string (or a list of them)',
      'Pass the shared secret: publish: { secret: process.env.PUBLISH_SECRET }, or a list of them during a rotation.',
    );
  }
  return secrets;
}

/**
 * The default `identify`: a user's `id`. A user without one would otherwise be named
 * "undefined" and share one connection budget and one presence identity with every other
 * such user, so it is refused (the hook-failure path: logged, the request answered `internal`).
 */
function identifyById(user: any): string {
  const id = user?.id;
  if ((typeof id === 'string' && id !== '') || (typeof id === 'number' && Number.isFinite(id)) || typeof id === 'bigint') return String(id);
  throw new Error('the default identify names users by their id, and this user has none: pass identify(user) to BindingsModule.forRoot');
}
