import { expect } from "vitest";
import { SluiceError } from "sluice";

/** The SluiceError `fn` throws; fails the test if it throws nothing or something else. */
export function thrown(fn: () => unknown): SluiceError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SluiceError);
    return err as SluiceError;
  }
  return expect.fail("expected a SluiceError, nothing was thrown");
}
