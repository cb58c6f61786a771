/**
 * Process launch: what an entry point (the CLI's launcher, the local stack, a benchmark) does
 * before its work, here relaunching itself with huge pages for its large buffers. Node built-ins
 * only, so an entry point can import it before anything heavy. Import this module, not the
 * files beside it.
 */
export * from './huge-pages.js';
