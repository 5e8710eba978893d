// What the camera players report.

/**
 * Why a player gave up:
 * - `startup`: the session could not be set up (HTTP error, no answer, no first frame in time);
 * - `stalled`: it played, then no new frame arrived for a while or the connection was lost;
 * - `decode`: frames arrive but cannot be shown (codec the browser cannot decode, broken picture).
 */
export type PlayerErrorKind = "startup" | "stalled" | "decode";

export interface PlayerError {
  kind: PlayerErrorKind;
  /** For people and logs. */
  message: string;
  /** HTTP status when the hub refused (415: the browser cannot play this codec). */
  status?: number;
  /** Seconds the hub asked to wait (`Retry-After`), if any. */
  retryAfterS?: number | null;
}

/** Which transport shows a camera live. */
export type LiveMode = "whep" | "snapshot" | "none";
