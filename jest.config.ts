import type { Config } from 'jest';

// NestJS 12 ships ES modules only, so the suites run as ESM through ts-jest
// (see ../shared/SETUP-NOTES.md). Relative imports carry `.js`; the mapper drops it.
const config: Config = {
  preset: 'ts-jest/presets/default-esm',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.spec.ts', '**/*.e2e-spec.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true }] },
  testTimeout: 20000,
};
export default config;
