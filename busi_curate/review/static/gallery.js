// busi-curate gallery: every automatic decision of the assistant, filtered by verdict and match score; a click
// opens the pair, where a person can overrule it (POST /api/overrule, journalled like any answer) or undo.
"use strict";
(function () {
  const token = document.querySelector('meta[name="review-token"]').content;
  const $ = (sel, root) => (root || document).querySelector(sel);
  let items = [];
  let undoTarget = null;
  let open = null; // the item shown in the detail view
  let busy = false;
  const checked = {}; // verdict label -> shown

  const viewer = new window.PairViewer($("#stage"), (v) => {
    const d = v.describe();
    $("#zoom-level").textContent = d.zoom;
    $("#registration").textContent = d.registration;
    $("#registration").classList.toggle("warn", !v.registered);
    $("#blend-caption").textContent = d.mode;
    document.querySelectorAll("#viewbar [data-mode]").forEach((b) => b.classList.toggle("on", b.dataset.mode === v.mode));
    document.querySelectorAll("#viewbar [data-geometry]").forEach((b) =>
      b.classList.toggle("on", (b.dataset.geometry === "acquired") === v.acquired));
    document.body.dataset.mode = v.mode;
    document.body.dataset.geometry = v.acquired ? "acquired" : "registered";
    document.body.dataset.zoom = v.z.toFixed(4);
  });

  const key = (it) => it.reference.row + "," + it.candidate.row;
  const standingText = (it) => {
    const s = it.standing;
    if (!s) return "no standing decision (undone)";
    const what = s.answer + (s.grade ? " (" + s.grade + ")" : "");
    return s.decided_by === "auto" ? "standing: " + what + ", by the assistant" : "overruled by " + s.decided_by + ": " + what;
  };

  function setBusy(b) {
    busy = b;
    document.body.dataset.busy = b ? "1" : "0";
    document.querySelectorAll("#overrule button, #undo").forEach((btn) => {
      btn.disabled = b || (btn.dataset.answer === "undo" || btn.id === "undo" ? !undoTarget : !open);
    });
  }

  function labels() {
    const seen = new Set(items.map((it) => it.auto.label));
    return ["identical", "same-frame", "adjacent-frame", "same-lesion", "different"].filter((l) => seen.has(l))
      .concat([...seen].filter((l) => !["identical", "same-frame", "adjacent-frame", "same-lesion", "different"].includes(l)));
  }

  function renderFilters() {
    const box = $("#grade-filter");
    for (const l of labels()) {
      if (box.querySelector('input[value="' + CSS.escape(l) + '"]')) continue;
      const lab = document.createElement("label");
      const input = document.createElement("input");
      input.type = "checkbox";
      input.value = l;
      input.checked = checked[l] !== false;
      input.addEventListener("change", () => { checked[l] = input.checked; renderTiles(); });
      const n = document.createElement("span");
      n.className = "count";
      lab.append(input, " " + l + " ", n);
      box.append(lab);
    }
    for (const lab of box.querySelectorAll("label")) {
      const l = lab.querySelector("input").value;
      lab.querySelector(".count").textContent = "(" + items.filter((it) => it.auto.label === l).length + ")";
    }
  }

  function visible() {
    const lo = parseFloat($("#conf-min").value), hi = parseFloat($("#conf-max").value);
    const unknown = $("#conf-unknown").checked, only = $("#only-overruled").checked;
    const out = items.filter((it) => checked[it.auto.label] !== false &&
      (it.score === null ? unknown : (isNaN(lo) || it.score >= lo - 1e-9) && (isNaN(hi) || it.score <= hi + 1e-9)) &&
      (!only || it.overruled));
    const order = $("#order").value;
    if (order !== "journal") {
      const sign = order === "confidence" ? 1 : -1;
      out.sort((a, b) => sign * ((a.confidence === null ? 2 : a.confidence) - (b.confidence === null ? 2 : b.confidence)));
    }
    return out;
  }

  const SCORE_TITLE = "the assistant's match score: share of landmarks that line up x overlap correlation " +
    "(1 = identical pixels). Not a probability: each decision follows the rule's limits on all of its evidence.";

  function renderTiles() {
    const shown = visible();
    $("#shown").textContent = "showing " + shown.length + " of " + items.length;
    const grid = $("#tiles");
    grid.textContent = "";
    for (const it of shown) {
      const t = document.createElement("button");
      t.className = "tile" + (it.overruled ? " is-overruled" : "");
      t.dataset.pair = key(it);
      t.setAttribute("role", "listitem");
      const thumbs = document.createElement("div");
      thumbs.className = "thumbs";
      for (const s of [it.reference, it.candidate]) {
        const img = document.createElement("img");
        img.loading = "lazy";
        img.src = s.thumb;
        img.alt = s.class + " " + s.id;
        img.title = s.class + " " + s.id + " (" + s.image + ")";
        thumbs.append(img);
      }
      const label = document.createElement("div");
      label.className = "label";
      label.textContent = "assistant: " + it.auto.label + " · " + it.reference.class + " " + it.reference.id + " / " +
        it.candidate.class + " " + it.candidate.id;
      const conf = document.createElement("div");
      conf.className = "conf";
      conf.textContent = "match score " + (it.score === null ? "unknown" : it.score.toFixed(2));
      conf.title = SCORE_TITLE;
      t.dataset.support = it.confidence === null ? "" : String(it.confidence);
      const plain = document.createElement("div");
      plain.className = "plain";
      plain.textContent = it.auto.plain || it.auto.evidence;
      plain.title = "raw evidence: " + it.auto.evidence;
      t.append(thumbs, label, conf, plain);
      if (it.overruled || !it.standing) {
        const o = document.createElement("div");
        o.className = "overruled";
        o.textContent = standingText(it);
        t.append(o);
      }
      t.addEventListener("click", () => openDetail(it));
      grid.append(t);
    }
    document.body.dataset.tiles = String(shown.length);
  }

  function apply(st) {
    items = st.items;
    undoTarget = st.undo_target || null;
    const over = items.filter((it) => it.overruled).length;
    $("#summary").textContent = items.length + " pairs decided by the assistant · " + over + " overruled by people";
    $("#who").textContent = "reviewer " + st.reviewer;
    if (st.message !== undefined) $("#status").textContent = st.message;
    renderFilters();
    renderTiles();
    if (open) {
      const again = items.find((it) => key(it) === key(open));
      if (again) { open = again; showStanding(); }
    }
    setBusy(false);
  }

  async function load(message) {
    setBusy(true);
    try {
      const r = await fetch("/api/auto", { cache: "no-store" });
      const st = await r.json();
      if (message !== undefined) st.message = message;
      apply(st);
      document.body.dataset.state = open ? "detail" : "gallery";
    } catch (e) {
      $("#status").textContent = "cannot reach the review server: " + e;
      setBusy(false);
    }
  }

  function showStanding() {
    $("#detail-title").textContent = "assistant: " + open.auto.label + " · match score " +
      (open.score === null ? "unknown" : open.score.toFixed(2));
    $("#detail-title").title = SCORE_TITLE;
    $("#detail-standing").textContent = standingText(open);
    $("#detail-standing").className = open.overruled ? "warn" : "";
  }

  function side(root, s, other) {
    $(".cls", root).textContent = s.class;
    $(".cls", root).className = "cls cls-" + s.class + (s.class !== other.class ? " differs" : "");
    $(".ident", root).textContent = "id " + s.id;
    $(".size", root).textContent = s.width + "×" + s.height + " px · " + s.masks + (s.masks === 1 ? " mask" : " masks");
    $(".file", root).textContent = s.image;
  }

  async function openDetail(it) {
    open = it;
    $("#detail").hidden = false;
    $("#detail-status").textContent = "";
    showStanding();
    document.body.dataset.state = "detail";
    document.body.dataset.detail = "";
    setBusy(true);
    const r = await fetch("/api/pair/" + it.reference.row + "/" + it.candidate.row, { cache: "no-store" });
    const info = await r.json();
    side($("#ref"), info.reference, info.candidate);
    side($("#cand"), info.candidate, info.reference);
    $("#detail-ssim").textContent = "SSIM " + (info.ssim === null ? "n/a" : info.ssim.toFixed(3));
    const a = info.assistant;
    $("#assistant").textContent = "Evidence: " + (a.plain ? a.plain.charAt(0).toUpperCase() + a.plain.slice(1) + "." : a.evidence || "none recorded");
    $("#assistant").title = "raw evidence: " + a.evidence + "\n\n" + Object.entries(a.figures).map(([k, v]) => k + " = " + v).join("\n");
    viewer.setPair(info);
    document.body.dataset.detail = key(it);
    setBusy(false);
  }

  // the previous / next decision in the gallery's current filter and order
  function step(delta) {
    if (!open || busy) return;
    const shown = visible();
    const i = shown.findIndex((it) => key(it) === key(open));
    const next = shown[i + delta];
    if (next) openDetail(next);
  }

  function closeDetail() {
    open = null;
    $("#detail").hidden = true;
    document.body.dataset.state = "gallery";
    document.body.dataset.detail = "";
  }

  async function post(path, body) {
    setBusy(true);
    try {
      const r = await fetch(path, {
        method: "POST", cache: "no-store",
        headers: { "Content-Type": "application/json", "X-Review-Token": token },
        body: JSON.stringify(body),
      });
      const ct = r.headers.get("Content-Type") || "";
      const st = ct.startsWith("application/json") ? await r.json() : null;
      return { ok: r.ok, status: r.status, st, text: st ? "" : await r.text() };
    } catch (e) {
      setBusy(false);
      return { ok: false, status: 0, st: null, text: "the review server is unreachable: " + e };
    } finally {
      document.body.dataset.posts = String(Number(document.body.dataset.posts || 0) + 1); // for tests: replies seen
    }
  }

  async function overrule(answer, grade) {
    if (busy || !open) return;
    const res = await post("/api/overrule", {
      reference: open.reference.row, candidate: open.candidate.row, answer, grade: grade || "",
      standing: open.standing ? open.standing.id : "",
    });
    if (res.st && res.st.items) {
      apply(res.st);
      $("#detail-status").textContent = (res.ok ? "" : "not saved: ") + res.st.message;
    } else {
      $("#detail-status").textContent = "not saved: " + (res.st ? res.st.error : "error " + res.status + ": " + res.text);
      setBusy(false);
    }
  }

  async function undo() {
    if (busy || !undoTarget) return;
    const res = await post("/api/answer", { answer: "undo", target: undoTarget });
    const msg = res.st ? (res.st.error ? "not undone: " + res.st.error : res.st.message) : "not undone: " + res.text;
    await load(msg);
    if (open) $("#detail-status").textContent = msg;
  }

  document.querySelectorAll("#overrule button").forEach((btn) => btn.addEventListener("click", () => {
    if (btn.dataset.answer === "undo") undo();
    else overrule(btn.dataset.answer, btn.dataset.grade);
  }));
  $("#undo").addEventListener("click", undo);
  $("#detail-close").addEventListener("click", closeDetail);
  $("#detail-prev").addEventListener("click", () => step(-1));
  $("#detail-next").addEventListener("click", () => step(1));
  for (const id of ["#conf-min", "#conf-max", "#conf-unknown", "#only-overruled", "#order"]) $(id).addEventListener("change", renderTiles);
  for (const id of ["#conf-min", "#conf-max"]) $(id).addEventListener("input", renderTiles);
  document.querySelectorAll("#viewbar [data-mode]").forEach((btn) => btn.addEventListener("click", () => viewer.setMode(btn.dataset.mode)));
  document.querySelectorAll("#viewbar [data-geometry]").forEach((btn) =>
    btn.addEventListener("click", () => viewer.setAcquired(btn.dataset.geometry === "acquired")));
  const ZOOM = { in: () => viewer.zoomBy(1.25), out: () => viewer.zoomBy(0.8), fit: () => viewer.fit(), native: () => viewer.native() };
  document.querySelectorAll("#viewbar [data-zoom]").forEach((btn) => btn.addEventListener("click", () => ZOOM[btn.dataset.zoom]()));
  document.querySelectorAll(".outline-toggle").forEach((box) => {
    box.addEventListener("change", () => { if (viewer.masks[box.dataset.which] !== box.checked) viewer.toggleMask(box.dataset.which); });
  });

  const DETAIL_KEYS = {
    s: () => overrule("same", "same-frame"), 1: () => overrule("same", "same-frame"), i: () => overrule("same", "identical"),
    a: () => overrule("same", "adjacent-frame"), o: () => overrule("same", "same-lesion"), d: () => overrule("different"),
    v: () => viewer.nextMode(1), V: () => viewer.nextMode(-1), "+": () => viewer.zoomKey(1.25), "=": () => viewer.zoomKey(1.25),
    "-": () => viewer.zoomKey(0.8), r: () => viewer.setAcquired(!viewer.acquired), 0: () => viewer.fit(), z: () => viewer.native(), Escape: closeDetail,
    ArrowRight: () => step(1), ArrowLeft: () => step(-1),
    m: () => { viewer.toggleMask("ref"); $('.outline-toggle[data-which="ref"]').checked = viewer.masks.ref; },
    n: () => { viewer.toggleMask("cand"); $('.outline-toggle[data-which="cand"]').checked = viewer.masks.cand; },
  };
  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat) return;
    if (ev.target.closest && ev.target.closest("input[type=number], input[type=text], textarea, select")) return; // typing, not a shortcut
    if (ev.key === "u" || ev.key === "U") { ev.preventDefault(); undo(); return; }
    if (!open) {
      if (ev.key === "q") window.location.href = "/";
      return;
    }
    const f = DETAIL_KEYS[ev.key] || DETAIL_KEYS[ev.key.toLowerCase()];
    if (f) { ev.preventDefault(); f(); }
  });
  window.reviewViewer = viewer; // for the browser tests
  viewer.setMode("side");
  load();
})();
