import type { Logger } from "../../log.ts";
import { CacheServerClient } from "./cache-server-client.ts";
import { RemoteCache } from "./remote-cache.ts";

export { CacheServerClient, type CacheServerClientOptions } from "./cache-server-client.ts";
export { RemoteCache, type RemoteCacheOptions, type RemoteCacheStats } from "./remote-cache.ts";
export { openEntry, signEntry, type OpenFailure } from "./signed-entry.ts";

/** Settings of a shared cache server (from `SLUICE_REMOTE_CACHE_*`). */
export interface RemoteCacheSettings {
  readonly url: string;
  readonly token?: string;
  readonly team?: string;
  readonly signingKey: string;
  readonly readOnly?: boolean;
  /** Per request. @default 30000 */
  readonly timeoutMs?: number;
}

/** Opens the client thread and the read-through/write-through logic for one local cache folder. */
export function openRemoteCache(settings: RemoteCacheSettings, local: { tmpDir: string; inlineMaxBytes: number }, logger: Logger): RemoteCache {
  const readOnly = settings.readOnly ?? false;
  const client = new CacheServerClient({
    url: settings.url, token: settings.token, team: settings.team, timeoutMs: settings.timeoutMs,
    inlineMaxBytes: local.inlineMaxBytes, tmpDir: local.tmpDir, readOnly,
  });
  return new RemoteCache({ client, url: settings.url, signingKey: settings.signingKey, readOnly, logger });
}
