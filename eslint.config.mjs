// ESLint (flat config) with typescript-eslint's recommended rules: what NestJS projects use.
// Formatting is Prettier's job (.prettierrc.json); `npm run lint` checks both.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'coverage/**', 'node_modules/**', '.services/**', 'bench/results/**', 'sample/public/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        URL: 'readonly',
        fetch: 'readonly',
        globalThis: 'readonly',
      },
    },
    rules: {
      // Payloads are arbitrary JSON and TypeORM's APIs are loosely typed: `any` is allowed where it is written on purpose.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true }],
      // Entity classes are `Function` in TypeORM's own metadata (EntityMetadata.target), and so in ours.
      '@typescript-eslint/no-unsafe-function-type': 'off',
    },
  },
);
