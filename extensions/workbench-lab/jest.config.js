/**
 * Jest: models and pure modules run in node (Node 20 has fetch/Request/Response);
 * component specs (`*.spec.tsx`) ask for jsdom with a docblock.
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/src'],
  testRegex: '/__tests__/.*\\.spec\\.tsx?$',
  transform: {
    '^.+\\.tsx?$': [
      'ts-jest',
      {
        tsconfig: {
          module: 'commonjs',
          isolatedModules: true,
          jsx: 'react',
          esModuleInterop: true
        }
      }
    ]
  },
  moduleNameMapper: { '\\.(css|svg)$': '<rootDir>/src/__tests__/stub.js' }
};
