import { Graph } from "@dagrejs/graphlib";
import { describe, expect, it } from "vitest";
import { topoSort } from "../../../src/graph/index.ts";

function graph(nodes: string[], edges: Array<[string, string]>): Graph {
  const g = new Graph({ directed: true });
  for (const n of nodes) g.setNode(n);
  for (const [a, b] of edges) g.setEdge(a, b);
  return g;
}

describe("topoSort", () => {
  it("keeps insertion order among nodes that are ready at the same time", () => {
    expect(topoSort(graph(["c", "a", "b"], []))).toEqual({ ok: true, order: ["c", "a", "b"] });
  });

  it("puts every node after all of its predecessors", () => {
    const g = graph(["d", "c", "b", "a"], [["a", "b"], ["b", "c"], ["a", "c"], ["c", "d"]]);
    expect(topoSort(g)).toEqual({ ok: true, order: ["a", "b", "c", "d"] });
  });

  it("returns a cycle as a closed path even when acyclic nodes hang off it", () => {
    const g = graph(["root", "a", "b", "c", "leaf"], [["root", "a"], ["a", "b"], ["b", "c"], ["c", "a"], ["c", "leaf"]]);
    const result = topoSort(g);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.cycle[0]).toBe(result.cycle.at(-1));
    expect(new Set(result.cycle)).toEqual(new Set(["a", "b", "c"]));
    for (let i = 0; i + 1 < result.cycle.length; i++) expect(g.hasEdge(result.cycle[i]!, result.cycle[i + 1]!)).toBe(true);
  });

  it("reports a self-loop as a one-node cycle", () => {
    expect(topoSort(graph(["a"], [["a", "a"]]))).toEqual({ ok: false, cycle: ["a", "a"] });
  });
});
