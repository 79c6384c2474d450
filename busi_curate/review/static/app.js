// busi-curate review page: renders /api/question, posts answers to /api/answer (token in a header).
"use strict";
(function () {
  const token = document.querySelector('meta[name="review-token"]').content;
  const $ = (sel, root) => (root || document).querySelector(sel);
  let current = null; // the question shown
  let busy = false;

  function setBusy(b) {
    busy = b;
    document.body.dataset.busy = b ? "1" : "0";
    document.querySelectorAll("#keys button").forEach((btn) => { btn.disabled = b || (!current && btn.dataset.answer !== "undo"); });
  }

  function fmtProgress(p) {
    const grades = Object.entries(p.by_grade).map(([g, n]) => g + " " + n).join(", ");
    return "references " + p.references_done + "/" + p.references + " done (" + p.references_left + " left) · " +
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
    const img = $(".img", root), outline = $(".outline", root);
    if (img.getAttribute("src") !== s.img) { img.src = s.img; outline.src = s.mask; }
    fit(img, s.width, s.height);
  }

  // show each image as large as the panel allows (long side at most 512 px, height at most ~62% of the window)
  function fit(img, w, h) {
    const avail = Math.max(200, img.closest(".side").clientWidth - 16);
    const scale = Math.min(avail / w, (0.62 * window.innerHeight) / h, 512 / Math.max(w, h));
    img.style.width = Math.round(w * scale) + "px";
    img.style.height = Math.round(h * scale) + "px";
  }
  window.addEventListener("resize", () => {
    if (!current) return;
    fit($("#ref .img"), current.reference.width, current.reference.height);
    fit($("#cand .img"), current.candidate.width, current.candidate.height);
  });

  let undoTarget = null;
  function render(state) {
    current = state.question;
    undoTarget = state.undo_target || null;
    $("#progress").textContent = fmtProgress(state.progress);
    $("#who").textContent = "reviewer " + state.reviewer + " · threshold " + state.threshold;
    $("#status").textContent = state.message || "";
    const q = state.question;
    $("#question").hidden = !q;
    $("#done").hidden = !!q;
    if (!q) {
      $("#done-text").textContent = state.progress.parked
        ? state.progress.parked + " skipped pair(s) will be asked again the next time the review starts."
        : (state.open ? state.open + " question(s) remain open." : "The walk is complete for this journal.");
      document.body.dataset.state = "done";
      document.body.dataset.question = "";
      setBusy(false);
      return;
    }
    side($("#ref"), q.reference, q.candidate);
    side($("#cand"), q.candidate, q.reference);
    $("#ssim").textContent = "SSIM " + (q.ssim === null ? "n/a" : q.ssim.toFixed(3));
    $("#rank").textContent = q.source === "ssim" ? "candidate #" + q.rank + " of this reference" : "extra pair (second shortlist)";
    const badges = [];
    if (q.pixel_identical) badges.push('<span class="badge same">pixels identical</span>');
    if (q.reference.class !== q.candidate.class) badges.push('<span class="badge warn">classes differ</span>');
    $("#badges").innerHTML = badges.join(" ");
    const a = q.assistant;
    $("#assistant").hidden = !a;
    if (a) $("#assistant").textContent = "assistant: " + a.verdict + (a.grade ? " (" + a.grade + ")" : "") +
      " · score " + a.score.toFixed(2) + " · " + a.evidence;
    document.body.dataset.state = "question";
    document.body.dataset.question = q.reference.row + "," + q.candidate.row;
    setBusy(false);
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
  }

  const KEYS = {
    s: ["same", "default"], 1: ["same", "default"], i: ["same", "identical"], a: ["same", "adjacent-frame"],
    d: ["different"], k: ["skip"], u: ["undo"],
  };
  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat) return;
    const key = ev.key.toLowerCase();
    if (key === "m" || key === "n") {
      const box = $((key === "m" ? "#ref" : "#cand") + " .outline-toggle");
      box.checked = !box.checked;
      box.dispatchEvent(new Event("change"));
      return;
    }
    const k = KEYS[key];
    if (!k) return;
    ev.preventDefault();
    answer(k[0], k[1]);
  });
  document.querySelectorAll("#keys button").forEach((btn) => {
    btn.addEventListener("click", () => answer(btn.dataset.answer, btn.dataset.grade));
  });
  document.querySelectorAll(".outline-toggle").forEach((box) => {
    box.addEventListener("change", () => { box.closest(".side").classList.toggle("no-outline", !box.checked); });
  });
  load();
})();
