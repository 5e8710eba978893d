// Payload shapes of the hub's HTTP and WebSocket API, as the pages use them.

/** `POST /api/auth/login` and `POST /api/auth/refresh`. */
export interface TokenResponse {
  access_token: string;
  token_type: "bearer";
  /** Lifetime of the token in seconds. */
  expires_in: number;
}

/** `GET /api/auth/me`: the logged-in user. */
export interface Me {
  username: string;
  roles: Role[];
  /** The directory person this login is. */
  person: string;
  /** Grids the user serves (workers see only these). */
  grids: string[];
}

export type Role = "admin" | "dispatcher" | "coordinator" | "worker" | "viewer";

/** The body of an error answer (FastAPI's `detail`: a text, or a list for 422). */
export interface ErrorBody {
  detail?: string | Array<{ loc?: Array<string | number>; msg?: string; type?: string }>;
  [extra: string]: unknown;
}

/** One entry of the event log (`/ws/events`, `GET /api/events`). */
export interface HubEvent {
  /** Strictly increasing, no gaps. */
  id: number;
  /** ISO 8601 time. */
  ts: string;
  /** Dotted type: `camera.online`, `incident.assigned`, `alert.started`… */
  type: string;
  subject: string;
  actor: string;
  /** The grid it concerns, or null. */
  grid: string | null;
  data: Record<string, unknown>;
}

/** A control message on `/ws/events`: replay done (`live`) or fallen behind (`resync`, then close 4000). */
export interface FeedControl {
  control: "live" | "resync";
  last_id: number;
}

/** One message on `/ws/events`: a batch of events, or a control object. */
export type FeedMessage = HubEvent[] | FeedControl;

/** `GET /api/events`. */
export interface EventPage {
  events: HubEvent[];
  last_id: number;
  head_id: number;
}

export type CameraState =
  | "starting"
  | "online"
  | "stalled"
  | "offline"
  | "disabled"
  | "remote"
  | "unassigned"
  /** Read only while watched (a GB/T 28181 channel nobody analyses), and nobody watches it: a live player wakes it. */
  | "standby";

/** One camera of `GET /api/cameras`: its state and health figures. */
export interface Camera {
  id: string;
  name: string;
  grid: string | null;
  state: CameraState;
  /** Why it is in that state (empty when online). */
  reason: string | null;
  /** Hub node that ingests it (several nodes), else null. */
  owner?: string | null;
  /** Public base URL of that node when the camera is `remote`: WHEP offers go there. */
  owner_url?: string | null;
  /** `h264`, `hevc`, `mjpeg`… once known. */
  codec: string | null;
  /** Whether browsers can play its packets as they are (null until known). */
  browser_playable: boolean | null;
  /** What a browser viewer gets: the camera's own H.264, its H.264 sub-stream, a transcode, or
   *  pictures (null until the codec is known). */
  browser_video?: "direct" | "substream" | "transcoded" | "pictures" | null;
  /** Why it is pictures (the codec, or the hub's transcode limit). */
  browser_video_reason?: string | null;
  width: number | null;
  height: number | null;
  input_fps: number | null;
  bitrate_bps: number | null;
  last_frame_age_s: number | null;
  viewers: number;
  /** Read only while someone watches it (standby otherwise); a live player wakes it. */
  on_demand?: boolean;
  /** The camera can be turned (PTZ) and this user may: POST /api/cameras/{id}/ptz. */
  ptz?: boolean;
  [figure: string]: unknown;
}
