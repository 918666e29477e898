import Database from "better-sqlite3";
import fs from "node:fs";
import os from "node:os";
import { SluiceError } from "../../errors.ts";
import type { CheckpointReport } from "./protocol.ts";

/** Bytes of the wal-index that matter here: the header, its copy, and the checkpoint info. */
const WAL_INDEX_BYTES = 136;
/** Offsets in the wal-index (https://www.sqlite.org/walformat.html, "The WAL-Index Header"). */
const IS_INIT = 12;
const MX_FRAME = 16;
const HEADER_COPY = 48;
const N_BACKFILL = 96;

/** Options of `WalCheckpointer`. */
export interface WalCheckpointerOptions {
  /** Checkpoint once this many frames are waiting. */
  readonly thresholdPages: number;
  readonly pollMs: number;
  readonly onCheckpoint: (report: CheckpointReport) => void;
  /** Called once; the checkpointer has stopped (the writers' own autocheckpoint takes over). */
  readonly onError: (err: SluiceError) => void;
}

/**
 * Checkpoints the WAL of a database that another thread writes, so that the copy back into the
 * database and its fsyncs happen here instead of inside that thread's COMMIT. How many frames wait
 * is read from the wal-index (`-shm`): the WAL file's size cannot tell, because a checkpointed WAL
 * is reused from its start without shrinking. A torn read (the header being rewritten) fails the
 * header's own copy check and is skipped until the next poll.
 */
export class WalCheckpointer {
  readonly #file: string;
  readonly #opts: WalCheckpointerOptions;
  readonly #buf = Buffer.alloc(WAL_INDEX_BYTES);
  readonly #read32 = os.endianness() === "LE" ? (at: number) => this.#buf.readUInt32LE(at) : (at: number) => this.#buf.readUInt32BE(at);
  readonly #timer: NodeJS.Timeout;
  #db: Database.Database | undefined;
  #shm: number | undefined;

  constructor(file: string, opts: WalCheckpointerOptions) {
    this.#file = file;
    this.#opts = opts;
    this.#timer = setInterval(() => this.#poll(), opts.pollMs);
  }

  /** Frames written to the WAL and not yet checkpointed, or undefined when unknown right now. */
  #waitingFrames(): number | undefined {
    this.#shm ??= fs.openSync(`${this.#file}-shm`, "r");
    if (fs.readSync(this.#shm, this.#buf, 0, WAL_INDEX_BYTES, 0) < WAL_INDEX_BYTES) return undefined;
    const b = this.#buf;
    if (b[IS_INIT] === 0 || b.compare(b, 0, HEADER_COPY, HEADER_COPY, 2 * HEADER_COPY) !== 0) return undefined;
    return this.#read32(MX_FRAME) - this.#read32(N_BACKFILL);
  }

  #poll(): void {
    try {
      const waiting = this.#waitingFrames();
      if (waiting === undefined || waiting < this.#opts.thresholdPages) return;
      this.#db ??= new Database(this.#file, { fileMustExist: true });
      // PASSIVE: never waits for, nor blocks, the writer; frames a reader still needs stay for next time.
      const [r] = this.#db.pragma("wal_checkpoint(PASSIVE)") as [{ busy: number; log: number; checkpointed: number }];
      this.#opts.onCheckpoint({ walFrames: r.log, checkpointedFrames: r.checkpointed });
    } catch (err) {
      // Before the first write, the wal-index may not exist yet.
      if ((err as NodeJS.ErrnoException).code === "ENOENT" && this.#shm === undefined) return;
      this.close();
      this.#opts.onError(
        new SluiceError(
          "SLUICE_STORE_FAILED",
          `store worker: checkpointing ${this.#file} failed: ${(err as Error).message}. Checkpoints go back to the writing connection; check the cache folder's disk and permissions.`,
          { path: this.#file },
          { cause: err },
        ),
      );
    }
  }

  /** Stops polling and closes the connection and the wal-index file. */
  close(): void {
    clearInterval(this.#timer);
    if (this.#shm !== undefined) fs.closeSync(this.#shm);
    this.#shm = undefined;
    this.#db?.close();
    this.#db = undefined;
  }
}
