/**
 * `dr2e verify-trace <dir>`: run one reference fixture (schedule, lowpass or trace) through
 * the engine and compare. Prints `max abs error <value>` and fails above the kind's tolerance.
 */
import { verifyFixture, loadFixtureDenoiser, type Device } from '../engine/index.js';
import type { CommandIo } from './restore-command.js';

export async function runVerifyTrace(
  dir: string,
  options: { provider: Device; verbose: boolean },
  io: CommandIo,
): Promise<number> {
  const result = await verifyFixture(dir, {
    loadDenoiser: (onnxPath, request) => loadFixtureDenoiser(onnxPath, request, { device: options.provider }),
  });
  io.stdout.write(`${result.kind} ${result.name}\n`);
  if (options.verbose) io.stdout.write(`${JSON.stringify(result.details, null, 2)}\n`);
  const details = result.details;
  if (details.kind === 'trace' && details.firstDivergentStep) {
    const d = details.firstDivergentStep;
    io.stdout.write(
      `first divergent model input: step ${d.step} (index ${d.index}, timestep ${d.timestep}), error ${d.maxAbsError.toExponential(3)}\n`,
    );
  }
  for (const note of details.notes) io.stdout.write(`note: ${note}\n`);
  io.stdout.write(`max abs error ${result.maxAbsError.toExponential(3)}\n`);
  io.stdout.write(
    `${result.passed ? 'PASS' : 'FAIL'} (tolerance ${result.tolerance === 0 ? 'exact' : result.tolerance.toExponential(0)})\n`,
  );
  return result.passed ? 0 : 1;
}
