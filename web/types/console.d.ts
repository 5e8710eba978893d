// Payload shapes of the instruction routes the console uses.

export type ReceiptState = "queued" | "delivered" | "read" | "acknowledged" | "replied";
export type Priority = "routine" | "urgent" | "emergency";

export interface Targets {
  people: string[];
  roles: string[];
  nodes: string[];
  on_duty_only: boolean;
}

/** `GET /api/instructions` rows (and `instruction` of `GET /api/instructions/{id}`). */
export interface Instruction {
  id: number;
  text: string;
  priority: Priority;
  sent_by: string;
  sent_at: number;
  deadline_at: number | null;
  reply_options: string[];
  targets: Targets;
  cancelled: boolean;
  amendments: number;
  recipients: number;
  per_state: Record<ReceiptState, number>;
  per_node?: Record<string, Record<ReceiptState, number>>;
  /** The console's own: id of the event the counts were taken at (a progress or sent event). */
  base?: number;
  /** The console's own: confirmations heard on the feed after `base`. */
  since?: { acknowledged: number; replied: number };
}

/** One recipient's receipt. */
export interface Receipt {
  person: string;
  grid: string | null;
  state: ReceiptState;
  reply: string | null;
  delivered_at: number | null;
  read_at: number | null;
  done_at: number | null;
}

/** `POST /api/instructions/preview`. */
export interface Preview {
  count: number;
  sample: Array<{ id: string; name: string }>;
  unreachable: string[];
}

/** `GET /api/instruction-templates` rows. */
export interface Template {
  id: number;
  name: string;
  text: string;
  priority: Priority;
  targets: Targets;
  reply_options: string[];
  deadline_s: number | null;
  saved_by: string;
  saved_at: number;
}

/** A node of `GET /api/directory`'s tree. */
export interface DirNode {
  id: string;
  name: string;
  level: string;
  leader: string | null;
  children?: DirNode[];
}

/** A person of `GET /api/directory`. */
export interface DirPerson {
  id: string;
  name: string;
  roles: string[];
  grids: string[];
  on_duty: boolean;
  username: string | null;
}
