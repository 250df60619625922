// Build identity, injected by `bun build --define` (Makefile); "dev" when run from source.
declare const KPULSE_VERSION: string | undefined;
declare const KPULSE_COMMIT: string | undefined;
declare const KPULSE_BUILD_TIME: string | undefined;

export const VERSION = {
  version: typeof KPULSE_VERSION === "string" ? KPULSE_VERSION : "dev",
  commit: typeof KPULSE_COMMIT === "string" ? KPULSE_COMMIT : "unknown",
  build_time: typeof KPULSE_BUILD_TIME === "string" ? KPULSE_BUILD_TIME : "unknown",
};
