"""PTB-XL SCP-ECG statements → our nine classes, and PTB-XL's five diagnostic superclasses.

PTB-XL (Wagner et al., Sci Data 2020) labels each record with a dict ``{scp_code: likelihood}``
(likelihood 0–100; 0 means "unknown", not "absent"). Codes → our classes
(SYNTHETIC_ECG.md, "The nine default classes"):

======  ==========================  ====================================================
class   SCP codes                   meaning in PTB-XL's ``scp_statements.csv``
======  ==========================  ====================================================
NORM    NORM                        normal ECG
1AVB    1AVB                        first-degree AV block
LBBB    CLBBB                       complete left bundle branch block
RBBB    CRBBB                       complete right bundle branch block
LVH     LVH                         left ventricular hypertrophy
STEMI   AMI, ASMI                   anterior / anteroseptal myocardial infarction
IMI     IMI                         inferior myocardial infarction
TWI     INVT, NT_                   inverted T waves / non-specific T-wave changes
LQT     LNGQT                       long QT interval
======  ==========================  ====================================================

Incomplete blocks (ILBBB, IRBBB) and other statements match no class. **Single-label rule**
(``mode="priority"``, the default): a record matching several classes takes the first of
:data:`CLASS_PRIORITY` — conduction and infarction patterns that reshape the whole QRS-T
first, NORM last — so a record with CLBBB and NT_ is LBBB (its T-wave change is secondary).
``mode="exclusive"`` drops records matching more than one class; ``mode="multilabel"``
keeps them all as multi-hot rows. Records matching no class are dropped by the loaders,
and counted.

Superclasses (NORM, MI, STTC, CD, HYP) come from the ``diagnostic_class`` column of
``scp_statements.csv`` for statements with ``diagnostic == 1``, as in the PTB-XL benchmark
(Strodthoff et al., IEEE JBHI 2021).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ecgsignal.errors import ConfigError, DataError

__all__ = [
    "CLASS_NAMES",
    "CLASS_PRIORITY",
    "SCP_TO_CLASS",
    "SUPERCLASSES",
    "SUPERCLASS_PRIORITY",
    "LabelAssignment",
    "assign_labels",
    "classes_of",
    "parse_scp_codes",
    "superclass_lists",
    "superclass_map",
]

#: Our nine classes, in the order of ``ecgsignal.data.synthetic.CLASS_NAMES``.
CLASS_NAMES: tuple[str, ...] = ("NORM", "1AVB", "LBBB", "RBBB", "LVH", "STEMI", "IMI", "TWI", "LQT")

#: SCP statement → class.
SCP_TO_CLASS: Mapping[str, str] = {
    "NORM": "NORM",
    "1AVB": "1AVB",
    "CLBBB": "LBBB",
    "CRBBB": "RBBB",
    "LVH": "LVH",
    "AMI": "STEMI",
    "ASMI": "STEMI",
    "IMI": "IMI",
    "INVT": "TWI",
    "NT_": "TWI",
    "LNGQT": "LQT",
}

#: Which class wins when a record matches several (``mode="priority"``).
CLASS_PRIORITY: tuple[str, ...] = ("STEMI", "LBBB", "RBBB", "IMI", "LVH", "LQT", "1AVB", "TWI", "NORM")

#: PTB-XL's diagnostic superclasses.
SUPERCLASSES: tuple[str, ...] = ("NORM", "MI", "STTC", "CD", "HYP")

#: Superclass precedence for single-label use.
SUPERCLASS_PRIORITY: tuple[str, ...] = ("MI", "CD", "HYP", "STTC", "NORM")

MODES = ("priority", "exclusive", "multilabel")


def parse_scp_codes(text: object, where: str = "scp_codes") -> dict[str, float]:
    """Parse one ``scp_codes`` cell: ``"{'NORM': 100.0, 'SR': 0.0}"`` (PTB-XL) or a list of
    ``(code, likelihood)`` pairs ``"[('NORM', 100.0)]"`` (PTB-XL+ ``ptbxl_statements.csv``).

    Raises :class:`DataError` naming ``where`` for anything else.
    """
    if isinstance(text, Mapping):
        obj = text
    else:
        try:
            obj = ast.literal_eval(str(text))
        except (ValueError, SyntaxError) as exc:
            raise DataError(f"{where}: cannot parse SCP codes {str(text)[:80]!r}: {exc}") from None
    try:
        items = obj.items() if isinstance(obj, Mapping) else list(obj)
        return {str(k): float(v) for k, v in items}
    except (TypeError, ValueError):
        raise DataError(f"{where}: SCP codes must be a dict or (code, likelihood) pairs, got {str(text)[:80]!r}") from None


def classes_of(codes: Mapping[str, float], mapping: Mapping[str, str] = SCP_TO_CLASS,
               min_likelihood: float = 0.0) -> set[str]:
    """The classes a record's SCP codes match (codes with likelihood ≥ ``min_likelihood``)."""
    return {mapping[c] for c, lik in codes.items() if c in mapping and lik >= min_likelihood}


