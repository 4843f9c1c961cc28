// The permissions check's matching, as Azure evaluates a permissions list: wildcards, case, and notActions
// subtracted from the actions of their own entry only.
import { describe, expect, it } from 'vitest';
import { REQUIRED_ACTIONS, actionMatches, isAllowed } from '../../src/doctor/checks.ts';

const WRITE = 'Microsoft.Network/routeTables/write';

describe('doctor permissions', () => {
  it('matches wildcards and ignores case', () => {
    expect(actionMatches('*', WRITE)).toBe(true);
    expect(actionMatches('Microsoft.Network/*', WRITE)).toBe(true);
    expect(actionMatches('microsoft.network/routetables/*', WRITE)).toBe(true);
    expect(actionMatches('*/read', WRITE)).toBe(false);
    expect(actionMatches('Microsoft.Network/routeTables/read', WRITE)).toBe(false);
    // A dot in an action is literal, not "any character".
    expect(actionMatches('Microsoft.Network/routeTables/write', 'MicrosoftXNetwork/routeTables/write')).toBe(
      false,
    );
  });

  it('takes notActions away from their own entry only', () => {
    const contributorButNoWrite = [{ actions: ['*'], notActions: ['Microsoft.Network/routeTables/write'] }];
    expect(isAllowed(contributorButNoWrite, WRITE)).toBe(false);
    expect(isAllowed(contributorButNoWrite, 'Microsoft.Network/routeTables/read')).toBe(true);
    // A second role assignment that grants the action again wins: entries are a union.
    expect(isAllowed([...contributorButNoWrite, { actions: [WRITE], notActions: [] }], WRITE)).toBe(true);
    expect(
      isAllowed([{ actions: ['Microsoft.Network/*'], notActions: ['Microsoft.Network/*/write'] }], WRITE),
    ).toBe(false);
  });

  it('the controller role grants exactly the required actions', () => {
    const role = [{ actions: [...REQUIRED_ACTIONS], notActions: [] }];
    for (const action of REQUIRED_ACTIONS) expect(isAllowed(role, action)).toBe(true);
    expect(isAllowed(role, 'Microsoft.Network/routeTables/delete')).toBe(false);
    expect(isAllowed([], WRITE)).toBe(false);
  });
});
