// What this build is: the package version and the commit it was built from. Cheap to load (node:fs only), so
// --version and the Node version check never pull in the SDKs.
import { readFileSync } from 'node:fs';

export interface BuildInfo {
  readonly version: string;
  /** The git commit, or 'unknown' when the build was not stamped (a checkout run from src/). */
  readonly commit: string;
}

/**
 * The stamp is written next to the compiled code by the image build and the release workflow
 * (`dist/build-info.json`, `{"commit": "<sha>"}`); there is no git at run time to ask.
 */
export const BUILD_INFO_FILE = 'build-info.json';

// src/support and dist/support are both two levels below package.json, which ships in the package and the image.
const PACKAGE_JSON = new URL('../../package.json', import.meta.url);
const STAMP = new URL(`../${BUILD_INFO_FILE}`, import.meta.url);

let cached: BuildInfo | undefined;

export function buildInfo(): BuildInfo {
  cached ??= {
    version: (JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { version: string }).version,
    commit: readCommit(),
  };
  return cached;
}

function readCommit(): string {
  let text: string;
  try {
    text = readFileSync(STAMP, 'utf8');
  } catch {
    return 'unknown';
  }
  try {
    const commit = (JSON.parse(text) as { commit?: unknown }).commit;
    return typeof commit === 'string' && /^[0-9a-f]{7,64}$/.test(commit) ? commit : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** One line for `--version` and `version`: `0.1.0 (commit 3d3c42e5...)`. */
export function versionLine(info: BuildInfo = buildInfo()): string {
  return `${info.version} (commit ${info.commit})`;
}
