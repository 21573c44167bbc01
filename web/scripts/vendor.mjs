// Copies the browser files of the npm dependencies into static/vendor/ (git-ignored), so the
// app serves them itself: no CDN at run time. Run by scripts/setup.sh after `npm ci`.
import { cpSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const web = dirname(dirname(fileURLToPath(import.meta.url)));
const mods = join(web, "node_modules");
const out = join(web, "static", "vendor");

const copies = [
  ["leaflet/dist/leaflet-src.esm.js", "leaflet/leaflet-src.esm.js"],
  ["leaflet/dist/leaflet.css", "leaflet/leaflet.css"],
  ["leaflet/dist/images", "leaflet/images"],
  ["leaflet/LICENSE", "leaflet/LICENSE"],
  ["idb/build/index.js", "idb/index.js"],
  ["idb/LICENSE", "idb/LICENSE"],
  ["lucide-static/icons", "icons"],
  ["lucide-static/LICENSE", "icons/LICENSE"],
];

rmSync(out, { recursive: true, force: true });
for (const [from, to] of copies) {
  mkdirSync(dirname(join(out, to)), { recursive: true });
  cpSync(join(mods, from), join(out, to), { recursive: true });
}
const icons = readdirSync(join(out, "icons")).filter((f) => f.endsWith(".svg")).length;
console.log(`vendor: leaflet, idb, ${icons} icons -> ${out}`);
