import type { Plan } from "../graph/index.ts";
import type { CacheKey } from "../hash/cache-key.ts";
import { KeyResolver, type CacheServices } from "../scheduler/index.ts";
import type { RemoteCache } from "../store/remote-cache/index.ts";
import type { Digest } from "../util/canonical-json.ts";

/**
 * Warms the local cache from the shared one before a run, in batches instead of one step at a
 * time: every step whose inputs are known (sources, or outputs of steps found so far) has its key
 * computed, all their entries are fetched in one round and their outputs in another, and so on,
 * one round per layer of the graph. The run's own lookups then find these entries locally.
 *
 * Nothing here decides a hit: whatever it records is an entry the remote cache verified (signature,
 * every output digest) under its own key, so a step it skips (a map, a `when`, a forced or
 * uncached step, and everything below them) is simply looked up by the run as usual.
 */
export async function prefetchFromRemote(plan: Plan, services: CacheServices, remote: RemoteCache, opts: { force?: ReadonlySet<string> | "all" } = {}): Promise<{ rounds: number; entries: number }> {
  if (opts.force === "all") return { rounds: 0, entries: 0 };
  const keys = new KeyResolver(services, plan.name);
  keys.fingerprintAll(plan);
  const known = new Map<string, Readonly<Record<string, Digest>>>();
  for (const [id, s] of await keys.digestSources(plan)) known.set(id, { [s.kind]: s.digest });
  const tried = new Set<string>();
  let rounds = 0;
  let entries = 0;
  for (;;) {
    const batch = new Map<CacheKey, string[]>();
    for (const id of plan.order) {
      const node = plan.nodes.get(id)!;
      if (node.kind !== "step" || known.has(id) || tried.has(id)) continue;
      if (node.when || node.cache === false || (opts.force?.has(id) ?? false)) continue;
      const inputs: Record<string, Digest> = {};
      let ready = true;
      for (const [port, src] of Object.entries(node.inputs)) {
        const d = known.get(src.node)?.[src.port];
        if (d === undefined) ready = false;
        else inputs[port] = d;
      }
      if (!ready) continue;
      const { key } = keys.keyFor(node, inputs);
      const local = services.actionCache.getLocal(key);
      if (local) {
        known.set(id, local.outputs); // plan order: its dependents come later in this same pass
        continue;
      }
      tried.add(id);
      batch.set(key, [...(batch.get(key) ?? []), id]);
    }
    if (batch.size === 0) break;
    rounds++;
    const fetched = remote.fetchEntries([...batch.keys()]);
    if (fetched.size === 0) break;
    services.commits.run(() => {
      for (const [key, entry] of fetched) {
        services.actionCache.putFetched(entry);
        for (const id of batch.get(key)!) known.set(id, entry.outputs);
        entries++;
      }
    });
  }
  services.commits.flush();
  return { rounds, entries };
}
