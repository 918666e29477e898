/** The Studio web UI served by `sluice serve` at `/`. */
export { studioRoutes, studioPublicDir, type StudioOptions } from "./studio-routes.ts";
