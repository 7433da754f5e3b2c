import { jest } from '@jest/globals';
import { Cluster, Redis } from 'ioredis';
import { openConnection } from '../../lib/adapters/redis/redis-connection.js';

// The adapter's connections from an application's client are duplicates carrying the
// client's settings (TLS, credentials, nodes) and the adapter's overrides; nothing connects.
const overrides = { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 };
const opened: Array<Redis | Cluster> = [];
afterAll(() => opened.forEach((client) => client.disconnect()));

it("duplicates an application's Redis with its settings, without its ioredis keyPrefix", () => {
  const app = new Redis({ host: '10.0.0.9', port: 6390, password: 'pw', tls: { servername: 'cache' }, keyPrefix: 'app:', lazyConnect: true });
  opened.push(app);
  const spy = jest.spyOn(app, 'duplicate');
  const own = openConnection(app, overrides);
  opened.push(own);
  expect(spy).toHaveBeenCalledTimes(1);
  expect(own).not.toBe(app);
  expect(own.options).toMatchObject({ host: '10.0.0.9', port: 6390, password: 'pw', tls: { servername: 'cache' }, keyPrefix: '', ...overrides });
  expect(app.options).toMatchObject({ keyPrefix: 'app:', enableOfflineQueue: true }); // the application's client is untouched
  expect(app.status).toBe('wait');
});

it("duplicates an application's Cluster: cluster options at the top, per-node options in redisOptions", () => {
  const app = new Cluster([{ host: '10.0.0.9', port: 7000 }], { lazyConnect: true, redisOptions: { password: 'pw', tls: {} } });
  opened.push(app);
  const own = openConnection(app, overrides) as unknown as Cluster;
  opened.push(own);
  expect(own).toBeInstanceOf(Cluster);
  expect(own.options).toMatchObject({
    lazyConnect: true,
    enableOfflineQueue: false,
    keyPrefix: '',
    redisOptions: { password: 'pw', tls: {}, maxRetriesPerRequest: 0, keyPrefix: '' },
  });
  expect(app.options.enableOfflineQueue).toBe(true);
});
