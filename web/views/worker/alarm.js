// @ts-check
// Sound and vibration for what must not be missed (an emergency instruction, a call ringing):
// repeated until stopped.
/** @type {AudioContext | null} */
let audio = null;

/** @param {number} hz @param {number} ms */
function tone(hz, ms) {
  try {
    audio ??= new AudioContext();
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    gain.gain.value = 0.3;
    osc.frequency.value = hz;
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + ms / 1000);
  } catch {
    // No sound here: the screen and the vibration still say it.
  }
}

/**
 * Ring until the returned function is called.
 * @param {"emergency" | "call"} kind
 */
export function startAlarm(kind) {
  const once = () => {
    if (kind === "emergency") {
      navigator.vibrate?.([400, 150, 400, 150, 400]);
      tone(880, 300);
      setTimeout(() => tone(660, 300), 350);
    } else {
      navigator.vibrate?.([600, 400]);
      tone(520, 500);
    }
  };
  once();
  const timer = setInterval(once, kind === "emergency" ? 2000 : 1600);
  return () => {
    clearInterval(timer);
    navigator.vibrate?.(0);
  };
}
