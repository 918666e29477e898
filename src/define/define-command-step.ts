import { Type, type TObject } from "@sinclair/typebox";
import { SluiceError } from "../errors.ts";
import { callerModuleUrl } from "./caller.ts";
import { defineStep, type Step, type StepDeclaration } from "./define-step.ts";
import type { Ports } from "./ports.ts";

/** The declaration passed to `defineCommandStep`: a step declaration with a command instead of `run`. */
export interface CommandStepDeclaration<I extends Ports, O extends Ports, S extends TObject> extends Omit<StepDeclaration<I, O, S>, "run" | "executor" | "env"> {
  /**
   * The program and its arguments. Each argument may hold `{inputs.NAME}` (a read-only path),
   * `{outputs.NAME}` (the path the program must write), `{params.NAME}` and `{workdir}`.
   * Example: `["python3", "{inputs.script}", "--data", "{inputs.train}", "--out", "{outputs.model}"]`.
   * Wire the script itself as a file input so its content is part of the cache key.
   */
  readonly command: readonly string[];
  /** Environment variables passed through (and part of the cache key); nothing else is inherited but PATH, HOME and LANG. */
  readonly env?: readonly string[];
}

/** A step that runs a program in a fresh folder per attempt on the `process` executor. */
export type CommandStep<I extends Ports, O extends Ports, S extends TObject> = Step<I, O, S> & { readonly command: readonly string[] };

const TEMPLATE = /\{(inputs|outputs|params)\.([A-Za-z0-9_-]+)\}|\{workdir\}/g;

/** Declares a command step: how sluice runs PyTorch, scikit-learn or any other program. */
export function defineCommandStep<I extends Ports = {}, O extends Ports = {}, S extends TObject = TObject<{}>>(decl: CommandStepDeclaration<I, O, S>): CommandStep<I, O, S> {
  const problems: string[] = [];
  if (!Array.isArray(decl?.command) || decl.command.length === 0 || !decl.command.every((a) => typeof a === "string")) {
    problems.push('command must be a non-empty array of strings, e.g. ["python3", "{inputs.script}"]');
  } else {
    const params = Object.keys((decl.params as TObject | undefined)?.properties ?? {});
    for (const arg of decl.command) {
      for (const m of arg.matchAll(TEMPLATE)) {
        const [, side, name] = m;
        if (!side) continue;
        const known = side === "params" ? params : Object.keys((side === "inputs" ? decl.inputs : decl.outputs) ?? {});
        if (!known.includes(name!)) problems.push(`command refers to {${side}.${name}}, which is not declared (${side}: ${known.join(", ") || "none"})`);
      }
    }
  }
  if (problems.length > 0) {
    throw new SluiceError("SLUICE_DEFINITION_INVALID", `command step "${String(decl?.name)}": ${problems.join("; ")}.`, { step: decl?.name, problems });
  }
  const step = defineStep<I, O, S>({
    ...decl,
    params: decl.params ?? (Type.Object({}) as unknown as S),
    executor: "process",
    module: decl.module ?? callerModuleUrl(),
    run() {
      throw new SluiceError("SLUICE_INTERNAL", `command step "${decl.name}" runs on the process executor, not in-process.`);
    },
  });
  return Object.freeze({ ...step, command: [...decl.command] });
}

/** True for a step made by `defineCommandStep`. */
export function isCommandStep(step: Step<any, any, any>): step is CommandStep<any, any, any> {
  return Array.isArray((step as { command?: unknown }).command);
}

/** Replaces `{inputs.x}`, `{outputs.x}`, `{params.x}` and `{workdir}` in one argument. */
export function expandArgument(arg: string, values: { inputs: Record<string, string>; outputs: Record<string, string>; params: Readonly<Record<string, unknown>>; workdir: string }): string {
  return arg.replace(TEMPLATE, (whole, side: string | undefined, name: string | undefined) => {
    if (!side) return values.workdir;
    if (side === "params") {
      const v = values.params[name!];
      return typeof v === "string" ? v : JSON.stringify(v);
    }
    return (side === "inputs" ? values.inputs : values.outputs)[name!] ?? whole;
  });
}
