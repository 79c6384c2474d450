// busi-curate pair viewer: the reference and the candidate side by side, or the candidate registered onto the
// reference (colour overlay, flicker, difference), with zoom and pan at native resolution and mask outlines.
// Shared by the question page (app.js) and the gallery (gallery.js). Everything is drawn on canvases from
// same-origin PNGs; no data value is ever written as HTML.
"use strict";
(function () {
  const MODES = ["side", "overlay", "flicker", "difference"];
  const MODE_NAMES = { side: "side by side", overlay: "overlay", flicker: "flicker", difference: "difference" };
  const FLICKER_MS = 450;

  // inverse of a canvas-order affine (a, b, c, d, e, f)
  function invert([a, b, c, d, e, f]) {
    const det = a * d - b * c;
    const ia = d / det, ib = -b / det, ic = -c / det, id = a / det;
    return [ia, ib, ic, id, -(ia * e + ic * f), -(ib * e + id * f)];
  }

  function loaded(img) {
    return img.complete && img.naturalWidth > 0;
  }

  // An offscreen canvas holding the outline PNG recoloured (the server draws outlines yellow).
  function tinted(img, colour) {
    const c = document.createElement("canvas");
    c.width = img.naturalWidth;
    c.height = img.naturalHeight;
    const g = c.getContext("2d");
    g.drawImage(img, 0, 0);
    g.globalCompositeOperation = "source-in";
    g.fillStyle = colour;
    g.fillRect(0, 0, c.width, c.height);
    return c;
  }

  class PairViewer {
    // root: element holding #ref and #cand figures (each with canvas.view, img.img, img.outline) and #blend
    constructor(root, onChange) {
      this.root = root;
      this.onChange = onChange || (() => {});
      this.ref = root.querySelector("#ref");
      this.cand = root.querySelector("#cand");
      this.blend = root.querySelector("#blend");
      this.mode = "side";
      this.masks = { ref: true, cand: true };
      this.z = 1; // canvas CSS px per reference px
      this.cx = 0; // view centre, reference px
      this.cy = 0;
      this.pair = null;
      this.inv = [1, 0, 0, 1, 0, 0]; // candidate px -> reference px (canvas order), the inverse of the fit
      this.registered = false;
      this.acquired = false; // true: the candidate drawn as acquired (no fit), only scaled to the reference's width
      this.fitInv = this.inv;
      this.plainInv = this.inv;
      this.pointer = null; // {canvas, X, Y}: where the pointer rests over an image, for + and - to zoom about
      this.flickerOn = "ref";
      this.timer = null;
      this.candOutline = null;
      for (const fig of [this.ref, this.cand]) {
        for (const img of fig.querySelectorAll("img")) img.addEventListener("load", () => this.imageLoaded());
      }
      for (const canvas of root.querySelectorAll("canvas.view")) this.bindCanvas(canvas);
      window.addEventListener("resize", () => this.render());
    }

    imageLoaded() {
      const o = this.cand.querySelector(".outline");
      if (loaded(o) && (!this.candOutline || this.candOutline.src !== o.src)) {
        this.candOutline = { src: o.src, canvas: tinted(o, "#00e5ff") };
      }
      if (this.pendingFit && this.ready()) {
        this.pendingFit = false;
        this.fit();
      } else this.render();
    }

    ready() {
      return loaded(this.ref.querySelector(".img")) && loaded(this.cand.querySelector(".img"));
    }

    // q: {reference: side, candidate: side, registration}
    setPair(q) {
      const changed = !this.pair || this.pair.reference.row !== q.reference.row || this.pair.candidate.row !== q.candidate.row;
      this.pair = q;
      this.registered = !!q.registration;
      const r = q.reference, c = q.candidate;
      // the fit maps reference px to candidate px; without one, align by size (same width), top-left corners together
      const plain = [c.width / r.width, 0, 0, c.width / r.width, 0, 0];
      this.fitInv = invert(q.registration ? q.registration.matrix : plain);
      this.plainInv = invert(plain);
      this.inv = this.acquired ? this.plainInv : this.fitInv;
      for (const [fig, s] of [[this.ref, r], [this.cand, c]]) {
        const img = fig.querySelector(".img"), outline = fig.querySelector(".outline");
        if (img.getAttribute("src") !== s.full) { img.src = s.full; outline.src = s.fullmask; }
      }
      if (changed) {
        this.pendingFit = true;
        if (this.ready()) { this.pendingFit = false; this.fit(); }
      } else this.render();
      this.onChange(this); // the toolbar speaks of the new pair before its images arrive
    }

    // reference coordinates of the candidate's corners
    candBox() {
      const c = this.pair.candidate, [a, b, cc, d, e, f] = this.inv;
      const xs = [], ys = [];
      for (const [x, y] of [[0, 0], [c.width, 0], [0, c.height], [c.width, c.height]]) {
        xs.push(a * x + cc * y + e);
        ys.push(b * x + d * y + f);
      }
      return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
    }

    canvases() {
      return this.mode === "side"
        ? [this.ref.querySelector("canvas.view"), this.cand.querySelector("canvas.view")]
        : [this.blend.querySelector("canvas.view")];
    }

    fit() {
      if (!this.pair) return;
      const r = this.pair.reference;
      const [x0, y0, x1, y1] = this.candBox();
      const bx0 = Math.min(0, x0), by0 = Math.min(0, y0), bx1 = Math.max(r.width, x1), by1 = Math.max(r.height, y1);
      const cv = this.canvases()[0];
      const W = cv.clientWidth || 400, H = cv.clientHeight || 300;
      this.z = Math.min(W / (bx1 - bx0), H / (by1 - by0));
      this.cx = (bx0 + bx1) / 2;
      this.cy = (by0 + by1) / 2;
      this.render();
    }

    native() {
      this.z = 1;
      this.render();
    }

    // + and -: about the pointer when it rests over a shown image, else about the centre
    zoomKey(f) {
      const p = this.pointer;
      if (p && p.canvas.offsetParent) this.zoomBy(f, p.X, p.Y, p.canvas);
      else this.zoomBy(f);
    }

    // draw the candidate registered (the fit) or as acquired (own orientation, scaled to the reference's width)
    setAcquired(on) {
      this.acquired = !!on;
      this.inv = this.acquired ? this.plainInv : this.fitInv;
      if (this.pair) this.fit();
      else this.onChange(this);
    }

    zoomBy(f, X, Y, canvas) {
      // keep the reference point under (X, Y) (canvas CSS px) where it is
      const cv = canvas || this.canvases()[0];
      const W = cv.clientWidth, H = cv.clientHeight;
      if (X === undefined) { X = W / 2; Y = H / 2; }
      const x = this.cx + (X - W / 2) / this.z, y = this.cy + (Y - H / 2) / this.z;
      const z = Math.max(0.05, Math.min(32, this.z * f));
      this.cx = x - (X - W / 2) / z;
      this.cy = y - (Y - H / 2) / z;
      this.z = z;
      this.render();
    }

    panBy(dX, dY) {
      this.cx -= dX / this.z;
      this.cy -= dY / this.z;
      this.render();
    }

    setMode(m) {
      if (!MODES.includes(m)) return;
      this.mode = m;
      this.ref.closest(".pair").hidden = m !== "side";
      this.blend.hidden = m === "side";
      clearInterval(this.timer);
      this.timer = null;
      if (m === "flicker") {
        this.timer = setInterval(() => { this.flickerOn = this.flickerOn === "ref" ? "cand" : "ref"; this.render(); }, FLICKER_MS);
      }
      this.render();
    }

    nextMode(step) {
      const i = MODES.indexOf(this.mode);
      this.setMode(MODES[(i + (step || 1) + MODES.length) % MODES.length]);
    }

    toggleMask(which) {
      this.masks[which] = !this.masks[which];
      (which === "ref" ? this.ref : this.cand).classList.toggle("no-outline", !this.masks[which]);
      this.render();
    }

    bindCanvas(canvas) {
      canvas.addEventListener("wheel", (ev) => {
        ev.preventDefault();
        const b = canvas.getBoundingClientRect();
        this.zoomBy(ev.deltaY < 0 ? 1.25 : 0.8, ev.clientX - b.left, ev.clientY - b.top, canvas);
      }, { passive: false });
      let drag = null;
      canvas.addEventListener("pointerdown", (ev) => { drag = [ev.clientX, ev.clientY]; canvas.setPointerCapture(ev.pointerId); });
      canvas.addEventListener("pointermove", (ev) => {
        const b = canvas.getBoundingClientRect();
        this.pointer = { canvas, X: ev.clientX - b.left, Y: ev.clientY - b.top };
        if (!drag) return;
        this.panBy(ev.clientX - drag[0], ev.clientY - drag[1]);
        drag = [ev.clientX, ev.clientY];
      });
      const end = () => { drag = null; };
      canvas.addEventListener("pointerup", end);
      canvas.addEventListener("pointercancel", end);
      canvas.addEventListener("pointerleave", () => { this.pointer = null; });
      canvas.addEventListener("dblclick", () => this.fit());
    }

    // size the backing store to the CSS size, return a context mapping reference px -> canvas CSS px
    prepare(canvas) {
      const dpr = window.devicePixelRatio || 1;
      const W = canvas.clientWidth, H = canvas.clientHeight;
      if (canvas.width !== Math.round(W * dpr) || canvas.height !== Math.round(H * dpr)) {
        canvas.width = Math.round(W * dpr);
        canvas.height = Math.round(H * dpr);
      }
      const g = canvas.getContext("2d");
      g.setTransform(1, 0, 0, 1, 0, 0);
      g.globalCompositeOperation = "source-over";
      g.globalAlpha = 1;
      g.fillStyle = "#000";
      g.fillRect(0, 0, canvas.width, canvas.height);
      const view = [dpr * this.z, 0, 0, dpr * this.z, dpr * (W / 2 - this.z * this.cx), dpr * (H / 2 - this.z * this.cy)];
      g.imageSmoothingEnabled = this.z < 2; // from 2x on, show the native pixels as blocks
      return { g, view, W: canvas.width, H: canvas.height };
    }

    drawRef(g, view, img) {
      g.setTransform(...view);
      g.drawImage(img, 0, 0);
    }

    drawCand(g, view, img) {
      g.setTransform(...view);
      g.transform(...this.inv);
      g.drawImage(img, 0, 0);
    }

    outlines(g, view, which) {
      const ro = this.ref.querySelector(".outline");
      if ((which === "both" || which === "ref") && this.masks.ref && loaded(ro)) this.drawRef(g, view, ro);
      if ((which === "both" || which === "cand") && this.masks.cand && this.candOutline) this.drawCand(g, view, this.candOutline.canvas);
    }

    render() {
      if (!this.pair || !this.ready()) return;
      const ri = this.ref.querySelector(".img"), ci = this.cand.querySelector(".img");
      if (this.mode === "side") {
        const a = this.prepare(this.ref.querySelector("canvas.view"));
        this.drawRef(a.g, a.view, ri);
        this.outlines(a.g, a.view, "ref");
        const b = this.prepare(this.cand.querySelector("canvas.view"));
        this.drawCand(b.g, b.view, ci);
        this.outlines(b.g, b.view, "cand");
      } else {
        const { g, view, W, H } = this.prepare(this.blend.querySelector("canvas.view"));
        if (this.mode === "overlay") {
          // reference in magenta, candidate in green: grey where they agree
          const layer = (draw, colour) => {
            const c = document.createElement("canvas");
            c.width = W; c.height = H;
            const h = c.getContext("2d");
            h.imageSmoothingEnabled = g.imageSmoothingEnabled;
            h.fillStyle = "#000"; h.fillRect(0, 0, W, H);
            draw(h);
            h.setTransform(1, 0, 0, 1, 0, 0);
            h.globalCompositeOperation = "multiply";
            h.fillStyle = colour; h.fillRect(0, 0, W, H);
            return c;
          };
          const A = layer((h) => this.drawRef(h, view, ri), "#ff00ff");
          const B = layer((h) => this.drawCand(h, view, ci), "#00ff00");
          g.setTransform(1, 0, 0, 1, 0, 0);
          g.drawImage(A, 0, 0);
          g.globalCompositeOperation = "lighter";
          g.drawImage(B, 0, 0);
          g.globalCompositeOperation = "source-over";
        } else if (this.mode === "flicker") {
          if (this.flickerOn === "ref") this.drawRef(g, view, ri);
          else this.drawCand(g, view, ci);
        } else {
          // difference inside the candidate's footprint; the rest of the reference dimmed
          g.globalAlpha = 0.3;
          this.drawRef(g, view, ri);
          g.globalAlpha = 1;
          g.save();
          const c = this.pair.candidate;
          g.setTransform(...view);
          g.transform(...this.inv);
          g.beginPath();
          g.rect(0, 0, c.width, c.height);
          g.clip();
          g.fillStyle = "#000";
          g.fill();
          this.drawRef(g, view, ri);
          g.globalCompositeOperation = "difference";
          this.drawCand(g, view, ci);
          g.restore();
        }
        this.outlines(g, view, this.mode === "flicker" ? this.flickerOn : "both");
      }
      this.onChange(this);
    }

    // what the toolbar says
    describe() {
      const zoom = Math.round(this.z * 100) + "%";
      const r = this.pair.registration;
      const reg = this.acquired
        ? "as acquired: the candidate's own orientation, scaled to the reference's width"
        : this.registered
        ? (r.source + ": scale " + r.scale.toFixed(3) + ", rotation " + r.rotation_deg.toFixed(1) + "°, shift " +
          r.shift.map((v) => v.toFixed(1)).join(", ") + " px" + (r.mirrored ? ", mirrored" : ""))
        : (this.pair.registration_note || "not registered: aligned by size");
      return {
        mode: MODE_NAMES[this.mode] + (this.mode === "flicker" ? " (showing " + (this.flickerOn === "ref" ? "reference" : "candidate") + ")" : ""),
        zoom,
        registration: reg,
      };
    }
  }

  window.PairViewer = PairViewer;
  window.PairViewer.invert = invert;
  window.PairViewer.MODES = MODES;
  window.PairViewer.MODE_NAMES = MODE_NAMES;
})();
