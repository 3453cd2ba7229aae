"""The generator's output is pinned: a refactor of the class definitions
(:mod:`ecgsignal.data.classes`) must not move a single sample, mask bit, label or parameter.

Integer and boolean arrays are hashed as they are; float arrays rounded to 1e-6 (mV, ms, …).
The float values differ in their last bits between CPUs, because numpy's SIMD ``exp``/``sin``
differ between AVX-512 and AVX2 (measured: the bit-for-bit hashes of the same code on an AMD
Zen 4 and a Zen 3 machine differed); a change of the data moves far more than 1e-6.
If a change to the beat model is *meant* to change the data, update the hashes in the same
commit and say so in its message.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from ecgsignal.data.synthetic import generate

CASES = {
    # (difficulty, seed, extra config) -> sha256 of every array the batch returns (floats rounded)
    ("easy", 0, ""):
        "2afe9c28e6fe40da42a38cb962ae3beb253550cbbee3501ac13e4885b66e34c6",
    ("easy", 1, ""):
        "96fa9f5f78ab26cb1c3169db7fc55c9cf8d1b8c2b618fb6a373240f11d01008c",
    ("realistic", 0, ""):
        "dd3bad9d52fc47a6842e9d8ce7a3c5b203afa5677381a925a3ccf8be97cbe061",
    ("realistic", 1, ""):
        "bdf5a9b76801781a62ea9d5a620bf6351e329f1ff4ec772a7c86677125039cce",
    ("easy", 2, "extras+multilabel"):
        "17e513792c6caa67784522b9f83d54dfcfb4608004bd9d56bb2722abd3ae70da",
    ("realistic", 2, "extras+multilabel"):
        "c416fd9bb6ec520fae70873d588b324c1452c5dca2d61761594c16f99e31251b",
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
        if np.issubdtype(a.dtype, np.floating):
            a = np.round(a.astype(np.float64), 6) + 0.0  # + 0.0: -0.0 → 0.0
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
