// When the e-card page shows a new code (docs/miniprogram-api.md): at every new 30 s step, and
// at once after a scan (the shown code is spent: the next sequence number of the step). A code
// is never shown twice: the sequence only grows within a step and starts at 0 in the next.
import { SEQUENCES_PER_STEP, STEP_SECONDS, timeStep } from './dgc1.js';

export class CodeSchedule {
  constructor() {
    /** @type {number | null} */ this.step = null;
    this.sequence = -1;
  }

  /**
   * The (step, sequence) of the next code to show at ``unixSeconds``, or null when the step's
   * 100 codes are spent (wait for the next step).
   * @param {number} unixSeconds @returns {{step: number, sequence: number} | null}
   */
  next(unixSeconds) {
    const step = timeStep(unixSeconds);
    if (this.step === null || step > this.step) {
      this.step = step;
      this.sequence = -1;
    }
    if (this.sequence + 1 >= SEQUENCES_PER_STEP) return null;
    this.sequence += 1;
    return { step: this.step, sequence: this.sequence };
  }

  /** Milliseconds from ``unixSeconds`` until the next step starts (the page's timer). @param {number} unixSeconds */
  static msUntilNextStep(unixSeconds) {
    return Math.max(1, Math.ceil(((timeStep(unixSeconds) + 1) * STEP_SECONDS - unixSeconds) * 1000));
  }
}