def superclass_map(statements: pd.DataFrame) -> dict[str, str]:
    """SCP code → superclass, from ``scp_statements.csv`` (rows with ``diagnostic == 1``)."""
    for col in ("diagnostic", "diagnostic_class"):
        if col not in statements.columns:
            raise DataError(f"scp_statements.csv has no {col!r} column; columns are {list(statements.columns)}")
    diag = statements[pd.to_numeric(statements["diagnostic"], errors="coerce") == 1]
    out = {str(code): str(cls) for code, cls in diag["diagnostic_class"].items() if isinstance(cls, str)}
    bad = sorted(set(out.values()) - set(SUPERCLASSES))
    if bad:
        raise DataError(f"scp_statements.csv: unknown diagnostic_class value(s) {bad}; expected {list(SUPERCLASSES)}")
    return out


class LabelAssignment:
    """Labels chosen for a list of records.

    Attributes
    ----------
    labels:
        ``(n_kept,)`` int64 (single-label) or ``(n_kept, C)`` uint8 (multi-label).
    keep:
        ``(n_records,)`` bool: records that received a label.
    class_names:
        The ``C`` classes.
    counts:
        ``{"no_match": …, "ambiguous_dropped": …, "resolved_by_priority": …}``.
    """

    def __init__(self, labels: np.ndarray, keep: np.ndarray, class_names: tuple[str, ...],
                 counts: dict[str, int]) -> None:
        self.labels = labels
        self.keep = keep
        self.class_names = class_names
        self.counts = counts


def assign_labels(
    codes: Sequence[Mapping[str, float]],
    class_names: Sequence[str] = CLASS_NAMES,
    mapping: Mapping[str, str] = SCP_TO_CLASS,
    priority: Sequence[str] = CLASS_PRIORITY,
    mode: str = "priority",
    min_likelihood: float = 0.0,
) -> LabelAssignment:
    """Turn per-record SCP code dicts into labels under the rule of ``mode`` (module docstring).

    Parameters
    ----------
    codes:
        One ``{scp_code: likelihood}`` per record.
    class_names:
        Output classes; ``mapping`` values must be among them.
    mapping:
        SCP code → class (:data:`SCP_TO_CLASS`, or :func:`superclass_map` for superclasses).
    priority:
        Precedence for ``mode="priority"``; must list every class.
    mode:
        ``"priority"``, ``"exclusive"`` or ``"multilabel"``.
    min_likelihood:
        Ignore codes below this likelihood (PTB-XL: 0 = unknown, so the default keeps all).
    """
    if mode not in MODES:
        raise ConfigError(f"label mode {mode!r} is not one of {list(MODES)}")
    class_names = tuple(class_names)
    unknown = sorted(set(mapping.values()) - set(class_names))
    if unknown:
        raise ConfigError(f"mapping targets {unknown} are not among class_names {list(class_names)}")
    if mode == "priority" and set(priority) != set(class_names):
        raise ConfigError(f"priority {list(priority)} must list exactly the classes {list(class_names)}")
    index = {c: i for i, c in enumerate(class_names)}
    rank = {c: i for i, c in enumerate(priority)}
    n = len(codes)
    keep = np.zeros(n, bool)
    multi = np.zeros((n, len(class_names)), np.uint8)
    single = np.full(n, -1, np.int64)
    counts = {"no_match": 0, "ambiguous_dropped": 0, "resolved_by_priority": 0}
    for i, c in enumerate(codes):
        found = classes_of(c, mapping, min_likelihood)
        if not found:
            counts["no_match"] += 1
            continue
        if len(found) > 1:
            if mode == "exclusive":
                counts["ambiguous_dropped"] += 1
                continue
            if mode == "priority":
                counts["resolved_by_priority"] += 1
        keep[i] = True
        for k in found:
            multi[i, index[k]] = 1
        single[i] = index[min(found, key=rank.__getitem__)] if mode == "priority" else index[next(iter(found))]
    labels = multi[keep] if mode == "multilabel" else single[keep]
    return LabelAssignment(labels, keep, class_names, counts)


def superclass_lists(codes: Iterable[Mapping[str, float]], statements: pd.DataFrame,
                     min_likelihood: float = 0.0) -> list[list[str]]:
    """Per record, its sorted superclasses (a JSON-friendly list of lists)."""
    smap = superclass_map(statements)
    return [sorted(classes_of(c, smap, min_likelihood)) for c in codes]
