/**
 * The OpenAPI 3.1 document of the service, generated from the routes' own TypeBox schemas (the
 * ones fastify validates with), collected as routes are added. No extra dependency: a route's
 * `params`, `querystring` and `headers` become parameters, `body` the JSON request body.
 */
import type { RouteOptions } from "fastify";

declare module "fastify" {
  /** OpenAPI fields a route's schema may carry (fastify ignores them; the document shows them). */
  interface FastifySchema {
    summary?: string;
    description?: string;
    tags?: readonly string[];
    security?: ReadonlyArray<Record<string, readonly string[]>>;
    /** Leave the route out of the document. */
    hide?: boolean;
  }
}

interface JsonSchema {
  readonly type?: string;
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly required?: readonly string[];
  readonly description?: string;
  readonly [k: string]: unknown;
}

interface CollectedRoute {
  readonly method: string;
  readonly url: string;
  readonly schema: Readonly<Record<string, unknown>>;
}

/** Collects routes (call `add` from an `onRoute` hook) and renders the OpenAPI document. */
export class OpenApiCollector {
  readonly #routes: CollectedRoute[] = [];

  /** Records a route; HEAD routes (added by fastify for each GET) are left out. */
  add(route: RouteOptions): void {
    for (const method of [route.method].flat()) {
      if (method === "HEAD" || route.schema === undefined || (route.schema as { hide?: boolean }).hide) continue;
      this.#routes.push({ method: method.toLowerCase(), url: route.url, schema: route.schema as Record<string, unknown> });
    }
  }

  /** The document; `security` routes are those whose schema declares `security`. */
  document(info: { title: string; version: string }): Record<string, unknown> {
    const paths: Record<string, Record<string, unknown>> = {};
    for (const r of [...this.#routes].sort((a, b) => (a.url === b.url ? a.method.localeCompare(b.method) : a.url.localeCompare(b.url)))) {
      const path = r.url.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
      const s = r.schema;
      const parameters = [
        ...paramsOf(s.params as JsonSchema | undefined, "path"),
        ...paramsOf(s.querystring as JsonSchema | undefined, "query"),
        ...paramsOf(s.headers as JsonSchema | undefined, "header"),
      ];
      (paths[path] ??= {})[r.method] = {
        ...(s.summary ? { summary: s.summary } : {}),
        ...(s.description ? { description: s.description } : {}),
        ...(s.tags ? { tags: s.tags } : {}),
        ...(parameters.length ? { parameters } : {}),
        ...(s.body ? { requestBody: { required: true, content: { "application/json": { schema: s.body } } } } : {}),
        ...(s.security ? { security: s.security } : {}),
        responses: s.response ? Object.fromEntries(Object.entries(s.response as Record<string, JsonSchema>).map(([code, schema]) => [code, { description: schema.description ?? code, content: { "application/json": { schema } } }])) : { default: { description: "JSON; errors are { error: { code, message, field } }" } },
      };
    }
    return {
      openapi: "3.1.0",
      info,
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "A token from `sluice token create`; roles viewer < operator < admin." } } },
      paths,
    };
  }
}

function paramsOf(schema: JsonSchema | undefined, where: "path" | "query" | "header"): unknown[] {
  if (!schema?.properties) return [];
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties).map(([name, p]) => ({ name, in: where, required: where === "path" || required.has(name), ...(p.description ? { description: p.description } : {}), schema: p }));
}
