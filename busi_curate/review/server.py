"""The local review web server: standard library only, loopback only, one reviewer.

Routes (everything else is 404):

* ``GET /`` -- the question page; ``GET /gallery`` -- the audit of the assistant's automatic decisions (the
  per-session token is in a ``<meta>`` tag of both); ``GET /static/<name>`` -- their JS/CSS;
* ``GET /api/question`` -- the current question (sides, SSIM, the assistant's evidence in words and figures,
  its registration of the pair), the question counter, the progress, or what to run next when done;
* ``GET /api/auto`` -- every pair the assistant decided, with its verdict, score, confidence and what stands now;
* ``GET /api/pair/<reference>/<candidate>`` -- one pair (by rows) as the gallery's detail view shows it;
* ``POST /api/answer`` -- ``{"answer": same|different|skip|undo, "grade": ..., "reference": row,
  "candidate": row}``; ``POST /api/overrule`` -- ``{"reference": row, "candidate": row, "answer": same|different,
  "grade": ..., "standing": id}`` replaces an automatic decision. Both need the ``X-Review-Token`` header;
  the decision is appended to the journal (flushed + fsync'ed) before the reply;
* ``GET /img|mask|thumb|full|fullmask/<row>.png`` -- a scanned image (downscaled to 512 px, to 160 px, or at
  its native size) and its mask outline, by row of the scan only; a path whose real location leaves the
  scanned data folder is refused (403).

Requests whose ``Host`` header is not this server's loopback address are refused (DNS rebinding).
"""

from __future__ import annotations

import functools
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np

from busi_curate.review.evidence import _finite, _score_from, confidence_of, evidence_figures, plain_evidence
from busi_curate.review.http import STATIC_DIR, Refused
from busi_curate.review.journal import GRADES, Decision, Grade, Key, effective, undo_id
from busi_curate.review.media import outline_rgba, png_bytes, registration_of
from busi_curate.review.next_steps import next_steps
from busi_curate.review.walk import AUTO, Question, RowPair, Walk

DISPLAY_SIZE = 512
THUMB_SIZE = 160
#: ``kind -> long side in px`` of the media routes (None: native size)
MEDIA_SIZES: dict[str, int | None] = {"img": DISPLAY_SIZE, "thumb": THUMB_SIZE, "full": None}


