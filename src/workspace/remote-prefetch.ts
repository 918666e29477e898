import type { MapNode, Plan } from "../graph/index.ts";
import type { CacheKey } from "../hash/cache-key.ts";
import { KeyResolver, type CacheServices } from "../scheduler/index.ts";
import { collectPort, expandMap, type MapElement } from "../scheduler/map-expansion.ts";
import type { RemoteCache } from "../store/remote-cache/index.ts";
import { sha256, type Digest } from "../util/canonical-json.ts";

type Outputs = Readonly<Record<string, Digest>>;

/**
 * Warms the local cache from the shared one before a run, in batches instead of one step at a
 * time: every step (and map instance) whose inputs are known (sources, or outputs of entries
 * found so far) has its key computed, all their entries are fetched in one round and their
 * outputs in another, and so on, one round per layer of the graph. The run's own lookups then
 * find these entries locally.
 *
 * Nothing here decides a hit: whatever it records is an entry the remote cache verified (signature,
 * every output digest) under its own key, so what it skips (a `when`, a forced or uncached step,
 * and everything below them) is simply looked up by the run as usual.
 */
export async function prefetchFromRemote(plan: Plan, services: CacheServices, remote: RemoteCache, opts: { force?: ReadonlySet<string> | "all" } = {}): Promise<{ rounds: number; entries: number }> {
  if (opts.force === "all") return { rounds: 0, entries: 0 };
  const keys = new KeyResolver(services, plan.name);
  keys.fingerprintAll(plan);
  const known = new Map<string, Outputs>();
  for (const [id, s] of await keys.digestSources(plan)) known.set(id, { [s.kind]: s.digest });
  const tried = new Set<string>();
  let rounds = 0;
  let entries = 0;
  for (;;) {
    // Each key's waiters: what to do with the outputs once the entry is here.
    const batch = new Map<CacheKey, Array<(o: Outputs) => void>>();
    const want = (key: CacheKey, settle: (o: Outputs) => void): void => {
      const local = services.actionCache.getLocal(key);
      if (local) settle(local.outputs); // plan order: its dependents come later in this same pass
      else batch.set(key, [...(batch.get(key) ?? []), settle]);
    };
    for (const id of plan.order) {
      const node = plan.nodes.get(id)!;
      if (node.kind === "source" || known.has(id) || tried.has(id)) continue;
      if (node.when || node.cache === false || (opts.force?.has(id) ?? false)) continue;
      const inputs = knownInputs(node.inputs, known);
      const over = node.kind === "map" ? known.get(node.over.node)?.[node.over.port] : undefined;
      if (!inputs || (node.kind === "map" && over === undefined)) continue;
      tried.add(id);
      if (node.kind === "step") {
        want(keys.keyOf(node, inputs).key, (o) => known.set(id, o));
        continue;
      }
      let elements: MapElement[];
      try {
        elements = expandMap(node, over!, services.cas);
      } catch {
        continue; // not a list, duplicate keys: the run reports it
      }
      const outs: Array<Outputs | undefined> = new Array(elements.length);
      let left = elements.length;
      const settled = (): void => {
        if (left === 0) known.set(id, collected(node, outs as Outputs[], services));
      };
      elements.forEach((e, i) =>
        want(keys.keyOf(e.node, { ...inputs, [node.as]: e.digest }).key, (o) => {
          if (outs[i] !== undefined) return;
          outs[i] = o;
          left--;
          settled();
        }),
      );
      settled();
    }
    if (batch.size === 0) break;
    rounds++;
    const fetched = remote.fetchEntries([...batch.keys()]);
    if (fetched.size === 0) break;
    services.commits.run(() => {
      for (const [key, entry] of fetched) {
        services.actionCache.putFetched(entry);
        for (const settle of batch.get(key)!) settle(entry.outputs);
        entries++;
      }
    });
  }
  services.commits.flush();
  return { rounds, entries };
}

/** The digests of a node's inputs, or undefined while one of them is not known yet. */
function knownInputs(ports: Readonly<Record<string, { node: string; port: string }>>, known: ReadonlyMap<string, Outputs>): Record<string, Digest> | undefined {
  const out: Record<string, Digest> = {};
  for (const [port, src] of Object.entries(ports)) {
    const d = known.get(src.node)?.[src.port];
    if (d === undefined) return undefined;
    out[port] = d;
  }
  return out;
}

/** A map's outputs as the run will collect them (digests only: the run stores the bytes). */
function collected(node: MapNode, outs: readonly Outputs[], services: CacheServices): Outputs {
  const out: Record<string, Digest> = {};
  for (const [port, spec] of Object.entries(node.step.outputs as Record<string, { kind: string }>)) out[port] = sha256(collectPort(port, spec.kind, outs, services.cas, node.id));
  return out;
}
