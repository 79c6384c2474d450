// busi-curate review page: renders /api/question, posts answers to /api/answer (token in a header).
"use strict";
(function () {
  const token = document.querySelector('meta[name="review-token"]').content;
  const $ = (sel, root) => (root || document).querySelector(sel);
  let current = null; // the question shown
  let busy = false;
  let undoTarget = null;

  const viewer = new window.PairViewer($("#stage"), (v) => {
    const d = v.describe();
    $("#zoom-level").textContent = d.zoom;
    $("#registration").textContent = d.registration;
    $("#registration").classList.toggle("warn", !v.registered);
    $("#blend-caption").textContent = d.mode;
    $(".legend", $("#blend")).textContent = v.mode === "overlay" ? "reference magenta · candidate green · grey where they agree" :
      v.mode === "difference" ? "black where they agree · outside the candidate: reference dimmed" : "";
    document.querySelectorAll("#viewbar [data-mode]").forEach((b) => b.classList.toggle("on", b.dataset.mode === v.mode));
    document.querySelectorAll("#viewbar [data-geometry]").forEach((b) =>
      b.classList.toggle("on", (b.dataset.geometry === "acquired") === v.acquired));
    document.body.dataset.mode = v.mode;
    document.body.dataset.geometry = v.acquired ? "acquired" : "registered";
    document.body.dataset.zoom = v.z.toFixed(4);
  });

  function setBusy(b) {
    busy = b;
    document.body.dataset.busy = b ? "1" : "0";
    document.querySelectorAll("#keys button").forEach((btn) => {
      btn.disabled = b || (btn.dataset.answer === "undo" ? !undoTarget : !current);
    });
  }

  function fmtProgress(p) {
    const grades = Object.entries(p.by_grade).map(([g, n]) => g + " " + n).join(", ");
    return "references " + p.references_done + "/" + p.references + " done · " +
      p.same_pairs + " duplicate pairs" + (grades ? " (" + grades + ")" : "") + " → " + p.duplicate_images +
      " images in " + p.groups + " groups · " + p.by_person + " answered by people, " + p.by_auto + " auto" +
      (p.parked ? " · " + p.parked + " skipped" : "");
  }

  function side(root, s, other) {
    $(".cls", root).textContent = s.class;
    $(".cls", root).className = "cls cls-" + s.class + (s.class !== other.class ? " differs" : "");
    $(".ident", root).textContent = "id " + s.id;
    $(".size", root).textContent = s.width + "×" + s.height + " px · " + s.masks + (s.masks === 1 ? " mask" : " masks");
    $(".file", root).textContent = s.image;
    $(".file", root).title = s.image;
  }

  // the assistant's view of the pair in words; the raw evidence and every figure on hover
  const VERDICT_WORDS = {
    identical: "the same pixels", "same-frame": "the same frame", "adjacent-frame": "a neighbouring frame of one sweep",
    different: "different images", uncertain: "not sure: your call",
  };
  function evidenceLine(a) {
    const box = $("#assistant");
    box.textContent = "";
    box.classList.toggle("empty", !a);
    if (!a) { box.title = ""; return; }
    const head = document.createElement("b");
    head.textContent = "Assistant: " + (VERDICT_WORDS[a.grade] || VERDICT_WORDS[a.verdict] || a.verdict) + ". ";
    box.append(head, a.plain ? a.plain.charAt(0).toUpperCase() + a.plain.slice(1) + "." : a.evidence);
    const figs = Object.entries(a.figures).map(([k, v]) => k + " = " + v).join("\n");
    box.title = "raw evidence: " + a.evidence + (figs ? "\n\n" + figs : "") +
      (a.score === null ? "" : "\n\nmatch score " + a.score.toFixed(2) + " (landmarks lined up x overlap correlation; not a probability)");
  }

  function render(state) {
    current = state.question;
    undoTarget = state.undo_target || null;
    const c = state.counter;
    $("#counter").textContent = current ? "question " + c.number + " of " + c.total
      : (c.total ? "all " + c.total + " questions answered" : "no question needed a person");
    $("#counter").title = c.answered + " answered by people" + (c.skipped ? ", " + c.skipped + " skipped" : "") + ", " +
      c.open + " still open. A 'same' answer can open the reference's next candidate, so the total can grow.";
    $("#progress").textContent = fmtProgress(state.progress);
    $("#who").textContent = "reviewer " + state.reviewer + " · threshold " + state.threshold;
    $("#gallery-link").lastChild.textContent = " " + state.auto_decisions + " automatic decisions";
    $("#status").textContent = state.message || "";
    const q = state.question;
    $("#question").hidden = !q;
    $("#done").hidden = !!q;
    if (!q) {
      renderDone(state);
      document.body.dataset.state = "done";
      document.body.dataset.question = "";
      setBusy(false);
      return;
    }
    $("#ask-text").textContent = "Is candidate " + q.candidate.class + " " + q.candidate.id +
      " the same ultrasound frame as reference " + q.reference.class + " " + q.reference.id + "?";
    side($("#ref"), q.reference, q.candidate);
    side($("#cand"), q.candidate, q.reference);
    $("#ssim").textContent = "SSIM " + (q.ssim === null ? "n/a" : q.ssim.toFixed(3));
    $("#rank").textContent = q.source === "ssim" ? "candidate #" + q.rank + " of this reference" : "extra pair (second shortlist)";
    const badges = $("#badges");
    badges.textContent = "";
    const badge = (cls, text) => { const b = document.createElement("span"); b.className = "badge " + cls; b.textContent = text; badges.append(b, " "); };
    if (q.pixel_identical) badge("same", "pixels identical");
    if (q.reference.class !== q.candidate.class) badge("warn", "classes differ");
    evidenceLine(q.assistant);
    viewer.setPair(q);
    document.body.dataset.state = "question";
    document.body.dataset.question = q.reference.row + "," + q.candidate.row;
    setBusy(false);
  }

  function renderDone(state) {
    const p = state.progress;
    $("#done-title").textContent = state.open ? "No questions left for now" : "Review complete";
    $("#done-text").textContent = p.parked
      ? p.parked + " skipped pair(s) will be asked again the next time the review starts."
      : (state.open ? state.open + " question(s) remain open." : "Every question of the walk is answered (" +
        state.counter.answered + " by people, " + p.by_auto + " by the assistant).");
    const ol = $("#next-steps");
    ol.textContent = "";
    for (const step of state.next_steps) {
      const li = document.createElement("li");
      const what = document.createElement("div");
      what.textContent = step.what;
      const row = document.createElement("div");
      row.className = "cmd";
      const code = document.createElement("code");
      code.textContent = step.command;
      const copy = document.createElement("button");
      copy.textContent = "copy";
      copy.title = "copy the command";
      copy.addEventListener("click", async () => {
        try { await navigator.clipboard.writeText(step.command); copy.textContent = "copied"; } catch (e) { copy.textContent = "select it"; }
      });
      row.append(code, copy);
      li.append(what, row);
      ol.append(li);
    }
  }

  async function load() {
    setBusy(true);
    try {
      const r = await fetch("/api/question", { cache: "no-store" });
      const st = await r.json();
      if (st.error) { $("#status").textContent = "error: " + st.error; setBusy(false); return; }
      render(st);
    } catch (e) {
      $("#status").textContent = "cannot reach the review server: " + e;
      setBusy(false);
    }
  }

  async function answer(ans, grade) {
    if (busy) return;
    if (ans !== "undo" && !current) return;
    const body = { answer: ans };
    if (ans === "same") body.grade = grade === "default" ? current.default_grade : grade;
    if (current && ans !== "undo") { body.reference = current.reference.row; body.candidate = current.candidate.row; }
    if (ans === "undo") { if (!undoTarget) return; body.target = undoTarget; }
    setBusy(true);
    try {
      const r = await fetch("/api/answer", {
        method: "POST", cache: "no-store",
        headers: { "Content-Type": "application/json", "X-Review-Token": token },
        body: JSON.stringify(body),
      });
      const ct = r.headers.get("Content-Type") || "";
      const st = ct.startsWith("application/json") ? await r.json() : null;
      if (st && !st.error) render(st);
      else if (st) { $("#status").textContent = "not saved: " + st.error; setBusy(false); }
      else { $("#status").textContent = "error " + r.status + ": " + (await r.text()); setBusy(false); }
    } catch (e) {
      $("#status").textContent = "not saved, the review server is unreachable: " + e;
      setBusy(false);
    }
    document.body.dataset.posts = String(Number(document.body.dataset.posts || 0) + 1); // for tests: replies seen
  }

  const KEYS = {
    s: ["same", "default"], 1: ["same", "default"], i: ["same", "identical"], a: ["same", "adjacent-frame"],
    o: ["same", "same-lesion"], d: ["different"], k: ["skip"], u: ["undo"],
  };
  const VIEW_KEYS = {
    m: () => toggleMask("ref"), n: () => toggleMask("cand"), v: () => viewer.nextMode(1), V: () => viewer.nextMode(-1),
    "+": () => viewer.zoomKey(1.25), "=": () => viewer.zoomKey(1.25), "-": () => viewer.zoomKey(0.8),
    r: () => viewer.setAcquired(!viewer.acquired),
    0: () => viewer.fit(), z: () => viewer.native(), g: () => { window.location.href = "/gallery"; },
  };
  function toggleMask(which) {
    viewer.toggleMask(which);
    document.querySelector('.outline-toggle[data-which="' + which + '"]').checked = viewer.masks[which];
  }
  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat) return;
    if (ev.target.closest && ev.target.closest("input[type=number], input[type=text], textarea, select")) return; // typing, not a shortcut
    const view = VIEW_KEYS[ev.key] || VIEW_KEYS[ev.key.toLowerCase()];
    if (view) {
      ev.preventDefault();
      view();
      return;
    }
    const k = KEYS[ev.key.toLowerCase()];
    if (!k) return;
    ev.preventDefault();
    answer(k[0], k[1]);
  });
  document.querySelectorAll("#keys button").forEach((btn) => {
    btn.addEventListener("click", () => answer(btn.dataset.answer, btn.dataset.grade));
  });
  document.querySelectorAll("#viewbar [data-mode]").forEach((btn) => btn.addEventListener("click", () => viewer.setMode(btn.dataset.mode)));
  document.querySelectorAll("#viewbar [data-geometry]").forEach((btn) =>
    btn.addEventListener("click", () => viewer.setAcquired(btn.dataset.geometry === "acquired")));
  const ZOOM = { in: () => viewer.zoomBy(1.25), out: () => viewer.zoomBy(0.8), fit: () => viewer.fit(), native: () => viewer.native() };
  document.querySelectorAll("#viewbar [data-zoom]").forEach((btn) => btn.addEventListener("click", () => ZOOM[btn.dataset.zoom]()));
  document.querySelectorAll(".outline-toggle").forEach((box) => {
    box.addEventListener("change", () => { if (viewer.masks[box.dataset.which] !== box.checked) viewer.toggleMask(box.dataset.which); });
  });
  window.reviewViewer = viewer; // for the browser tests
  viewer.setMode("side");
  load();
})();
