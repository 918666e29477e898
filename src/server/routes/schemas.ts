/**
 * TypeBox pieces shared by the route groups. Every object schema is closed
 * (`additionalProperties: false`); path segments are restricted to safe characters, so `..`,
 * `/` and encoded slashes never reach a store or the file system.
 */
import { Type, type TSchema } from "@sinclair/typebox";

/** A closed object schema. */
export function Closed<P extends Record<string, TSchema>>(props: P, opts: { description?: string } = {}) {
  return Type.Object(props, { additionalProperties: false, ...opts });
}

/** A run id, a pipeline, model, endpoint or token name: letters, digits, `_ . : -`, starting with a letter or digit. */
export const SafeName = Type.String({ pattern: "^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$", description: "letters, digits, _ . : - (no slashes, no leading dot)" });

/** A step id (map instances look like `train[3]`): no slash, backslash, control character or `..`. */
export const StepIdParam = Type.String({ pattern: "^(?!.*\\.\\.)[^/\\\\\\u0000-\\u001f]{1,256}$", description: "a step id of the run (map instances: step[key])" });

/** A positive whole number in a query string (query values are strings: nothing is coerced). */
export const LimitQuery = Type.String({ pattern: "^[1-9][0-9]{0,3}$", description: "1–9999" });

/** The security requirement of routes that need a token. */
export const BEARER = [{ bearer: [] }];
