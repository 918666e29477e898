/**
 * The model registry's records: versioned models (ONNX bytes in the CAS, named by digest) with
 * their metrics, lineage and stage, and each serving endpoint's desired deployments.
 * Plain data only; `model-registry.ts` re-exports these with the implementation.
 */

/** Where a model version is in its life: registered, serving as the name's best, or retired. */
export type ModelStage = "candidate" | "champion" | "archived";

/** The run and step that produced a model version, so it can be traced and reproduced. */
export interface ModelLineage {
  runId: string;
  stepId: string;
  pipeline: string;
  /** Input port → digest of what the step read. */
  inputs: Record<string, string>;
  /** The step's params (any JSON value). */
  params: unknown;
  /** Fingerprint of the step's code, when known. */
  codeDigest: string | null;
}

/** One registered version of a model. */
export interface ModelVersion {
  name: string;
  /** 1, 2, 3… per name, in order of registration. */
  version: number;
  /** `sha256:<hex>` of the ONNX bytes in the CAS. */
  digest: string;
  metrics: Record<string, number>;
  /** Description of the model's inputs and outputs (any JSON value). */
  signature: unknown;
  stage: ModelStage;
  lineage: ModelLineage;
  /** Registration time (epoch ms). */
  createdAt: number;
  /** When `stage` last changed (epoch ms): the registration, promotion or archiving time. */
  stageUpdatedAt: number;
  tags: Record<string, string>;
}

/** What `ModelRegistry.register` records. */
export interface NewModelVersion {
  name: string;
  digest: string;
  metrics: Record<string, number>;
  signature: unknown;
  lineage: ModelLineage;
  /** @default {} */
  tags?: Record<string, string>;
  createdAt: number;
}

/** One deployment of an endpoint: a model version and its share of the endpoint's requests. */
export interface Deployment {
  endpoint: string;
  deployment: string;
  model: string;
  version: number;
  /**
   * Whole percent of the endpoint's requests this deployment answers; for a shadow, the percent
   * of requests mirrored to it (its answers are discarded).
   */
  trafficPercent: number;
  shadow: boolean;
  updatedAt: number;
}

/** One entry of `ModelRegistry.setDeployments`. */
export interface DeploymentSpec {
  deployment: string;
  model: string;
  version: number;
  trafficPercent: number;
  /** @default false */
  shadow?: boolean;
}

/**
 * Versioned models and the desired deployments of serving endpoints, on the run store's database.
 * Every method throws `SluiceError`: `SLUICE_PARAMS_INVALID` for malformed arguments (naming the
 * field), `SLUICE_MODEL_NOT_FOUND` for an unknown name or version, `SLUICE_STORE_FAILED` when
 * the database fails.
 */
export interface ModelRegistry {
  /**
   * Registers a model version: versions count 1, 2, 3… per name. Registering the same
   * (name, digest) again returns the existing version unchanged (the first metrics, tags and
   * lineage win), so a rerun never creates a duplicate. Concurrent registrations of different
   * digests get different versions. A new version is a `candidate`.
   */
  register(m: NewModelVersion): Promise<ModelVersion>;
  /** One version of a model (the latest when `version` is omitted), or `undefined`. */
  get(name: string, version?: number): Promise<ModelVersion | undefined>;
  /** Every version (of one name when given), newest first: by `createdAt`, then version, then name. */
  list(name?: string): Promise<ModelVersion[]>;
  /** The current champion of a name (at most one), or `undefined`. */
  champion(name: string): Promise<ModelVersion | undefined>;
  /**
   * Makes this version the champion and archives the previous champion, in one transaction.
   * Promoting the champion again changes nothing. Unknown → `SLUICE_MODEL_NOT_FOUND`.
   */
  promote(name: string, version: number, at: number): Promise<ModelVersion>;
  /**
   * Sets the desired state of an endpoint: replaces all its deployments at once. Traffic shares
   * are whole percents from 0 to 100 and sum to 100 over non-shadow deployments (shadows are left
   * out of the sum); an empty list removes every deployment of the endpoint. Every referenced
   * model version must exist (`SLUICE_MODEL_NOT_FOUND`). Returns the deployments, by name.
   */
  setDeployments(endpoint: string, deployments: readonly DeploymentSpec[], at: number): Promise<Deployment[]>;
  /** Deployments (of one endpoint when given), by endpoint then deployment name. */
  listDeployments(endpoint?: string): Promise<Deployment[]>;
  /** Digests referenced by registered models and live deployments (for cache garbage collection). */
  referencedDigests(): Promise<Set<string>>;
}
