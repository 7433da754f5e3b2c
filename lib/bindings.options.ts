import type { BindingsModuleOptions } from './interfaces/bindings-module-options.interface.js';

/** The module options with every default filled in, so no code reads `?? default` twice. */
export interface ResolvedOptions {
  path: string;
  restPrefix: string | false;
  defaultApp: string;
  keys: { event: string; id: string; data: string };
  authenticate: NonNullable<BindingsModuleOptions['authenticate']>;
  anonymous: boolean;
  identify: (user: any) => string;
  limits: Required<NonNullable<BindingsModuleOptions['limits']>> & { filterLimits: { depth: number; inValues: number; stringLength: number } };
  replay: { size: number; maxAge: number };
  heartbeatInterval: number;
}

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
    identify: options.identify ?? ((user) => String(user?.id)),
    limits: { ...limits, filterLimits: { depth: limits.filterDepth, inValues: limits.inValues, stringLength: limits.stringLength } },
    replay: { size: options.replay?.size ?? 1000, maxAge: options.replay?.maxAge ?? 5 * 60_000 },
    heartbeatInterval: options.heartbeatInterval ?? 30_000,
  };
}
