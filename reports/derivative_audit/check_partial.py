import collections
from pathlib import Path

import pandas as pd

from busi_curate.studies.derivative_audit import JOURNAL, _groups, derivative_plan

truth = derivative_plan(Path("/work/shared/data/BUSI"), 0)
groups = _groups(JOURNAL)
src = {(c, i): groups.get((sc, si), frozenset({(sc, si)})) for c, i, _, sc, si in truth.itertuples(index=False)}
d = pd.read_csv("reports/derivative_audit/cross-128-decisions-partial.csv", dtype=str)
right = collections.Counter()
wrong = []
for rc, ri, cc, ci, ans, g in zip(
    d.reference_class, d.reference_id, d.candidate_class, d.candidate_id, d.answer, d.grade.fillna("")
):
    if ri.startswith("A") == ci.startswith("A"):
        continue
    a, b = ((rc, ri), (cc, ci)) if ri.startswith("A") else ((cc, ci), (rc, ri))
    ok = (a[0], a[1][2:]) in src[(b[0], b[1][2:])]
    right[(ans, g, ok)] += 1
    if ans == "same" and not ok:
        wrong.append((a, b))
    if ans != "same" and ok:
        wrong.append(("missed", a, b))
print(right)
print(wrong[:10])
