/**
 * The Studio: the web UI of `sluice serve`, served at `/`. Plain HTML, CSS and ES modules from
 * `src/server/studio/public` (found from the package root, so the `dist/` bundle serves the same
 * files), plus two browser libraries from `node_modules` under `/vendor/` (dagre for the DAG
 * layout, uPlot for metric curves): no build step and no CDN. The pages talk only to `/api/v1`.
 */
import { createRequire } from "node:module";
import path from "node:path";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance, FastifyPluginAsync } from "fastify";
import { packageRoot } from "../../util/package-root.ts";
import type { ServerContext } from "../context.ts";

/** Options of `studioRoutes`. */
export interface StudioOptions {
  /**
   * The server's context. When given and no route group answers `GET /api/v1/whoami`, the plugin
   * adds it (viewer): the Studio asks it for the signed-in token's name and role, to offer only
   * what that role may do.
   */
  readonly context?: ServerContext;
}

/** The folder of the Studio's static files. */
export function studioPublicDir(): string {
  return path.join(packageRoot(), "src", "server", "studio", "public");
}

/**
 * Headers of the page: scripts, styles and requests only from this server (the bearer token sits
 * in sessionStorage, so no injected or third-party script may run), no framing, no referrer.
 */
const PAGE_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

/** `/vendor/<name>` → the file in `node_modules` it serves. */
function vendorFiles(): ReadonlyMap<string, { dir: string; file: string; type: string }> {
  const require = createRequire(path.join(packageRoot(), "package.json"));
  const dagre = path.join(path.dirname(require.resolve("@dagrejs/dagre/package.json")), "dist");
  const uplot = path.join(path.dirname(require.resolve("uplot/package.json")), "dist");
  return new Map([
    ["dagre.js", { dir: dagre, file: "dagre.esm.js", type: "text/javascript" }],
    ["uplot.js", { dir: uplot, file: "uPlot.esm.js", type: "text/javascript" }],
    ["uplot.css", { dir: uplot, file: "uPlot.min.css", type: "text/css" }],
  ]);
}

/** Registers the Studio's files at `/` (index.html), `/*.js|css`, `/pages/*.js` and `/vendor/*`. */
export const studioRoutes: FastifyPluginAsync<StudioOptions> = async (app: FastifyInstance, opts: StudioOptions) => {
  // wildcard: false registers one route per file found now, so unknown paths keep the server's JSON 404.
  await app.register(fastifyStatic, {
    root: studioPublicDir(),
    prefix: "/",
    wildcard: false,
    index: ["index.html"],
    cacheControl: true,
    maxAge: 0,
    setHeaders: (reply, file) => {
      reply.header("x-content-type-options", "nosniff");
      if (file.endsWith(".html")) reply.headers(PAGE_HEADERS);
    },
  });
  for (const [name, f] of vendorFiles()) {
    app.get(`/vendor/${name}`, { schema: { hide: true } }, async (_req, reply) => reply.type(f.type).sendFile(f.file, f.dir));
  }
  const ctx = opts.context;
  if (ctx && !app.hasRoute({ method: "GET", url: "/api/v1/whoami" })) {
    app.get("/api/v1/whoami", { onRequest: ctx.requireRole("viewer"), schema: { summary: "The signed-in token's name and role", tags: ["admin"], security: [{ bearer: [] }] } }, async (req) => ctx.actorOf(req));
  }
};
