// @ts-check
// Go live: the phone's back camera published to the hub over WHIP (POST /whip/field-<username>
// with the login token; the hub answers 201 with the session's Location), where it becomes the
// camera `field-<username>` the desk watches like any other. Stop is a DELETE of that Location.
import { signal } from "@preact/signals";
import { HttpError, currentUser, request } from "../api/client.js";
import { gathered } from "../api/rtc.js";

/** "off" | "starting" | "live" | "failed" */
export const liveState = signal(/** @type {"off" | "starting" | "live" | "failed"} */ ("off"));
/** Why it failed, in the hub's words. */
export const liveProblem = signal("");
/** What the camera sees (shown small on the phone while live). */
export const liveStream = signal(/** @type {MediaStream | null} */ (null));

/** @type {RTCPeerConnection | null} */
let pc = null;
/** @type {string | null} */
let where = null;

/** @param {RTCRtpTransceiver} tr */
function preferH264(tr) {
  const caps = RTCRtpSender.getCapabilities?.("video");
  if (!caps || !tr.setCodecPreferences) return;
  const h264 = caps.codecs.filter((c) => c.mimeType.toLowerCase() === "video/h264");
  if (h264.length) tr.setCodecPreferences(h264);
}

/** Publish the back camera. */
export async function goLive() {
  if (liveState.value === "starting" || liveState.value === "live") return;
  const me = currentUser.value?.username;
  if (!me) return;
  liveState.value = "starting";
  liveProblem.value = "";
  /** @type {MediaStream} */
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: { ideal: "environment" }, width: { ideal: 1280 }, height: { ideal: 720 } },
      audio: false,
    });
  } catch (err) {
    liveState.value = "failed";
    liveProblem.value = err instanceof Error ? err.message : String(err);
    return;
  }
  const conn = new RTCPeerConnection();
  pc = conn;
  const tr = conn.addTransceiver(stream.getVideoTracks()[0], { direction: "sendonly", streams: [stream] });
  preferH264(tr);
  try {
    await conn.setLocalDescription(await conn.createOffer());
    await gathered(conn);
    const r = await request(`/whip/field-${encodeURIComponent(me)}`, {
      method: "POST",
      body: conn.localDescription?.sdp ?? "",
      contentType: "application/sdp",
    });
    const loc = r.headers.get("Location");
    where = loc ? new URL(loc, location.href).href : null;
    await conn.setRemoteDescription({ type: "answer", sdp: await r.text() });
  } catch (err) {
    conn.close();
    for (const t of stream.getTracks()) t.stop();
    pc = null;
    liveState.value = "failed";
    liveProblem.value = err instanceof HttpError ? err.detail : err instanceof Error ? err.message : String(err);
    return;
  }
  liveStream.value = stream;
  liveState.value = "live";
  conn.addEventListener("connectionstatechange", () => {
    if (pc === conn && (conn.connectionState === "failed" || conn.connectionState === "closed")) {
      void stopLive("failed");
    }
  });
}

/** Stop publishing (one tap). @param {"off" | "failed"} [as] */
export async function stopLive(as = "off") {
  const conn = pc;
  const loc = where;
  pc = null;
  where = null;
  for (const t of liveStream.value?.getTracks() ?? []) t.stop();
  liveStream.value = null;
  liveState.value = as;
  if (loc) await request(loc, { method: "DELETE", keepalive: true }).catch(() => {});
  conn?.close();
}
