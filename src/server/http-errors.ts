/**
 * The one mapping from anything thrown in a request to the JSON error the client sees:
 * `{ error: { code, message, field } }` with the catalogue's HTTP status. Fastify's own errors
 * (schema validation, malformed JSON, body too large, bad URL) get sluice codes; anything
 * unexpected is a 500 naming the request id, never a stack trace.
 */
import { ERROR_CODES, SluiceError, type ErrorCode } from "../errors.ts";

/** The body of every error answer. */
export interface ErrorBody {
  readonly error: { readonly code: ErrorCode; readonly message: string; readonly field: string | null };
}

/** Status and body of an error answer. */
export interface HttpError {
  readonly status: number;
  readonly body: ErrorBody;
}

interface FastifyishError {
  code?: string;
  statusCode?: number;
  message?: string;
  validation?: Array<{ instancePath?: string; message?: string; params?: Record<string, unknown>; keyword?: string }>;
  validationContext?: string;
}

function body(code: ErrorCode, message: string, field: string | null): ErrorBody {
  return { error: { code, message, field } };
}

/** "body.params.factor" from a validation context, an ajv instance path and its params. */
function fieldOf(context: string, v: NonNullable<FastifyishError["validation"]>[number]): string {
  const parts = [context, ...(v.instancePath ?? "").split("/").filter(Boolean)];
  const extra = v.params?.additionalProperty ?? v.params?.missingProperty;
  if (typeof extra === "string") parts.push(extra);
  return parts.join(".");
}

/** The answer for `err`, thrown while serving `method path` (request `reqId`). */
export function toHttpError(err: unknown, where: { method: string; path: string; reqId: string }): HttpError {
  const at = `${where.method} ${where.path}`;
  if (err instanceof SluiceError) {
    const field = typeof err.details.field === "string" ? err.details.field : null;
    return { status: ERROR_CODES[err.code].status, body: body(err.code, err.message, field) };
  }
  const e = (err ?? {}) as FastifyishError;
  if (Array.isArray(e.validation) && e.validation.length > 0) {
    const context = e.validationContext ?? "body";
    const problems = e.validation.map((v) => `${fieldOf(context, v)} ${v.message ?? "is invalid"}${v.keyword === "additionalProperties" ? " (unknown field)" : ""}`);
    return { status: 400, body: body("SLUICE_REQUEST_INVALID", `${at}: ${problems.join("; ")}. Fix the request (schemas: GET /api/v1/openapi.json).`, fieldOf(context, e.validation[0]!)) };
  }
  if (e.code === "FST_ERR_CTP_BODY_TOO_LARGE" || e.statusCode === 413) {
    return { status: 413, body: body("SLUICE_PAYLOAD_TOO_LARGE", `${at}: the request body is larger than the server's limit. Send less, or start the server with a larger body limit.`, "body") };
  }
  if (e.code === "FST_ERR_CTP_INVALID_JSON_BODY" || e.code === "FST_ERR_CTP_EMPTY_JSON_BODY" || (err instanceof SyntaxError && e.statusCode === 400)) {
    return { status: 400, body: body("SLUICE_REQUEST_INVALID", `${at}: the body is not valid JSON (${e.message ?? "parse error"}). Send a JSON object with Content-Type: application/json.`, "body") };
  }
  if (e.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") {
    return { status: 415, body: body("SLUICE_REQUEST_INVALID", `${at}: unsupported Content-Type. Send JSON with Content-Type: application/json.`, "content-type") };
  }
  if (typeof e.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500) {
    return { status: e.statusCode, body: body("SLUICE_REQUEST_INVALID", `${at}: ${e.message ?? "bad request"}. Fix the request.`, null) };
  }
  return { status: 500, body: body("SLUICE_INTERNAL", `${at}: internal error (request ${where.reqId}). The server log has the details; please report it.`, null) };
}