class ReviewApp:
    """The review state behind the web server (thread-safe: one lock around walk and journal).

    Args:
        scan: the :class:`~busi_curate.scan.run.ScanResult` under review.
        walk: its :class:`Walk`, built from the journal.
        append: writes one decision to the journal and returns it as written (``Journal.append``).
        reviewer: the ``decided_by`` of every decision made on the page.
        assistant: optional; when given, each question is assessed first and (with ``auto``) confident answers
            are recorded with ``decided_by=auto``, so only uncertain questions reach the page. When it also has
            ``evidence(i, j)`` and ``affine(i, j)`` (as ``busi_curate.assistant.Assistant`` does), the page shows
            its figures in words and draws the pair registered with its fit.
        assessments: assessments already made (row pair -> assessment), e.g. by the automatic pass.
        auto: False to use the assistant only for its evidence and registration: every question goes to the
            person, nothing is decided automatically.
    """

    def __init__(
        self,
        scan: Any,
        walk: Walk,
        append: Callable[[Decision], Decision],
        reviewer: str,
        assistant: Any = None,
        assessments: dict[RowPair, Any] | None = None,
        display_size: int = DISPLAY_SIZE,
        auto: bool = True,
    ) -> None:
        self.scan, self.walk, self.append, self.reviewer = scan, walk, append, reviewer
        self.assistant = assistant
        self.auto = auto
        self.assessments: dict[RowPair, Any] = assessments if assessments is not None else {}
        self.display_size = display_size
        self.token = secrets.token_urlsafe(32)
        self.lock = threading.RLock()
        self.data_root = Path(scan.data_dir).resolve()
        #: ``png(kind, row)``: rendered images, the 96 most recently used kept (functools.lru_cache is thread-safe)
        self.png: Callable[[str, int], bytes] = functools.lru_cache(maxsize=96)(self._render_png)
        self._rows: dict[Key, int] = {
            (str(c), str(i)): r for r, (c, i) in enumerate(zip(scan.index["class"], scan.index["id"]))
        }
        self.last_message = ""

    # ------------------------------------------------------------ questions
    def current(self) -> Question | None:
        """The question for the person: confident assistant answers are recorded first."""
        from busi_curate.review.auto import auto_decision

        while True:
            q = self.walk.next_question()
            if q is None or self.assistant is None:
                return q
            a = self.assessments.get(q.rows)
            if a is None:
                a = self.assistant.assess([q.rows])[0]
                self.assessments[q.rows] = a
            if not self.auto:
                return q
            d = auto_decision(q, a)
            if d is None:
                return q
            self.walk.record(self.append(d))

    def _side(self, row: int) -> dict[str, Any]:
        ix = self.scan.index
        masks = [m for m in str(ix.at[row, "masks"]).split(";") if m and m != "nan"]
        return {
            "row": row,
            "class": str(ix.at[row, "class"]),
            "id": str(ix.at[row, "id"]),
            "width": int(ix.at[row, "width"]),
            "height": int(ix.at[row, "height"]),
            "image": str(ix.at[row, "image"]),
            "masks": len(masks),
            "img": f"/img/{row}.png",
            "mask": f"/mask/{row}.png",
            "thumb": f"/thumb/{row}.png",
            "full": f"/full/{row}.png",
            "fullmask": f"/fullmask/{row}.png",
        }

    def _structured(self, a: int, b: int) -> Any:
        """The assistant's measurements of rows ``a, b`` (``evidence(i, j)``), or None when it has none."""
        fn = getattr(self.assistant, "evidence", None)
        if fn is None:
            return None
        try:
            return fn(a, b)
        except (KeyError, IndexError, ValueError):
            return None

    def registration(self, r: int, c: int, identical: bool) -> dict[str, Any] | None:
        """How candidate ``c`` maps onto reference ``r`` in native pixels: ``matrix = (a, b, c, d, e, f)`` with
        ``x_c = a x_r + c y_r + e, y_c = b x_r + d y_r + f`` (canvas order), with its scale, rotation and shift.

        Identical pixels map by the identity; otherwise the assistant's fit is used (``assistant.affine(i, j)``,
        as :class:`busi_curate.assistant.Assistant` has it). None when there is no fit to draw.
        """
        m: Any = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0) if identical else None
        fn = getattr(self.assistant, "affine", None)
        if m is None and fn is not None:
            try:
                m = fn(r, c)
            except (KeyError, IndexError, ValueError):
                m = None
        return registration_of(m, identical)

    def registration_note(self, reg: dict[str, Any] | None) -> str:
        """Why the page cannot draw the pair registered ("" when it can)."""
        if reg is not None:
            return ""
        if self.assistant is None:
            return "not registered: no assistant in this review (started with --no-explain): aligned by size"
        if getattr(self.assistant, "affine", None) is None:
            return "not registered: this assistant gives no geometric fit: aligned by size"
        return "not registered: the assistant found no geometric fit for this pair: aligned by size"

    def _evidence(self, r: int, c: int, text: str, verdict: str, grade: str, score: float | None) -> dict[str, Any]:
        figs = evidence_figures(text, self._structured(r, c))
        return {
            "verdict": verdict,
            "grade": grade,
            "evidence": text,
            "plain": plain_evidence(text, figs),
            "figures": {k: round(v, 4) for k, v in figs.items()},
            "score": None if score is None else round(float(score), 4),
        }

    def _counter(self, q: Question | None) -> dict[str, int]:
        """``question N of M``: answers people gave to the walk's questions (pairs the assistant decided and
        someone overruled are counted by the gallery instead), plus the skipped, plus the questions still open."""
        auto_pairs = {d.pair for d in self.walk.decisions if d.decided_by == AUTO and d.answer in ("same", "different")}
        done = sum(
            1
            for p, d in effective(self.walk.decisions).items()
            if d.answer in ("same", "different") and d.decided_by != AUTO and p not in auto_pairs
        )
        open_ = len(self.walk.open_questions())
        parked = self.walk.progress().parked
        return {
            "number": done + parked + (1 if q is not None else 0),
            "total": done + open_,
            "answered": done,
            "skipped": parked,
            "open": open_,
        }

    def next_steps(self, open_count: int) -> list[dict[str, str]]:
        """What to run once the page has no question left: exact commands for this scan."""
        return next_steps(Path(self.scan.dir), Path(self.scan.data_dir), self.reviewer, open_count)

    def state(self, message: str = "") -> dict[str, Any]:
        """The JSON the page renders: question (or null when done), counter, progress, a status message."""
        with self.lock:
            q = self.current()
            counter = self._counter(q)
            out: dict[str, Any] = {
                "progress": self.walk.progress().to_dict(),
                "counter": counter,
                "message": message,
                "threshold": self.walk.threshold,
                "reviewer": self.reviewer,
                "open": counter["open"] if q is None else None,
                "undo_target": self.walk.undo_target(),
                "auto_decisions": sum(1 for _ in self._auto_pairs()),
                "grades": list(GRADES),
            }
            if q is None:
                out["question"] = None
                out["next_steps"] = self.next_steps(counter["open"])
                return out
            a = self.assessments.get(q.rows)
            out["question"] = {
                "reference": self._side(q.reference),
                "candidate": self._side(q.candidate),
                "ssim": None if not np.isfinite(q.ssim) else round(q.ssim, 4),
                "rank": q.rank,
                "source": q.source,
                "pixel_identical": q.pixel_identical,
                "default_grade": "identical" if q.pixel_identical else "same-frame",
                "registration": (reg := self.registration(q.reference, q.candidate, q.pixel_identical)),
                "registration_note": self.registration_note(reg),
                "assistant": None
                if a is None
                else self._evidence(q.reference, q.candidate, a.evidence, a.verdict, a.grade, a.score),
            }
            return out

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Apply one answer from the page; returns (HTTP status, state JSON)."""
        ans = body.get("answer")
        with self.lock:
            if ans == "undo":
                # an undo names the decision it takes back: a repeated request finds it already undone
                target = body.get("target")
                if not isinstance(target, str) or not target:
                    return 400, self.state("an undo names the decision it takes back ('target' from the last state)")
                if target != self.walk.undo_target():
                    return 409, self.state("that decision is already undone (or is not the latest)")
                d = self.walk.undo_decision(self.reviewer)
                if d is None:
                    return 409, self.state("nothing to undo")
                d = self.append(d)
                self.walk.record(d)
                return 200, self.state(
                    f"undone: {d.evidence[5:].split(' @ ')[0]} on {d.reference_class} {d.reference_id} / "
                    f"{d.candidate_class} {d.candidate_id}"
                )
            if ans not in ("same", "different", "skip"):
                return 400, self.state(f"unknown answer {ans!r}")
            grade: Grade = cast(Grade, str(body.get("grade") or "")) if ans == "same" else ""  # checked next
            if ans == "same" and grade not in GRADES:
                return 400, self.state(f"a 'same' answer needs a grade in {GRADES}")
            q = self.current()
            if q is None or [body.get("reference"), body.get("candidate")] != [q.reference, q.candidate]:
                return 409, self.state("the question changed; showing the current one")
            a = self.assessments.get(q.rows)
            evidence = f"ssim={q.ssim:.4f} rank={q.rank} {q.source}" + (
                f"; assistant: {a.verdict} {a.evidence}" if a is not None else ""
            )
            d = self.append(q.decision(ans, grade, self.reviewer, evidence))
            self.walk.record(d)
            label = ans + (f" ({grade})" if grade else "")
            return 200, self.state(
                f"saved: {label} on {q.reference_key[0]} {q.reference_key[1]} / "
                f"{q.candidate_key[0]} {q.candidate_key[1]}"
            )

    # ------------------------------------------------------------ gallery
    def _auto_pairs(self) -> dict[tuple[Key, Key], Decision]:
        """The latest automatic same/different decision of every pair the assistant decided, in journal order."""
        out: dict[tuple[Key, Key], Decision] = {}
        for d in self.walk.decisions:
            if d.decided_by == AUTO and d.answer in ("same", "different"):
                out.pop(d.pair, None)
                out[d.pair] = d
        return out

    def _assessment(self, r: int, c: int) -> Any:
        return self.assessments.get((r, c)) or self.assessments.get((c, r))

    def auto_items(self) -> dict[str, Any]:
        """Every automatic decision for the gallery: pair, verdict, evidence, score and confidence, what stands."""
        with self.lock:
            standing = effective(self.walk.decisions)
            items = []
            for pair, d in self._auto_pairs().items():
                r, c = self._rows.get(d.reference), self._rows.get(d.candidate)
                if r is None or c is None:
                    continue
                figs = evidence_figures(d.evidence)
                a = self._assessment(r, c)
                score = float(a.score) if a is not None else _score_from(figs, d.evidence)
                now = standing.get(pair)
                items.append(
                    {
                        "reference": self._side(r),
                        "candidate": self._side(c),
                        "auto": {
                            "answer": d.answer,
                            "grade": d.grade,
                            "label": d.grade or d.answer,
                            "evidence": d.evidence,
                            "plain": plain_evidence(d.evidence, figs),
                            "time": d.time,
                        },
                        "score": None if score is None else round(score, 4),
                        "confidence": confidence_of(d.answer, score),
                        "standing": None
                        if now is None
                        else {
                            "answer": now.answer,
                            "grade": now.grade,
                            "decided_by": now.decided_by,
                            "id": undo_id(now),
                        },
                        "overruled": now is not None and now.decided_by != AUTO,
                    }
                )
            return {
                "items": items,
                "grades": list(GRADES),
                "reviewer": self.reviewer,
                "undo_target": self.walk.undo_target(),
                "progress": self.walk.progress().to_dict(),
            }

    def pair_info(self, r: int, c: int) -> dict[str, Any] | None:
        """One pair of rows as the gallery's detail view shows it; None when the rows are out of range."""
        n = self.scan.n
        if not (0 <= r < n and 0 <= c < n) or r == c:
            return None
        with self.lock:
            ident = bool(self.scan.index.at[r, "pixel_sha256"] == self.scan.index.at[c, "pixel_sha256"])
            key_r, key_c = self.walk.keys[r], self.walk.keys[c]
            pair = (key_r, key_c) if key_r <= key_c else (key_c, key_r)
            d = self._auto_pairs().get(pair)
            a = self._assessment(r, c)
            text = d.evidence if d is not None else (a.evidence if a is not None else "")
            ssim = _finite(self.scan.pair_ssim(r, c))
            return {
                "reference": self._side(r),
                "candidate": self._side(c),
                "ssim": None if ssim is None else round(ssim, 4),
                "pixel_identical": ident,
                "registration": (reg := self.registration(r, c, ident)),
                "registration_note": self.registration_note(reg),
                "assistant": self._evidence(
                    r,
                    c,
                    text,
                    d.answer if d is not None else (a.verdict if a is not None else ""),
                    d.grade if d is not None else (a.grade if a is not None else ""),
                    float(a.score) if a is not None else _score_from(evidence_figures(text), text),
                ),
            }

    def overrule(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """A person's answer replacing an automatic decision; journalled like any answer (and undone the same way)."""
        ans = body.get("answer")
        with self.lock:
            r, c = body.get("reference"), body.get("candidate")
            if not (type(r) is int and type(c) is int and 0 <= r < self.scan.n and 0 <= c < self.scan.n):
                return 400, {**self.auto_items(), "message": "an overrule names the rows of an automatic decision"}
            if ans not in ("same", "different"):
                return 400, {**self.auto_items(), "message": f"an overrule answers 'same' or 'different', not {ans!r}"}
            grade: Grade = cast(Grade, str(body.get("grade") or "")) if ans == "same" else ""  # checked next
            if ans == "same" and grade not in GRADES:
                return 400, {**self.auto_items(), "message": f"a 'same' answer needs a grade in {GRADES}"}
            kr, kc = self.walk.keys[r], self.walk.keys[c]
            pair = (kr, kc) if kr <= kc else (kc, kr)
            auto = self._auto_pairs().get(pair)
            if auto is None:
                return 400, {**self.auto_items(), "message": "the assistant did not decide that pair"}
            now = effective(self.walk.decisions).get(pair)
            if body.get("standing") != (undo_id(now) if now is not None else ""):
                return 409, {**self.auto_items(), "message": "that decision changed meanwhile; showing what stands now"}
            if now is not None and (now.answer, now.grade) == (ans, grade):
                return 400, {**self.auto_items(), "message": "that is already the standing answer"}
            evidence = f"overrules auto {auto.answer}{' ' + auto.grade if auto.grade else ''}: {auto.evidence}"
            d = self.append(
                Decision(
                    auto.reference_class,
                    auto.reference_id,
                    auto.candidate_class,
                    auto.candidate_id,
                    ans,
                    grade,
                    self.reviewer,
                    evidence[:500],
                )
            )
            self.walk.record(d)
            label = ans + (f" ({grade})" if grade else "")
            return 200, {
                **self.auto_items(),
                "message": f"saved: {label} on {d.reference_class} {d.reference_id} / {d.candidate_class} "
                f"{d.candidate_id} (overrules auto {auto.grade or auto.answer})",
            }

    # --------------------------------------------------------------- images
    def media_path(self, row: int) -> Path:
        """The real path of image ``row``; CurateError if it is not a file inside the scanned data folder."""
        from busi_curate.data.dicom import frame_path, split_frame

        file, frame = split_frame(self.scan.image_path(row))  # a DICOM frame is ``cine.dcm#3``: check its file
        p = file.resolve()
        if not p.is_relative_to(self.data_root) or not p.is_file():
            raise Refused("refused: image outside the scanned data folder", p)
        return frame_path(p, frame)

    def _render_png(self, kind: str, row: int) -> bytes:
        """``img``/``thumb``/``full``: the image downscaled to at most 512 / 160 px or at native size; ``mask`` /
        ``fullmask``: its mask outline at the size of ``img`` / ``full`` (RGBA). Cached by :attr:`png`."""
        from PIL import Image

        from busi_curate.data.imageio import read_gray, read_mask_union
        from busi_curate.fileio import pixel_sha256

        path = self.media_path(row)
        gray = read_gray(path)
        if pixel_sha256(gray) != self.scan.index.at[row, "pixel_sha256"]:  # replaced while the page runs
            raise Refused("refused: the image changed since the scan (scan again)", path)
        h, w = gray.shape
        limit = {"mask": self.display_size, "img": self.display_size, "thumb": THUMB_SIZE}.get(kind)
        s = min(1.0, limit / max(h, w)) if limit else 1.0
        size = (max(1, round(w * s)), max(1, round(h * s)))
        if kind in ("img", "thumb", "full"):
            im = Image.fromarray(gray).resize(size, Image.Resampling.LANCZOS) if s < 1 else Image.fromarray(gray)
        else:
            masks = self.scan.mask_paths(row)
            for m in masks:
                if not Path(m).resolve().is_relative_to(self.data_root):
                    raise Refused("refused: mask outside the scanned data folder", m)
            mask = read_mask_union(masks, (h, w), path) if masks else np.zeros((h, w), dtype=bool)
            im = Image.fromarray(outline_rgba(mask, size, s), mode="RGBA")
        return png_bytes(im)

    def page(self, name: str = "index.html") -> bytes:
        html = (STATIC_DIR / name).read_text(encoding="utf-8")
        return html.replace("{{TOKEN}}", self.token).encode("utf-8")
