import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { Gadget, Memo } from '../fixtures/actions-fixtures.js';
import { startApp } from '../fixtures/harness.js';

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
      expect(messages).toContainEqual(expect.stringContaining('Memo has @Binding but is not an entity of the DataSource these bindings serve, so it is not served.'));
      expect(messages).toContainEqual(expect.stringContaining('TypeOrmModule.forFeature([Memo])'));
      // A registered binding is served and not warned about.
      expect(messages.filter((message) => message.startsWith('Gadget '))).toEqual([]);
    } finally {
      await t.close();
    }
  });
});
