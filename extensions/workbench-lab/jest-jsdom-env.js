/**
 * jsdom for component specs, plus what a browser page has and jsdom lacks: fetch and its
 * classes (Node's own), and a visible document (polls stand by while it is hidden).
 */
const JSDOMEnvironment = require('jest-environment-jsdom').default;

class WorkbenchEnvironment extends JSDOMEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of [
      'fetch',
      'Request',
      'Response',
      'Headers',
      'TextEncoder',
      'TextDecoder'
    ]) {
      this.global[name] = globalThis[name];
    }
    const doc = this.global.document;
    Object.defineProperty(doc, 'hidden', { value: false, configurable: true });
    Object.defineProperty(doc, 'visibilityState', {
      value: 'visible',
      configurable: true
    });
  }
}

module.exports = WorkbenchEnvironment;
