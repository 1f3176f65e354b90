import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './support/app.js';
import { skipDatabaseTests } from './support/database.js';

type Operation = { operationId?: string; summary?: string; responses?: object; requestBody?: object };

describe.skipIf(skipDatabaseTests)('OpenAPI document', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => t?.close());

  it('is served at /api/openapi.json and matches the committed docs/openapi.json (run `npm run openapi`)', async () => {
    const response = await t.inject({ url: '/api/openapi.json' });
    expect(response.statusCode).toBe(200);
    const committed = JSON.parse(readFileSync(new URL('../docs/openapi.json', import.meta.url), 'utf8'));
    expect(response.json()).toEqual(committed);
  });

  it('documents every route with an operationId, a summary, responses and its request body', async () => {
    const document = (await t.inject({ url: '/api/openapi.json' })).json() as {
      paths: Record<string, Record<string, Operation>>;
    };
    const operations = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, operation]) => ({ path, method, operation })),
    );
    expect(operations.length).toBeGreaterThanOrEqual(25);
    const ids = new Set<string>();
    for (const { path, method, operation } of operations) {
      const where = `${method.toUpperCase()} ${path}`;
      expect(operation.operationId, where).toMatch(/^[a-z][A-Za-z]+$/);
      expect(ids.has(operation.operationId!), `${where} duplicates an operationId`).toBe(false);
      ids.add(operation.operationId!);
      expect(operation.summary, where).toBeTruthy();
      expect(Object.keys(operation.responses ?? {}).length, where).toBeGreaterThan(0);
    }
    const withBody = operations.filter(
      ({ path, method }) =>
        ['post', 'patch', 'put'].includes(method) &&
        !/\/(leave|pin|unpin|restore)\/$/.test(path) &&
        !path.endsWith('/logout') &&
        // Granting the moderator role: the path says it all.
        !(method === 'put' && path.endsWith('/moderadores/{userId}/')),
    );
    for (const { path, method, operation } of withBody) {
      expect(operation.requestBody, `${method} ${path}`).toBeDefined();
    }
    // The upload is a multipart form the handler reads as a stream; its body schema only documents it.
    expect(document.paths['/api/chat/upload/']?.post?.requestBody).toMatchObject({
      required: true,
      content: { 'multipart/form-data': { schema: { required: ['file'] } } },
    });
    // Body-less POSTs that may also carry a body: documented as optional.
    const optionalBody = operations.filter(({ path }) =>
      /\/moderacao\/messages\/\{mid\}\/(approve|remove)\/$/.test(path),
    );
    expect(optionalBody).toHaveLength(2);
    for (const { path, operation } of optionalBody) {
      expect(operation.requestBody, path).toMatchObject({ required: false });
    }
  });

  it('serves the interactive docs without authentication', async () => {
    const response = await t.inject({ url: '/api/docs/' });
    expect(response.statusCode).toBe(200);
    expect(response.body).toContain('swagger');
  });
});
