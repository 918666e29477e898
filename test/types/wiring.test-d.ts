import { describe, expectTypeOf, test } from "vitest";
import { definePipeline, defineStep, port, Type, type OutputRef, type PathOutput } from "sluice";
import type { Table } from "sluice";

const makeNumber = defineStep({ name: "make-number", outputs: { value: port.json<number>() }, run: () => ({ value: 1 }) });
const makeFile = defineStep({ name: "make-file", outputs: { out: port.file() }, run: () => ({ out: { path: "out.txt" } }) });
const readFile = defineStep({ name: "read-file", inputs: { f: port.file() }, run: () => ({}) });
const wantsString = defineStep({ name: "wants-string", inputs: { s: port.json<string>() }, run: () => ({}) });
const withParams = defineStep({
  name: "with-params",
  params: Type.Object({ n: Type.Integer(), label: Type.String() }),
  run: () => ({}),
});

describe("pipeline wiring", () => {
  test("a step handle's outputs carry the port kind and value type", () => {
    definePipeline({
      name: "handles",
      build(p) {
        const num = p.step("num", makeNumber);
        const file = p.step("file", makeFile);
        expectTypeOf(num.outputs.value).toEqualTypeOf<OutputRef<"json", number>>();
        expectTypeOf(file.outputs.out).toEqualTypeOf<OutputRef<"file", string>>();
        expectTypeOf(p.file("src", "a.txt")).toEqualTypeOf<OutputRef<"file", string>>();
        expectTypeOf(p.dir("corpus", "data")).toEqualTypeOf<OutputRef<"dir", string>>();
      },
    });
  });

  test("a file output wired into a file input compiles", () => {
    definePipeline({
      name: "file-to-file",
      build(p) {
        const made = p.step("made", makeFile);
        p.step("read", readFile, { inputs: { f: made.outputs.out } });
        p.step("read-src", readFile, { inputs: { f: p.file("src", "a.txt") } });
      },
    });
  });

  test("a json output wired into a file input does not compile", () => {
    definePipeline({
      name: "json-to-file",
      build(p) {
        const num = p.step("num", makeNumber);
        // @ts-expect-error: json is not file
        p.step("read", readFile, { inputs: { f: num.outputs.value } });
        // @ts-expect-error: dir is not file
        p.step("read-dir", readFile, { inputs: { f: p.dir("d", "data") } });
      },
    });
  });

  test("a json<number> output wired into a json<string> input does not compile", () => {
    definePipeline({
      name: "number-to-string",
      build(p) {
        const num = p.step("num", makeNumber);
        // @ts-expect-error: number is not string
        p.step("want", wantsString, { inputs: { s: num.outputs.value } });
      },
    });
  });

  test("a step with inputs cannot be added without wiring them", () => {
    definePipeline({
      name: "unwired",
      build(p) {
        // @ts-expect-error: inputs are required
        p.step("read", readFile);
        // @ts-expect-error: input "f" is missing
        p.step("read2", readFile, { inputs: {} });
        // @ts-expect-error: "g" is not an input of read-file
        p.step("read3", readFile, { inputs: { f: p.file("x", "x"), g: p.file("y", "y") } });
      },
    });
  });

  test("step instance params are checked against the step's schema", () => {
    definePipeline({
      name: "params",
      build(p) {
        p.step("ok", withParams, { params: { n: 3, label: "x" } });
        p.step("partial", withParams, { params: { n: 3 } });
        // @ts-expect-error: n is an integer, not a string
        p.step("bad-type", withParams, { params: { n: "3" } });
        // @ts-expect-error: "m" is not a param of with-params
        p.step("bad-key", withParams, { params: { m: 3 } });
      },
    });
  });

  test("build receives the pipeline's params typed by its schema", () => {
    definePipeline({
      name: "typed-build",
      params: Type.Object({ top: Type.Integer(), corpus: Type.String() }),
      build(_p, params) {
        expectTypeOf(params).toEqualTypeOf<{ top: number; corpus: string }>();
      },
    });
  });
});

describe("step bodies", () => {
  test("ctx.inputs gives a path for file and dir, T for json<T> and bytes for table", () => {
    defineStep({
      name: "typed-inputs",
      inputs: { f: port.file(), d: port.dir(), rows: port.json<{ a: number }[]>(), t: port.table() },
      params: Type.Object({ k: Type.Number() }),
      run(ctx) {
        expectTypeOf(ctx.inputs.f).toEqualTypeOf<string>();
        expectTypeOf(ctx.inputs.d).toEqualTypeOf<string>();
        expectTypeOf(ctx.inputs.rows).toEqualTypeOf<{ a: number }[]>();
        expectTypeOf(ctx.inputs.t).toEqualTypeOf<Table>();
        expectTypeOf(ctx.params).toEqualTypeOf<{ k: number }>();
        // @ts-expect-error: no such input
        void ctx.inputs.missing;
        return {};
      },
    });
  });

  test("run must return each output with its port's value type", () => {
    defineStep({ name: "good-out", outputs: { n: port.json<number>(), f: port.file() }, run: () => ({ n: 1, f: { path: "x" } }) });
    defineStep({ name: "bytes-out", outputs: { f: port.file() }, run: () => ({ f: new Uint8Array() }) });
    // @ts-expect-error: n must be a number
    defineStep({ name: "bad-out", outputs: { n: port.json<number>() }, run: () => ({ n: "one" }) });
    // @ts-expect-error: output f is missing
    defineStep({ name: "missing-out", outputs: { f: port.file() }, run: () => ({}) });
    expectTypeOf<PathOutput>().toEqualTypeOf<{ readonly path: string }>();
  });
});
