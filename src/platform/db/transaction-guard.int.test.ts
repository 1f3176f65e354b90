import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase } from '../../../test/support/database.js';
import { skipDatabaseTests } from '../../../test/support/database.js';
import { createMemoryBus } from '../bus/memory-bus.js';
import { createEventsRepository } from '../../modules/events/events.repository.js';
import { createUnitOfWork } from '../../modules/events/events.service.js';
import { createUsersRepository } from '../../modules/users/users.repository.js';
import { guardAgainstQueriesOutsideTransaction } from './transaction-guard.js';

describe.skipIf(skipDatabaseTests)('transaction guard', () => {
  let database: Awaited<ReturnType<typeof openTestDatabase>>;
  beforeAll(async () => {
    database = await openTestDatabase();
  });
  afterAll(async () => database?.drop());

  it('fails fast when a repository uses the database instead of the transaction inside a unit of work', async () => {
    const raw = database.handle.db;
    const users = createUsersRepository({ db: guardAgainstQueriesOutsideTransaction(raw) });
    const uow = createUnitOfWork({
      db: raw,
      eventsRepository: createEventsRepository({ db: raw }),
      bus: createMemoryBus(),
    });
    await expect(
      uow.run(async () => users.findByIds(['00000000-0000-7000-8000-000000000000'])),
    ).rejects.toThrow(/inside a unit of work/);
    // With the transaction passed along, and outside a unit of work, the same calls work.
    await expect(
      uow.run(async (tx) => users.findByIds(['00000000-0000-7000-8000-000000000000'], tx)),
    ).resolves.toEqual([]);
    await expect(users.findByIds(['00000000-0000-7000-8000-000000000000'])).resolves.toEqual([]);
  });
});
