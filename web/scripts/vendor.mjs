// Copies the browser files of the npm dependencies into static/vendor/ (git-ignored), so the
// app serves them itself: no CDN at run time, and builds one SVG sprite of the Lucide icons
// named in icons.txt (one file, so the worker's offline page has every icon). Run by
// scripts/setup.sh after `npm ci`.
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
  ["lucide-static/LICENSE", "icons/LICENSE"],
];

rmSync(out, { recursive: true, force: true });
for (const [from, to] of copies) {
  mkdirSync(dirname(join(out, to)), { recursive: true });
  cpSync(join(mods, from), join(out, to), { recursive: true });
}
const STROKE =
  'fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"';
const names = readFileSync(join(web, "icons.txt"), "utf8").split(/\s+/).filter(Boolean);
const symbols = names.map((name) => {
  const svg = readFileSync(join(mods, "lucide-static", "icons", `${name}.svg`), "utf8");
  const inner = svg.slice(svg.indexOf(">", svg.indexOf("<svg")) + 1, svg.lastIndexOf("</svg>")).trim();
  // presentation attributes on each symbol: a <use> clone does not inherit from this root
  return `<symbol id="${name}" viewBox="0 0 24 24" ${STROKE}>${inner}</symbol>`;
});
writeFileSync(
  join(out, "icons", "sprite.svg"),
  `<svg xmlns="http://www.w3.org/2000/svg">\n${symbols.join("\n")}\n</svg>\n`
);
console.log(`vendor: leaflet, idb, ${names.length} icons -> ${out}`);
