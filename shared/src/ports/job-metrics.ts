/** Port: operational metrics of finished jobs (counts, faces, model time, waiting time). */
import type { Job } from '../schemas.js';

export interface JobMetrics {
  /**
   * A job reached a terminal status here (the write that made it terminal succeeded): called
   * once per job by whoever finished it, never for a job found already finished.
   */
  jobFinished(job: Job): void;
}
