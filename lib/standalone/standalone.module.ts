import { Module, type DynamicModule } from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import { BindingsCoreModule } from '../bindings-core.module.js';
import type { BindingsModuleOptions } from '../interfaces/bindings-module-options.interface.js';
import { AdminFeed } from './admin-feed.js';
import { AdminPageController } from './admin-page.controller.js';
import { BackendApiController } from './backend-api.controller.js';
import { ChannelRules } from './channel-rules.js';
import type { StandaloneConfig } from './config.js';
import { entitylessDataSource } from './entityless-data-source.js';
import { EventStreams } from './event-streams.js';
import { STANDALONE_CONFIG } from './standalone.constants.js';
import { StandaloneUsers } from './standalone-users.js';
import { tokenAuthenticator, type StandaloneUser } from './token-auth.js';

/** The module options that make the bindings a standalone server of `config`. */
export function standaloneOptions(config: StandaloneConfig, rules: ChannelRules): BindingsModuleOptions {
  return {
    path: '/ws',
    restPrefix: 'api',
    authenticate: tokenAuthenticator(config.secrets, config.admin.users),
    anonymous: false,
    identify: (user: StandaloneUser) => user.id,
    limits: config.limits,
    adapter: config.adapter && { redis: config.adapter.redis, ...(config.adapter.keyPrefix ? { keyPrefix: config.adapter.keyPrefix } : {}) },
    channels: {
      history: config.channels.history,
      presence: config.channels.presence,
      // The channels its token names (or the backend subscribed it to), and those open to anyone.
      can: { join: (user: StandaloneUser, channel) => user.channels.has(channel) || rules.openToAnyone(channel) },
      configure: (channel) => rules.configure(channel),
      initialState: (user: StandaloneUser) => user.state,
    },
    publish: { secret: config.secrets },
    admin: { can: (user: StandaloneUser | null) => Boolean(user?.admin) },
    origins: config.origins,
    docs: false,
  };
}

/**
 * The standalone server as a Nest module: the bindings' core (channels, presence, history,
 * publish, Redis) with no entities, on a DataSource without a database, plus the backend
 * API, the event streams of `GET /api/events` and the admin page. The standalone parts are
 * added to the core module itself, whose services they use and which does not export them.
 */
@Module({})
export class StandaloneModule {
  static forConfig(config: StandaloneConfig): DynamicModule {
    const rules = new ChannelRules(config.channels);
    const core = BindingsCoreModule.forRoot(standaloneOptions(config, rules));
    return {
      module: StandaloneModule,
      imports: [
        {
          ...core,
          controllers: [...(core.controllers ?? []), BackendApiController, AdminPageController],
          providers: [
            ...(core.providers ?? []),
            { provide: getDataSourceToken(), useValue: entitylessDataSource() },
            { provide: STANDALONE_CONFIG, useValue: config },
            { provide: ChannelRules, useValue: rules },
            EventStreams,
            StandaloneUsers,
            AdminFeed,
          ],
        },
      ],
    };
  }
}
