// The recording of real Azure route-table traffic the simulator and the nock fixtures are held to. The repository
// carries a verbatim copy (test/fixtures/azure-recordings/), so a plain clone runs the contract tests; where
// ../shared/azure-recordings/ is beside the clone (as in CI), recording-copy.test.ts holds the copy to it.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const RECORDING_PATH = fileURLToPath(
  new URL('../fixtures/azure-recordings/TestRouteTableTestSuite.json', import.meta.url),
);
export const SHARED_RECORDINGS_DIR = fileURLToPath(
  new URL('../../../shared/azure-recordings/', import.meta.url),
);

export function loadRecording<Entry>(): { Entries: Entry[] } {
  return JSON.parse(readFileSync(RECORDING_PATH, 'utf8')) as { Entries: Entry[] };
}
