// The hand-made fixtures say where they come from, and the ones that claim a recording entry carry that
// entry's status and header set, so they cannot drift from real Azure traffic unnoticed.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fixture, recordedEntry } from './helpers.ts';

const DERIVED: Record<string, number> = {
  'route-table.put.201': 1,
  'route-table.create.201': 1,
  'operation.in-progress': 2,
  'operation.succeeded': 2,
  'operation.failed': 2,
  'route-table.get': 3,
  'route-table.get.after-write': 3,
  'route-table.get.created': 3,
};

// Content-Length follows our own bodies.
const IGNORED = new Set(['content-length']);

const names = readdirSync(new URL('./fixtures/', import.meta.url))
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.slice(0, -'.json'.length));

describe('nock fixtures', () => {
  it.each(names)('%s says where it comes from', (name) => {
    const source = fixture(name).source ?? '';
    if (name in DERIVED) {
      expect(source).toContain(`TestRouteTableTestSuite.json entry 0${DERIVED[name]}`);
    } else {
      expect(source).toMatch(/^Hand-made/);
    }
  });

  it.each(Object.entries(DERIVED))(
    '%s has the status and header set of recording entry %i',
    (name, index) => {
      const f = fixture(name);
      const entry = recordedEntry(index);
      expect(f.status).toBe(entry.StatusCode);
      const lower = (h: Record<string, string>) =>
        Object.keys(h)
          .map((k) => k.toLowerCase())
          .filter((k) => !IGNORED.has(k))
          .sort();
      expect(lower(f.headers)).toEqual(expect.arrayContaining(lower(entry.ResponseHeaders)));
    },
  );

  it('the PUT answer reads Updating with Retry-After 2, as Azure answered it', () => {
    const put = fixture('route-table.put.201');
    const entry = recordedEntry(1);
    expect(put.headers['Retry-After']).toBe(entry.ResponseHeaders['Retry-After']);
    expect((put.body as { properties: { provisioningState: string } }).properties.provisioningState).toBe(
      (entry.ResponseBody as { properties: { provisioningState: string } }).properties.provisioningState,
    );
    expect(fixture('operation.succeeded').body).toEqual(recordedEntry(2).ResponseBody);
  });
});
