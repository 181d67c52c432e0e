/** Jest: node environment (Node 20 has fetch/Request/Response built in). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/src'],
  testRegex: '/__tests__/.*\\.spec\\.ts$',
  transform: {
    '^.+\\.ts$': [
      'ts-jest',
      { tsconfig: { module: 'commonjs', isolatedModules: true } }
    ]
  }
};
