// Tiny DOM helpers: build elements without a framework, show toasts, format times.

/** h("button.primary", {onclick, disabled}, "text", child) -> HTMLElement */
export function h(spec, attrs, ...children) {
  const [tag, ...classes] = spec.split(".");
  const el = document.createElement(tag || "div");
  if (classes.length) el.className = classes.join(" ");
  if (attrs !== undefined && attrs !== null && (typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className += (el.className ? " " : "") + v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "style" && typeof v === "object") Object.assign(el.style, v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

/** Replace an element's content. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

/** An icon of the vendored Lucide sprite (web/icons.txt names them), in currentColor. */
export function icon(name, cls = "") {
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("class", `icon${cls ? " " + cls : ""}`);
  svg.setAttribute("aria-hidden", "true");
  const use = document.createElementNS(NS, "use");
  use.setAttribute("href", `/static/vendor/icons/sprite.svg#${name}`);
  svg.append(use);
  return svg;
}

let toastBox;
/** A short message at the bottom (or top on large screens); kind: info | ok | warn | error */
export function toast(text, kind = "info", ms = 4000) {
  if (!toastBox) {
    toastBox = h("div.toasts", { role: "status", "aria-live": "polite" });
    document.body.append(toastBox);
  }
  const el = h(`div.toast.${kind}`, text);
  toastBox.append(el);
  setTimeout(() => el.classList.add("gone"), ms);
  setTimeout(() => el.remove(), ms + 400);
  return el;
}

/** A modal sheet (bottom sheet on phones); resolves when closed. */
export function sheet(title, body, { actions = [], wide = false } = {}) {
  return new Promise((resolve) => {
    const close = (value) => {
      back.remove();
      resolve(value);
    };
    const buttons = actions.map((a) =>
      h(`button.${a.kind || "secondary"}`, { type: "button", onclick: () => a.run(close) }, a.label)
    );
    const panel = h(
      "div.sheet" + (wide ? ".wide" : ""),
      { role: "dialog", "aria-modal": "true", "aria-label": title },
      h("header", h("h2", title), h("button.ghost.close", { type: "button", "aria-label": "×", onclick: () => close(null) }, icon("x"))),
      h("div.sheet-body", body),
      buttons.length ? h("footer", buttons) : null
    );
    const back = h("div.backdrop", { onclick: (e) => e.target === back && close(null) }, panel);
    document.body.append(back);
    panel.querySelector("input, textarea, select")?.focus();
  });
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** fn() at most one at a time; calls made meanwhile run it once more afterwards. */
export function coalesce(fn) {
  let running = null;
  let again = false;
  const run = async () => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await fn();
        } while (again);
      } finally {
        running = null;
      }
    })();
    return running;
  };
  return run;
}
