/**
 * Which onnxruntime execution provider runs the models. Like transformers.js, the engine
 * speaks of a *device* and maps it to execution providers through one table. The device names
 * are the domain's (`DEVICES` in shared/src/restore-options.ts, also read by the runtime
 * configuration and the CLI); the table is typed by them, so a device added there fails to
 * compile until it has its row here.
 *
 * There is no silent fallback: asking for `cuda` on a machine without the CUDA provider is an
 * error, because an operator who pays for a GPU must learn at start-up that it is not used.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { DEVICES, type Device } from '../../../../shared/src/index.js';
import { ProviderUnavailableError } from '../errors.js';

export { DEVICES, type Device };

interface DeviceEntry {
  /** Backend name as reported by `ort.listSupportedBackends()`. */
  readonly backend: string;
  readonly executionProviders: (deviceId: number) => ort.InferenceSession.ExecutionProviderConfig[];
  /** Shared library that must sit beside the binding when the provider is not bundled. */
  readonly providerLibrary?: string;
  readonly howToGet: string;
}

const DEVICE_TABLE: Record<Device, DeviceEntry> = {
  cpu: {
    backend: 'cpu',
    executionProviders: () => ['cpu'],
    howToGet: 'always available',
  },
  cuda: {
    backend: 'cuda',
    executionProviders: (deviceId) => [{ name: 'cuda', deviceId }],
    providerLibrary: 'libonnxruntime_providers_cuda.so',
    howToGet:
      "install onnxruntime-node's CUDA binaries (`node node_modules/onnxruntime-node/script/install --onnxruntime-node-install=cuda12`, as gpu-task/Dockerfile does; the repository's .npmrc skips install scripts) on a machine with an NVIDIA driver and the CUDA and cuDNN majors the provider was built for (gpu-task/Dockerfile checks them with ldd)",
  },
  webgpu: {
    backend: 'webgpu',
    executionProviders: () => ['webgpu'],
    howToGet: 'needs a GPU adapter reachable through Vulkan (libvulkan.so.1 and a GPU driver)',
  },
};

/** Folder holding onnxruntime-node's native binding, where optional provider libraries are installed. */
function ortBindingDir(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    const pkg = path.dirname(require.resolve('onnxruntime-node/package.json'));
    const platformDir = path.join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
    return existsSync(platformDir) ? platformDir : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `value` names a supported device. */
export function isDevice(value: string): value is Device {
  return (DEVICES as readonly string[]).includes(value);
}

/**
 * The execution providers for a device, or a {@link ProviderUnavailableError} that says how to
 * get the provider. Availability here means "this build can load it"; a provider can still
 * fail when the session is created (no GPU adapter), which {@link createInferenceSession}
 * reports with the same error class.
 *
 * @example
 * ```ts
 * resolveExecutionProviders('cpu'); // ['cpu']
 * resolveExecutionProviders('cuda'); // throws on a machine without the CUDA provider
 * ```
 */
export function resolveExecutionProviders(
  device: Device,
  deviceId = 0,
): ort.InferenceSession.ExecutionProviderConfig[] {
  const entry = DEVICE_TABLE[device];
  const backends = ort.listSupportedBackends();
  const known = backends.find((b) => b.name === entry.backend);
  if (!known) {
    throw new ProviderUnavailableError(
      `execution provider "${device}" is not part of this onnxruntime-node build (${backends
        .map((b) => b.name)
        .join(', ')}); ${entry.howToGet}`,
    );
  }
  if (!known.bundled && entry.providerLibrary) {
    const dir = ortBindingDir();
    if (!dir || !existsSync(path.join(dir, entry.providerLibrary))) {
      throw new ProviderUnavailableError(
        `execution provider "${device}" is not installed (${entry.providerLibrary} is missing); ${entry.howToGet}`,
      );
    }
  }
  return entry.executionProviders(deviceId);
}

/** Human-readable hint for a device, used in error messages. */
export function deviceHint(device: Device): string {
  return DEVICE_TABLE[device].howToGet;
}
