// One linter for the whole tree. Typed rules matter here: a dropped promise is a lost ack.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import prettier from 'eslint-config-prettier'

// kafkajs is unmaintained and pinned (architecture.md decision 5): it stays behind the KafkaSink interface.
const kafkajsOnlyInSink = {
  group: ['kafkajs', 'kafkajs/*'],
  message: 'Only the mirror sink (src/mirror/kafkajs-sink.ts) may import kafkajs; use the KafkaSink interface.',
}

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'cairn-data/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        {
          selector: "MemberExpression[object.name='process'][property.name='env']",
          message: 'Only gateway/ reads the environment.',
        },
      ],
      'no-restricted-imports': ['error', { patterns: [kafkajsOnlyInSink] }],
    },
  },
  {
    // src/ is a library: no environment, no exits, no listening sockets.
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'exit', message: 'src/ is a library: return or throw instead.' },
        { object: 'process', property: 'env', message: 'src/ is a library: take options instead.' },
      ],
      'no-restricted-imports': ['error', { patterns: [kafkajsOnlyInSink] }],
    },
  },
  {
    files: ['src/log/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/mqtt/**', '**/native/**', '**/mirror/**', '**/http/**'],
              message: 'src/log depends on nothing protocol-related.',
            },
            kafkajsOnlyInSink,
          ],
        },
      ],
    },
  },
  {
    files: ['src/mirror/kafkajs-sink.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    files: ['gateway/**/*.ts', 'scripts/**/*.ts', 'test/**/*.ts', 'device/**/*.ts'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  { files: ['**/*.js'], ...tseslint.configs.disableTypeChecked },
  prettier,
)
