// @ts-check
// A MediaStream on screen: a <video> (our camera, muted; the other side's picture) or an <audio>
// (a voice). The element follows the stream it is given.
import { html } from "htm/preact";
import { useEffect, useRef } from "preact/hooks";

/**
 * @param {{stream: MediaStream | null, label: string, muted?: boolean, class?: string}} props
 */
export function CallVideo({ stream, label, muted = true, class: cls }) {
  const el = useRef(/** @type {HTMLVideoElement | null} */ (null));
  useEffect(() => {
    if (el.current && el.current.srcObject !== stream) el.current.srcObject = stream;
  }, [stream]);
  return html`<video ref=${el} class=${cls} autoplay playsinline muted=${muted} aria-label=${label}></video>`;
}

/** A voice: plays as soon as it arrives (the call was started by a click, so it may). @param {{stream: MediaStream}} props */
export function CallAudio({ stream }) {
  const el = useRef(/** @type {HTMLAudioElement | null} */ (null));
  useEffect(() => {
    if (el.current && el.current.srcObject !== stream) el.current.srcObject = stream;
  }, [stream]);
  return html`<audio ref=${el} autoplay></audio>`;
}
