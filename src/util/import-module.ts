/**
 * Set by the dist/ loader (dist/loader.js) when it runs the CommonJS bundle: a script compiled
 * through node:vm, as the loader does to use V8's code cache, has no `import()` of its own, so the
 * loader passes one in. Undefined everywhere else (sources run by tsx or vitest, the bundle loaded
 * by a plain `require`).
 */
declare const __sluiceImport: ((specifier: string) => Promise<unknown>) | undefined;

/** `import(specifier)`: user modules and external packages loaded at run time go through here. */
export function importModule<T = Record<string, unknown>>(specifier: string): Promise<T> {
  return (typeof __sluiceImport === "function" ? __sluiceImport(specifier) : import(specifier)) as Promise<T>;
}
