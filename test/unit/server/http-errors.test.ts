import { describe, expect, it } from "vitest";
import { SluiceError } from "../../../src/errors.ts";
import { toHttpError } from "../../../src/server/http-errors.ts";

const where = { method: "POST", path: "/api/v1/pipelines/demo/runs", reqId: "req-7" };

describe("toHttpError", () => {
  it("answers a SluiceError with the catalogue's status, its code, message and field", () => {
    const e = toHttpError(new SluiceError("SLUICE_PIPELINE_NOT_FOUND", "no pipeline", { field: "name" }), where);
    expect(e).toEqual({ status: 404, body: { error: { code: "SLUICE_PIPELINE_NOT_FOUND", message: "no pipeline", field: "name" } } });
    expect(toHttpError(new SluiceError("SLUICE_FORBIDDEN", "no"), where).status).toBe(403);
  });

  it("names the first invalid field of a schema failure, unknown properties included", () => {
    const err = Object.assign(new Error("body must NOT have additional properties"), {
      validationContext: "body",
      validation: [
        { keyword: "additionalProperties", instancePath: "", message: "must NOT have additional properties", params: { additionalProperty: "priority" } },
        { keyword: "type", instancePath: "/params", message: "must be object", params: {} },
      ],
    });
    const e = toHttpError(err, where);
    expect(e.status).toBe(400);
    expect(e.body.error.code).toBe("SLUICE_REQUEST_INVALID");
    expect(e.body.error.field).toBe("body.priority");
    expect(e.body.error.message).toContain("body.params must be object");
  });

  it("maps fastify's body errors: malformed JSON 400, too large 413, bad media type 415", () => {
    expect(toHttpError(Object.assign(new SyntaxError("Unexpected end of JSON input"), { code: "FST_ERR_CTP_INVALID_JSON_BODY", statusCode: 400 }), where)).toMatchObject({ status: 400, body: { error: { code: "SLUICE_REQUEST_INVALID", field: "body" } } });
    expect(toHttpError(Object.assign(new Error("Request body is too large"), { code: "FST_ERR_CTP_BODY_TOO_LARGE", statusCode: 413 }), where)).toMatchObject({ status: 413, body: { error: { code: "SLUICE_PAYLOAD_TOO_LARGE" } } });
    expect(toHttpError(Object.assign(new Error("Unsupported Media Type"), { code: "FST_ERR_CTP_INVALID_MEDIA_TYPE", statusCode: 415 }), where).status).toBe(415);
  });

  it("answers anything unexpected with 500 naming the request id, never its message or stack", () => {
    const e = toHttpError(new TypeError("cannot read properties of undefined (secret path /etc/x)"), where);
    expect(e.status).toBe(500);
    expect(e.body.error.code).toBe("SLUICE_INTERNAL");
    expect(e.body.error.message).toContain("req-7");
    expect(JSON.stringify(e.body)).not.toMatch(/secret|TypeError|at /);
  });
});
