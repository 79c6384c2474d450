"""The automatic pass's on-disk assessment cache: a restart with nothing new asks the assistant nothing, writes the
same journal as without the cache, and a changed setting, version or SSIM never reuses an answer."""

from __future__ import annotations

import json
from dataclasses import dataclass

from test_review_auto import FakeAssistant

from busi_curate.review.assess_cache import FILE_NAME, AssessmentStore, CachedAssistant, pair_key
from busi_curate.review.journal import read_journal
from busi_curate.review.run import automatic_pass
from busi_curate.scan.run import read_scan


@dataclass(frozen=True)
class Settings:
    strict: bool = True


class Counting(FakeAssistant):
    """The fake assistant, counting the pairs it is asked about."""

    def __init__(self, scan, cache_dir, settings: Settings = Settings()) -> None:  # type: ignore[no-untyped-def]
        super().__init__(scan, cache_dir)
        self.settings = settings
        self.asked = 0

    def assess(self, pairs):  # type: ignore[no-untyped-def]
        self.asked += len(pairs)
        return super().assess(pairs)

    def extra_pairs(self):  # type: ignore[no-untyped-def]
        return []


def test_restart_asks_nothing_and_journal_is_the_same(scan_copy, tmp_path):
    import shutil

    plain = tmp_path / "plain"
    shutil.copytree(scan_copy, plain)
    scan = read_scan(scan_copy)
    first = Counting(scan, None)
    walk, summary = automatic_pass(scan, scan_copy / "decisions.csv", assistant=first, progress=True)
    # within one pass only pairs of identical content (copies with the same pixels and SSIM) share an answer
    assert first.asked > 0 and first.asked + summary.cached == summary.assessed and summary.cached <= 2
    assert (scan_copy / "features" / FILE_NAME).exists()
    lines = read_journal(scan_copy / "decisions.csv")
    # the same pass without the cache writes the same decisions
    ref = Counting(read_scan(plain), None)
    automatic_pass(read_scan(plain), plain / "decisions.csv", assistant=ref, cache=False)
    assert [(d.pair, d.answer, d.grade, d.evidence) for d in read_journal(plain / "decisions.csv")] == [
        (d.pair, d.answer, d.grade, d.evidence) for d in lines
    ]
    assert not (plain / "features" / FILE_NAME).exists()
    # restart: nothing new to decide, nothing asked, nothing appended; the questions left are the same
    again = Counting(read_scan(scan_copy), None)
    walk2, summary2 = automatic_pass(read_scan(scan_copy), scan_copy / "decisions.csv", assistant=again)
    assert again.asked == 0 and summary2.cached > 0 and summary2.uncertain == summary.uncertain
    assert len(read_journal(scan_copy / "decisions.csv")) == len(lines)
    assert [q.rows for q in walk2.open_questions()] == [q.rows for q in walk.open_questions()]
    assert "assessments from the cache" in summary2.line()
    # another setting of the assistant: everything is asked again
    other = Counting(read_scan(scan_copy), None, Settings(strict=False))
    automatic_pass(read_scan(scan_copy), scan_copy / "decisions.csv", assistant=other)
    assert other.asked > 0


def test_keys_and_damaged_file(scan_copy):
    scan = read_scan(scan_copy)
    assert pair_key("a", "b", 0.5) != pair_key("b", "a", 0.5) != pair_key("a", "b", 0.25)
    assert pair_key("a", "b", float("nan")).endswith(":nan")
    folder = scan_copy / "features"
    folder.mkdir(exist_ok=True)
    (folder / FILE_NAME).write_text("{not json")
    warnings: list[str] = []
    fake = Counting(scan, None)
    store = AssessmentStore.for_assistant(folder, fake, warnings.append)
    assert store.items == {} and "unreadable assessment cache ignored" in warnings[0]
    cached = CachedAssistant(fake, scan.index["pixel_sha256"], scan.pair_ssim, store)
    a = cached.assess([(0, 1), (1, 2)])
    store.save()
    data = json.loads((folder / FILE_NAME).read_text())
    assert data["format"] == "busi-curate-assessments/1" and len(data["items"]) == 2
    assert data["assistant"].startswith("test_assess_cache:Counting 0.1.0 ")
    # read back: the same answers, the assistant not asked
    store2 = AssessmentStore.for_assistant(folder, fake)
    fake.asked = 0
    b = CachedAssistant(fake, scan.index["pixel_sha256"], scan.pair_ssim, store2).assess([(0, 1), (1, 2)])
    assert fake.asked == 0 and [(x.verdict, x.evidence) for x in a] == [(x.verdict, x.evidence) for x in b]


def test_a_change_to_the_assistants_code_misses_the_cache(tmp_path, monkeypatch):
    import sys
    import types

    from busi_curate.review.assess_cache import assistant_signature

    pkg = tmp_path / "rulepkg"
    pkg.mkdir()
    (pkg / "rule.py").write_text("LIMIT = 0.9\n")
    mod = types.ModuleType("rulepkg_rule_mod")
    mod.__file__ = str(pkg / "rule.py")
    monkeypatch.setitem(sys.modules, "rulepkg_rule_mod", mod)
    Local = type("Local", (), {"__module__": "rulepkg_rule_mod", "settings": None})
    before = assistant_signature(Local())
    assert before == assistant_signature(Local())  # stable
    (pkg / "rule.py").write_text("LIMIT = 0.95\n")  # same settings, other code
    assert assistant_signature(Local()) != before
