// Photos are shrunk on the phone before upload: a 12 MP camera JPEG of 4–8 MB becomes a
// ~1600 px JPEG of a few hundred kB, which a weak signal can carry. EXIF orientation is applied
// while decoding; the canvas re-encode drops the rest of the metadata (the server strips it too).
import { h, icon } from "./dom.js";
import { t } from "./i18n.js";

/** A File/Blob from the camera -> a JPEG Blob whose long side is at most maxSide. */
export async function shrink(file, { maxSide = 1600, quality = 0.82 } = {}) {
  const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  const scale = Math.min(1, maxSide / Math.max(bitmap.width, bitmap.height));
  const w = Math.max(1, Math.round(bitmap.width * scale));
  const hgt = Math.max(1, Math.round(bitmap.height * scale));
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = hgt;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff"; // transparent PNGs flatten on white, as the server does
  ctx.fillRect(0, 0, w, hgt);
  ctx.drawImage(bitmap, 0, 0, w, hgt);
  bitmap.close?.();
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));
  if (!blob) throw new Error("could not encode the photo");
  return blob;
}

/**
 * A photo picker: camera/gallery input plus thumbnails of the shrunk photos.
 * picker.blobs() gives the JPEG Blobs in order; picker.clear() empties it.
 */
export function photoPicker({ max = 9, opts = {}, label = "photo.add", name = "photos" } = {}) {
  const blobs = [];
  const thumbs = h("div.thumbs");
  const input = h("input", { type: "file", accept: "image/*", capture: "environment", multiple: true, name, hidden: true });
  const add = h("label.add-photo", icon("camera"), h("span", t(label)), input);
  const render = () => {
    thumbs.replaceChildren(
      ...blobs.map((b, i) =>
        h("figure.thumb", h("img", { src: b.url, alt: "" }),
          h("button.remove", { type: "button", "aria-label": t("photo.remove"), onclick: () => { URL.revokeObjectURL(b.url); blobs.splice(i, 1); render(); } }, icon("x")))
      ),
      blobs.length < max ? add : ""
    );
    root.dataset.count = blobs.length;
  };
  input.addEventListener("change", async () => {
    const files = [...input.files].slice(0, max - blobs.length);
    input.value = "";
    root.classList.add("busy");
    for (const f of files) {
      try {
        const blob = await shrink(f, opts);
        blob.url = URL.createObjectURL(blob);
        blobs.push(blob);
      } catch {
        root.dispatchEvent(new CustomEvent("photo-error"));
      }
    }
    root.classList.remove("busy");
    render();
    root.dispatchEvent(new Event("change"));
  });
  const root = h("div.photo-picker", thumbs);
  render();
  root.blobs = () => blobs.slice();
  root.clear = () => { blobs.splice(0).forEach((b) => URL.revokeObjectURL(b.url)); render(); };
  return root;
}

/** A strip of server photos (fetched with the token); tap one to see it large. */
export function photoStrip(api, ids, { caption = "" } = {}) {
  const strip = h("div.photo-strip");
  if (caption) strip.append(h("span.caption", caption));
  for (const id of ids) {
    const img = h("img", { alt: "", loading: "lazy", dataset: { photo: id } });
    api.photoUrl(id).then((u) => (img.src = u)).catch(() => img.classList.add("missing"));
    img.addEventListener("click", () => {
      const big = h("div.lightbox", { onclick: () => big.remove() }, h("img", { src: img.src, alt: "" }));
      document.body.append(big);
    });
    strip.append(img);
  }
  return strip;
}
