import { AsyncLocalStorage } from 'node:async_hooks';
import type { Database } from './client.js';

const scope = new AsyncLocalStorage<true>();
const QUERY_METHODS = new Set([
  'select',
  'selectDistinct',
  'selectDistinctOn',
  'insert',
  'update',
  'delete',
  'execute',
  'transaction',
  'query',
]);

/** Runs `work` marked as inside a unit-of-work transaction. */
export function runInTransactionScope<T>(work: () => Promise<T>): Promise<T> {
  return scope.run(true, work);
}

/**
 * Wraps the database so that using it (instead of the transaction) inside a unit of work throws.
 * On PGlite, with its single connection, such a query waits for the transaction forever; on
 * PostgreSQL it silently reads outside the transaction. Both are bugs worth failing loudly on.
 */
export function guardAgainstQueriesOutsideTransaction(db: Database): Database {
  return new Proxy(db, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof property === 'string' && QUERY_METHODS.has(property) && typeof value === 'function') {
        return (...args: unknown[]) => {
          if (scope.getStore()) {
            throw new Error(
              `db.${property}() called inside a unit of work: pass the transaction (tx) instead`,
            );
          }
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return value;
    },
  });
}
