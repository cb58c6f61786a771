// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'cdk.out/',
      'node_modules/',
      'models/',
      '.data/',
      'out/',
      'coverage/',
      'functions/src/playground/assets.generated.ts',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // The domain runs in Lambda, Node and edge runtimes: no Node globals (dependency-cruiser,
    // .dependency-cruiser.mjs, keeps node: modules and the AWS SDK out of its imports).
    files: ['shared/src/**/*.ts'],
    rules: {
      'no-restricted-globals': [
        'error',
        {
          name: 'Buffer',
          message: 'shared/src is runtime-neutral: use Uint8Array and shared/src/encoding.ts.',
        },
        {
          name: 'process',
          message:
            'shared/src is runtime-neutral: take configuration as arguments (shared/runtime reads the environment).',
        },
        { name: 'require', message: 'shared/src is ESM and runtime-neutral.' },
        { name: '__dirname', message: 'shared/src is runtime-neutral.' },
        { name: '__filename', message: 'shared/src is runtime-neutral.' },
      ],
    },
  },
  {
    files: ['bin/**/*.js', 'scripts/**/*.js', '.ci/**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
