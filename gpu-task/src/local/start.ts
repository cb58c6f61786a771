/**
 * `npm start`: the local stack (main.ts), after relaunching this process once with huge pages
 * for the photo stage's large buffers (gpu-task/src/launch). The stack is imported only in the
 * process that runs it, so the relaunching one stays small while it waits.
 */
import { relaunchWithHugePages } from '../launch/index.js';

const relaunched = await relaunchWithHugePages();
if (relaunched !== null) {
  process.exitCode = relaunched;
} else {
  const { runLocalStack } = await import('./main.js');
  await runLocalStack().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
