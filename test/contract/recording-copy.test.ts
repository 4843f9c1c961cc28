// The repository's copy of the Azure recording is the one in shared/ (it wins any disagreement), byte for byte.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SHARED_RECORDINGS_DIR } from '../support/recording.ts';

const COPY_DIR = fileURLToPath(new URL('../fixtures/azure-recordings/', import.meta.url));

describe.skipIf(!existsSync(SHARED_RECORDINGS_DIR))('test/fixtures/azure-recordings', () => {
  it.each(['TestRouteTableTestSuite.json', 'INDEX.txt'])('%s is the shared recording, unchanged', (file) => {
    expect(readFileSync(join(COPY_DIR, file)).equals(readFileSync(join(SHARED_RECORDINGS_DIR, file)))).toBe(
      true,
    );
  });
});
