// @ts-check
// Photos taken with the phone's camera, shrunk on the phone before they are kept or sent: longest
// side at most 1600 px, JPEG. A file that is not an image is refused here (the hub would too).
export const MAX_SIDE_PX = 1600;
const QUALITY = 0.85;

/**
 * @param {File | Blob} file
 * @returns {Promise<Blob>} A JPEG no larger than MAX_SIDE_PX on its longest side.
 */
export async function shrinkPhoto(file) {
  const bitmap = await createImageBitmap(file); // throws for anything that is not an image
  const scale = Math.min(1, MAX_SIDE_PX / Math.max(bitmap.width, bitmap.height));
  const w = Math.max(1, Math.round(bitmap.width * scale));
  const h = Math.max(1, Math.round(bitmap.height * scale));
  const canvas = new OffscreenCanvas(w, h);
  const ctx = /** @type {OffscreenCanvasRenderingContext2D} */ (canvas.getContext("2d"));
  ctx.drawImage(bitmap, 0, 0, w, h);
  bitmap.close();
  return canvas.convertToBlob({ type: "image/jpeg", quality: QUALITY });
}

/**
 * Shrink every picked file; the ones that are not images are named in `bad`.
 * @param {FileList | File[] | null} files
 */
export async function shrinkAll(files) {
  /** @type {Blob[]} */
  const good = [];
  /** @type {string[]} */
  const bad = [];
  for (const f of files ?? []) {
    try {
      good.push(await shrinkPhoto(f));
    } catch {
      bad.push(f.name);
    }
  }
  return { good, bad };
}
