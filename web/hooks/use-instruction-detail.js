// @ts-check
// One instruction as the console's detail shows it: every receipt (GET /api/instructions/{id}),
// then each receipt step from the live feed (instruction.delivered/read/acknowledged/replied), so
// the drill-down to people, the replies and "who has not acknowledged" move as receipts land.
// Many receipts a second (a siren) re-render it at most every RENDER_EVERY_MS.
import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "../api/client.js";
import { onEvents } from "../api/feed.js";
import { instructionOf } from "./use-instructions.js";

/** @typedef {import("../types/console").Instruction} Instruction */
/** @typedef {import("../types/console").Receipt} Receipt */
/** @typedef {import("../types/console").ReceiptState} ReceiptState */

const RENDER_EVERY_MS = 250;
const RANK = { queued: 0, delivered: 1, read: 2, acknowledged: 3, replied: 3 };

/**
 * @typedef {object} Detail
 * @property {Instruction | null} instruction
 * @property {Map<string, Receipt>} receipts By person.
 * @property {string | null} error
 * @property {() => Promise<void>} reload
 */

/**
 * @param {number | null} id
 * @returns {Detail}
 */
export function useInstructionDetail(id) {
  const receipts = useRef(/** @type {Map<string, Receipt>} */ (new Map()));
  const [instruction, setInstruction] = useState(/** @type {Instruction | null} */ (null));
  const [error, setError] = useState(/** @type {string | null} */ (null));
  const [, setVersion] = useState(0);
  const timer = useRef(/** @type {ReturnType<typeof setTimeout> | undefined} */ (undefined));

  const bump = () => {
    if (timer.current !== undefined) return;
    timer.current = setTimeout(() => {
      timer.current = undefined;
      setVersion((v) => v + 1);
    }, RENDER_EVERY_MS);
  };

  const reload = async () => {
    if (id === null) return;
    try {
      const body = await api(`/api/instructions/${id}`);
      /** @type {Map<string, Receipt>} */
      const fresh = new Map(body.receipts.map((/** @type {Receipt} */ r) => [r.person, r]));
      // A step heard on the feed while this loaded is kept (receipts only move forward).
      for (const [person, r] of receipts.current) {
        const f = fresh.get(person);
        if (f && RANK[r.state] > RANK[f.state]) fresh.set(person, r);
      }
      receipts.current = fresh;
      setInstruction({ ...body.instruction, per_state: body.per_state, per_node: body.per_node });
      setError(null);
    } catch (err) {
      setError(/** @type {Error} */ (err).message);
    }
  };

  useEffect(() => {
    receipts.current = new Map();
    setInstruction(null);
    setError(null);
    if (id === null) return;
    void reload();
    const off = onEvents("instruction.", (events) => {
      let touched = false;
      for (const ev of events) {
        if (instructionOf(ev) !== id) continue;
        const d = /** @type {any} */ (ev.data);
        if (ev.type === "instruction.progress") {
          setInstruction((cur) => (cur ? { ...cur, per_state: d.per_state, per_node: d.per_node } : cur));
        } else if (ev.type === "instruction.amended") {
          setInstruction((cur) => (cur ? { ...cur, text: d.text, amendments: d.amendments } : cur));
        } else if (ev.type === "instruction.cancelled") {
          setInstruction((cur) => (cur ? { ...cur, cancelled: true } : cur));
        } else if (typeof d.person === "string" && typeof d.state === "string") {
          const r = receipts.current.get(d.person);
          const state = /** @type {ReceiptState} */ (d.state);
          if (r && RANK[state] > RANK[r.state]) {
            receipts.current.set(d.person, { ...r, state, reply: d.reply ?? r.reply });
            touched = true;
          }
        }
      }
      if (touched) bump();
    });
    return () => {
      off();
      clearTimeout(timer.current);
      timer.current = undefined;
    };
  }, [id]);

  return { instruction, receipts: receipts.current, error, reload };
}
