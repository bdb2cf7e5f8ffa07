/**
 * Why a host has no usable WebGPU adapter, as a typed cause, and what to do
 * about each cause (pure): the reason the GPU functions nack with, and the
 * remedy `vfun gpu info`, the GPU bench and calibration show.
 */

/** The environment variable that turns WebGPU off (`off`, `0` or `false`). */
export const WEBGPU_ENV = 'VIRTFUN_WEBGPU';

/** What installs the Vulkan loader and a Mesa new enough for Dawn on Debian. */
export const GPU_SETUP_COMMAND = 'npm run setup:gpu';

/** What installs the `webgpu` package (an optional peer dependency) at the version VirtFun is tested with. */
export const OPTIONAL_INSTALL_COMMAND = 'npm install webgpu@0.6.2';

/** Why there is no usable adapter. */
export type UnavailableCause =
  /** The operator set VIRTFUN_WEBGPU to `setting` (off, 0 or false). */
  | { readonly kind: 'turned-off'; readonly setting: string }
  /** The optional package `webgpu` (Dawn's Node bindings) is not installed or does not load. */
  | { readonly kind: 'package-missing'; readonly detail: string }
  /** Dawn found no adapter: no GPU with a Vulkan driver, no Vulkan loader, or a Mesa too old. */
  | { readonly kind: 'no-adapter' }
  /** Dawn's requestAdapter threw (a broken Vulkan loader or driver). */
  | { readonly kind: 'adapter-failed'; readonly detail: string }
  /** The probe process (vFunD's) crashed, timed out or answered nothing. */
  | { readonly kind: 'probe-failed'; readonly detail: string };

export type UnavailableKind = UnavailableCause['kind'];

/** What to do about a cause: the command or step, and what it does. */
export interface Remedy {
  readonly action: string;
  readonly why: string;
}

/**
 * The reason a cause is given as, in the GPU functions' nacks, `device.probed`'s detail and
 * `vfun gpu info`. It does not start with "no WebGPU adapter": callers put that in front.
 */
export function reasonOf(cause: UnavailableCause): string {
  switch (cause.kind) {
    case 'turned-off':
      return `WebGPU is turned off on this host (${WEBGPU_ENV}=${cause.setting})`;
    case 'package-missing':
      return `the package 'webgpu' (an optional peer dependency) could not be loaded (install it beside virtfun: ${OPTIONAL_INSTALL_COMMAND}): ${cause.detail}`;
    case 'no-adapter':
      return `Dawn found no GPU with a Vulkan driver and no Mesa lavapipe new enough for it (Mesa >= 24; on Debian bookworm: mesa-vulkan-drivers from bookworm-backports, \`${GPU_SETUP_COMMAND}\`)`;
    case 'adapter-failed':
      return `requestAdapter failed: ${cause.detail}`;
    case 'probe-failed':
      return `the adapter probe failed: ${cause.detail}`;
  }
}

/** What to do about a cause (pure). */
export function remedyOf(cause: UnavailableCause): Remedy {
  switch (cause.kind) {
    case 'turned-off':
      return { action: `unset ${WEBGPU_ENV} (it is set to ${cause.setting})`, why: 'the GPU functions nack while it is set' };
    case 'package-missing':
      return {
        action: OPTIONAL_INSTALL_COMMAND,
        why: "installs 'webgpu', Dawn's Node bindings (about 130 MB), at the version VirtFun is tested with",
      };
    case 'no-adapter':
    case 'adapter-failed':
      return { action: GPU_SETUP_COMMAND, why: 'installs the Vulkan loader and a Mesa new enough for Dawn; needs root' };
    case 'probe-failed':
      return { action: 'vfun gpu info', why: 'probes the adapter in its own process and says why there is none' };
  }
}
