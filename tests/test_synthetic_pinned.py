"""The generator's output is pinned bit for bit: a refactor of the class definitions
(:mod:`ecgsignal.data.classes`) must not move a single sample, mask bit, label or parameter.

The hashes were computed on the generator before the class specs were gathered in one module.
If a change to the beat model is *meant* to change the data, update the hashes in the same
commit and say so in its message.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from ecgsignal.data.synthetic import generate

CASES = {
    # (difficulty, seed, extra config) -> sha256 of every array the batch returns
    ("easy", 0, ""):
        "0ab01f5a7f5fc018f3283bfb8e2a0edfd1f31dbc6e47898e6f338bef402dcfdb",
    ("easy", 1, ""):
        "d85b3f15503bef4d289afd842d1865b406a1c105834b79b18247b514e786e747",
    ("realistic", 0, ""):
        "412f87e66e8f7cb2a2cfde3734d6efdf8777368be8374c41b8a6c9456d1c45e2",
    ("realistic", 1, ""):
        "2789aef8747a4880063784fe11b6d2196be9e09c536b80f431c6c4aac6a7cf3d",
    ("easy", 2, "extras+multilabel"):
        "b86b8e7ab0e8dfa4065ecca2b6c0cf16b1cefe9bac3767f12f71728e7a0daff2",
    ("realistic", 2, "extras+multilabel"):
        "1e1d0936a7ef8a9e2e4ed90f8ab6ecbb3df9b285e3a06a282394860d1a07d38b",
}


def _kwargs(extra: str) -> dict:
    if extra == "extras+multilabel":
        return {"extras": ("WPW", "LAFB"), "multilabel": True, "cooccur_prob": 0.5}
    return {}


def batch_hash(difficulty: str, seed: int, extra: str) -> str:
    """sha256 over beats, clean, counterfactual, masks, labels, findings, flips and params."""
    b = generate(n=90, seed=seed, difficulty=difficulty, keep_clean=True, **_kwargs(extra))
    h = hashlib.sha256()
    arrays = [b.beats, b.clean, b.counterfactual, b.labels, b.primary, b.findings, b.diff_mask,
              b.criteria_mask, b.label_flipped]
    if b.finding_diff_mask is not None:
        arrays += [b.finding_diff_mask, b.finding_criteria_mask]
    arrays += [b.params[k] for k in sorted(b.params)]
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("case", sorted(CASES), ids=lambda c: "-".join(map(str, c)).strip("-"))
def test_generator_output_is_pinned(case):
    assert batch_hash(*case) == CASES[case]


def test_every_class_is_one_complete_spec():
    from ecgsignal.data.classes import CLASSES, class_spec
    from ecgsignal.data.realism import PRIORITY
    from ecgsignal.data.synthetic import COMPATIBLE, CRITERIA_WINDOWS
    from ecgsignal.errors import ConfigError

    findings = [c for c in CLASSES if c != "NORM"]
    assert list(CRITERIA_WINDOWS) == findings and sorted(PRIORITY) == sorted(findings)
    for name in findings:
        spec = class_spec(name)
        assert spec.draw_easy is not None and (spec.intervals or spec.morph), name
        lo, hi = spec.criteria_window
        assert lo < hi and spec.criteria_leads, name
        assert all(name in COMPATIBLE[o] for o in spec.compatible), name  # symmetric
        assert all(PRIORITY.index(o) > PRIORITY.index(name) for o in spec.secondary), name
    assert sorted(p for c in findings if (p := CLASSES[c].priority) is not None) == list(range(len(findings)))
    with pytest.raises(ConfigError, match="unknown synthetic class"):
        class_spec("AFIB")
