import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { sql, type SQL } from 'drizzle-orm';
import { drizzle as drizzleNodePg } from 'drizzle-orm/node-postgres';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import {
  PgDialect,
  type PgDatabase,
  type PgQueryResultHKT,
  type PgSession,
  type PgTransaction,
} from 'drizzle-orm/pg-core';
import type { ExtractTablesWithRelations } from 'drizzle-orm';
import pg from 'pg';
import * as schema from './schema.js';

export type Schema = typeof schema;
export type Database = PgDatabase<PgQueryResultHKT, Schema>;
export type Transaction = PgTransaction<PgQueryResultHKT, Schema, ExtractTablesWithRelations<Schema>>;
/** What repositories accept: the database, or a transaction opened by a service. */
export type Executor = Database | Transaction;

export type DatabaseOptions =
  { kind: 'postgres'; url: string; poolSize: number } | { kind: 'pglite'; dataDir?: string; client?: PGlite };

export type DatabaseHandle = {
  kind: 'postgres' | 'pglite';
  db: Database;
  /** The node-postgres pool, when kind is postgres (migrations take an advisory lock on it). */
  pool?: pg.Pool;
  ping(): Promise<void>;
  close(): Promise<void>;
};

// pg returns bigint (int8) as strings by default; our bigints are sequence numbers that fit in 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export async function openDatabase(options: DatabaseOptions): Promise<DatabaseHandle> {
  if (options.kind === 'postgres') {
    const pool = new pg.Pool({ connectionString: options.url, max: options.poolSize });
    // An idle client losing its connection must not crash the process; the pool replaces it.
    pool.on('error', () => undefined);
    const db = drizzleNodePg({ client: pool, schema }) as unknown as Database;
    return {
      kind: 'postgres',
      db,
      pool,
      ping: async () => {
        await db.execute(sql`select 1`);
      },
      close: () => pool.end(),
    };
  }
  let client = options.client;
  if (!client) {
    if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
    client = await PGlite.create(options.dataDir ? { dataDir: options.dataDir } : {});
  }
  const owned = !options.client;
  const db = drizzlePglite({ client, schema }) as unknown as Database;
  return {
    kind: 'pglite',
    db,
    ping: async () => {
      await db.execute(sql`select 1`);
    },
    close: async () => {
      if (owned) await client.close();
    },
  };
}

/** A statement built once (SQL text with `$n` and its placeholders), to run as a prepared statement. */
export type PreparedSql = { sql: string; params: unknown[] };

/** Builds a statement's text once, at module load, from a drizzle `sql` template with `sql.placeholder`s. */
export function buildPreparedSql(query: SQL): PreparedSql {
  return new PgDialect().sqlToQuery(query);
}

/**
 * Runs a statement as a *named* prepared statement on PostgreSQL, so each pooled connection parses
 * and plans it once instead of on every call (the send hot path's statement is large); PGlite runs
 * it as usual. Works on the database and inside a transaction alike.
 */
export async function executePrepared<Row>(
  executor: Executor,
  name: string,
  query: PreparedSql,
  values: Record<string, unknown>,
): Promise<Row[]> {
  const { session } = executor as unknown as { session: PgSession };
  const result = (await session.prepareQuery(query, undefined, name, false).execute(values)) as {
    rows: Row[];
  };
  return result.rows;
}
