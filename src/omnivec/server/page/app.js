// omnivec's search page: calls the HTTP API of the server that serves it.
// Every piece of data (paths, snippets, symbols, error messages) goes into the page with
// textContent or as an attribute value, never as markup; the page's CSP allows no inline script.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const KEY_SLOT = "omnivec.apiKey";
  let queryImage = null; // data URL of the image query
  let objectUrls = []; // blob URLs of the shown images, released on the next search
  let searchSeq = 0; // answers to an older search are dropped

  // ---- API --------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  function authHeaders(extra) {
    const headers = Object.assign({}, extra);
    const key = sessionStorage.getItem(KEY_SLOT);
    if (key) headers.Authorization = "Bearer " + key;
    return headers;
  }

  async function api(path, init) {
    const opts = Object.assign({}, init);
    opts.headers = authHeaders(opts.body === undefined ? {} : { "Content-Type": "application/json" });
    const resp = await fetch(path, opts);
    if (resp.ok) return resp;
    let message = resp.status + " " + resp.statusText;
    try {
      const body = await resp.json();
      if (body && body.error && body.error.message) message = body.error.message;
    } catch (_) {
      // not JSON: keep the status line
    }
    if (resp.status === 401) askForKey(sessionStorage.getItem(KEY_SLOT) ? "The server refused this key." : "");
    throw new ApiError(resp.status, message);
  }

  const itemUrl = (id) => "v1/items/" + encodeURIComponent(id);

  // ---- status and key ---------------------------------------------------------------------

  function askForKey(why) {
    $("key-form").hidden = false;
    $("key-error").hidden = !why;
    $("key-error").textContent = why;
    $("key").focus();
  }

  async function connect() {
    try {
      const health = await (await api("healthz")).json();  // with the key: stores and models
      const models = await (await api("v1/models")).json();
      $("key-form").hidden = true;
      $("status").textContent = describe(health, models.data.map((m) => m.id));
      $("status").classList.remove("error");
    } catch (err) {
      $("status").textContent = err.status === 401 ? "API key needed" : "Not connected: " + err.message;
      $("status").classList.add("error");
    }
  }

  function describe(health, modelIds) {
    const store = health.stores[0];
    if (!store) return "no store · models: " + modelIds.join(", ");
    const counts = Object.entries(store.collections);
    const total = counts.reduce((n, [, c]) => n + c, 0);
    const parts = counts.map(([name, c]) => name + " " + c).join(" · ");
    return store.name + ": " + total + " chunks (" + parts + ") · models: " + modelIds.join(", ");
  }

  function saveKey(ev) {
    ev.preventDefault();
    const key = $("key").value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY_SLOT, key);
    $("key").value = "";
    connect();
  }

  // ---- image query (upload or paste) ------------------------------------------------------

  function setQueryImage(file) {
    if (!file || !file.type.startsWith("image/")) return;
    const reader = new FileReader();
    reader.addEventListener("load", () => {
      queryImage = reader.result;
      $("image-preview").src = queryImage;
      $("image-name").textContent = file.name || "pasted image";
      $("image-chip").hidden = false;
      $("image-hint").hidden = true;
    });
    reader.readAsDataURL(file);
  }

  function clearQueryImage() {
    queryImage = null;
    $("image").value = "";
    $("image-preview").removeAttribute("src");
    $("image-chip").hidden = true;
    $("image-hint").hidden = false;
  }

  function onPaste(ev) {
    const items = ev.clipboardData ? Array.from(ev.clipboardData.items) : [];
    const image = items.find((it) => it.kind === "file" && it.type.startsWith("image/"));
    if (!image) return; // text pastes into the box as usual
    ev.preventDefault();
    setQueryImage(image.getAsFile());
  }

  // ---- search -----------------------------------------------------------------------------

  function showMessage(text, kind) {
    const el = $("message");
    el.textContent = text;
    el.className = "message " + (kind || "");
    el.hidden = !text;
  }

  async function search(ev) {
    ev.preventDefault();
    const text = $("q").value.trim();
    if (!text && !queryImage) {
      showMessage("Type a query or add an image.", "info");
      return;
    }
    const body = { k: Number($("k").value), type: $("type").value };
    if (text) body.text = text;
    if (queryImage) body.image = queryImage;
    const path = $("path").value.trim();
    if (path) body.path = path;
    const seq = ++searchSeq;
    clearResults();
    showMessage("Searching…", "info");
    $("submit").disabled = true;
    try {
      const data = await (await api("v1/search", { method: "POST", body: JSON.stringify(body) })).json();
      if (seq !== searchSeq) return;
      if (!data.hits.length) showMessage("No results. Try other words, another type, or no path glob.", "info");
      else showMessage(data.hits.length + " results from " + data.store, "info");
      for (const hit of data.hits) $("results").appendChild(renderHit(hit, text));
    } catch (err) {
      if (seq === searchSeq) showMessage(err.message, "error");
    } finally {
      if (seq === searchSeq) $("submit").disabled = false;
    }
  }

  function clearResults() {
    objectUrls.forEach((u) => URL.revokeObjectURL(u));
    objectUrls = [];
    $("results").replaceChildren();
  }

  // ---- one hit ----------------------------------------------------------------------------

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function renderHit(hit, text) {
    const li = el("li", "hit kind-" + hit.kind);
    li.dataset.kind = hit.kind;
    li.appendChild(renderHead(hit, li));
    if (hit.kind === "code") li.appendChild(renderCode(hit.snippet || "", hit.language, hit.start_line));
    else if (hit.kind === "image") li.appendChild(renderFigure(hit, ["thumbnail"], text));
    else if (hit.kind === "screenshot") {
      const media = el("div", "media");
      media.appendChild(renderFigure(hit, ["page", "thumbnail"], text));
      if (hit.snippet) media.appendChild(el("pre", "text", hit.snippet));
      li.appendChild(media);
    } else if (hit.snippet) li.appendChild(el("pre", "text", hit.snippet));
    return li;
  }

  function renderHead(hit, li) {
    const head = el("div", "head");
    head.appendChild(el("span", "badge", hit.kind));
    head.appendChild(el("span", "path", hit.path));
    const where = [];
    if (hit.page != null) where.push("page " + hit.page);
    if (hit.start_line != null && (hit.kind === "code" || hit.kind === "doc")) {
      const one = hit.start_line === hit.end_line;
      where.push((one ? "line " : "lines ") + hit.start_line + (one ? "" : "–" + hit.end_line));
    }
    if (where.length) head.appendChild(el("span", "lines", where.join(" · ")));
    if (hit.symbol) head.appendChild(el("span", "symbol", hit.symbol));
    head.appendChild(renderScore(hit));
    const open = el("a", "open", "open item");
    open.href = itemUrl(hit.id);
    open.target = "_blank";
    open.rel = "noopener noreferrer";
    open.addEventListener("click", (ev) => {
      // a new tab cannot send the key: show the record here instead
      if (!sessionStorage.getItem(KEY_SLOT)) return;
      ev.preventDefault();
      toggleRecord(hit, li);
    });
    head.appendChild(open);
    return head;
  }

  // What a person can read: the fused score only orders this list, so show the cosine
  // similarity (-1..1) and the BM25 score of the query's words; the fused one is in the tooltip.
  function renderScore(hit) {
    const parts = [];
    if (hit.dense_score != null) parts.push("cos " + Number(hit.dense_score).toFixed(2));
    if (hit.keyword_score != null) parts.push("bm25 " + Number(hit.keyword_score).toFixed(1));
    const span = el("span", "score", parts.length ? parts.join(" · ") : "score " + Number(hit.score).toFixed(4));
    span.title =
      "rank score " + Number(hit.score).toFixed(4) + " (orders this list only)" +
      (hit.dense_score != null ? "; cosine similarity to the query " + hit.dense_score : "") +
      (hit.keyword_score != null ? "; BM25 of the query's words " + hit.keyword_score : "; no query word matched");
    return span;
  }

  async function toggleRecord(hit, li) {
    const shown = li.querySelector(".record");
    if (shown) {
      shown.remove();
      return;
    }
    const pre = el("pre", "record", "loading…");
    li.appendChild(pre);
    try {
      pre.textContent = JSON.stringify(await (await api(itemUrl(hit.id))).json(), null, 2);
    } catch (err) {
      pre.textContent = err.message;
      pre.classList.add("error");
    }
  }

  // ---- images and matched regions ---------------------------------------------------------

  function renderFigure(hit, order, text) {
    const fig = el("figure", "figure loading");
    fig.appendChild(el("span", "placeholder", "loading image…"));
    showImage(fig, hit, order, text);
    return fig;
  }

  async function showImage(fig, hit, order, text) {
    for (const which of order) {
      const url = itemUrl(hit.id) + "?image=" + which + (text ? "&q=" + encodeURIComponent(text) : "");
      let resp;
      try {
        resp = await api(url);
      } catch (_) {
        continue; // no such image for this item, or not servable: try the next
      }
      const header = parseRegions(resp.headers.get("X-Omnivec-Regions"));
      const src = URL.createObjectURL(await resp.blob());
      objectUrls.push(src);
      const regions = hit.regions && hit.regions.length ? hit.regions : header;
      await placeImage(fig, hit, which, src, regions);
      return;
    }
    fig.replaceChildren(el("span", "placeholder", "no image served for this item"));
    fig.classList.remove("loading");
  }

  function parseRegions(raw) {
    try {
      const boxes = JSON.parse(raw || "[]");
      return Array.isArray(boxes) ? boxes : [];
    } catch (_) {
      return [];
    }
  }

  async function placeImage(fig, hit, which, src, regions) {
    const frame = el("div", "frame");
    const img = el("img");
    img.alt = which + " of " + hit.path;
    img.src = src;
    frame.appendChild(img);
    try {
      await img.decode();
    } catch (_) {
      fig.replaceChildren(el("span", "placeholder", "the image could not be decoded"));
      return;
    }
    // boxes are in the page's pixels; a thumbnail is the page scaled down, so scale to the page size
    const w = which === "page" ? img.naturalWidth : hit.width || img.naturalWidth;
    const h = which === "page" ? img.naturalHeight : hit.height || img.naturalHeight;
    if (hit.region && hit.region.length === 4) frame.appendChild(box(hit.region, w, h, "passage"));
    for (const r of regions) if (Array.isArray(r) && r.length === 4) frame.appendChild(box(r, w, h, "region"));
    frame.dataset.regions = String(frame.querySelectorAll(".region").length);
    fig.replaceChildren(frame);
    const link = el("a", "image-link", which === "page" ? "page image" : "thumbnail");
    link.href = src; // a blob URL: opens without sending the key again
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    fig.appendChild(link);
    fig.classList.remove("loading");
  }

  function box(r, w, h, cls) {
    const b = el("div", cls);
    const pct = (v, of) => Math.max(0, Math.min(100, (100 * Number(v)) / of)) + "%";
    b.style.left = pct(r[0], w);
    b.style.top = pct(r[1], h);
    b.style.width = pct(r[2], w);
    b.style.height = pct(r[3], h);
    return b;
  }

  // ---- code -------------------------------------------------------------------------------

  function renderCode(snippet, language, firstLine) {
    const pre = el("pre", "code");
    pre.dataset.language = language || "";
    const code = el("code");
    const lines = window.omnivecHighlight(snippet, language);
    lines.forEach((frag, i) => {
      const row = el("span", "line");
      row.appendChild(el("span", "ln", firstLine != null ? firstLine + i : ""));
      const body = el("span", "src");
      body.appendChild(frag);
      row.appendChild(body);
      code.appendChild(row);
    });
    pre.appendChild(code);
    return pre;
  }

  // ---- start ------------------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", () => {
    $("key-form").addEventListener("submit", saveKey);
    $("search-form").addEventListener("submit", search);
    $("image").addEventListener("change", () => setQueryImage($("image").files[0]));
    $("image-clear").addEventListener("click", clearQueryImage);
    document.addEventListener("paste", onPaste);
    connect();
  });
})();
