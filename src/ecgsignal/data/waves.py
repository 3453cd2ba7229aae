"""Wave components and drawing primitives shared by the beat model and the class definitions.

The synthetic beat is a sum of wave components (asymmetric Gaussians after ECGSYN, McSharry et al.,
IEEE Trans Biomed Eng 50:289, 2003, then a delta-wave ramp and an ST plateau); this module names
them, holds the precordial amplitude tables of the normal adult beat, and the small random helpers
every draw uses. Private to the generator (:mod:`ecgsignal.data.synthetic`).
"""

from __future__ import annotations

import numpy as np

# Wave components, in render order: asymmetric Gaussians, then the delta-wave ramp and the ST
# plateau (two logistic edges). RN: LBBB notch; TERM: RBBB terminal R′/wide S; QI: infarct Q.
_WAVES = ("P", "Q", "R", "S", "T", "RN", "TERM", "QI", "DELTA", "ST")
_W = {w: i for i, w in enumerate(_WAVES)}
_NW = len(_WAVES)
_GAUSS = _W["DELTA"]  # components 0.._GAUSS-1 are asymmetric Gaussians; then the ramp, the plateau
_V = slice(2, 8)  # precordial columns in the 8 independent leads (I, II, V1..V6)

# Precordial amplitude tables (mV, V1..V6) of the normal adult beat.
_PREC = {
    "P": (0.05, 0.07, 0.07, 0.07, 0.07, 0.06),
    "Q": (0.15, 0.12, 0.0, -0.05, -0.09, -0.08),
    "R": (0.15, 0.35, 0.70, 1.05, 1.20, 0.95),
    "S": (-0.80, -1.15, -0.80, -0.45, -0.20, -0.10),
    "T": (0.08, 0.40, 0.45, 0.40, 0.30, 0.22),
}


def _u(rng: np.random.Generator, lo: float, hi: float, n) -> np.ndarray:
    """Uniform draws on ``[lo, hi)``, shape ``n``."""
    return rng.uniform(lo, hi, n)


def _lognormal(rng: np.random.Generator, sigma: float, size) -> np.ndarray:
    """Log-normal factors with median 1, clipped at ±2σ (bounded patient variability)."""
    return np.exp(np.clip(rng.normal(0.0, sigma, size), -2 * sigma, 2 * sigma))


def _above(rng: np.random.Generator, lo: float, scale: float, hi: float, n: int) -> np.ndarray:
    """A population that piles up just past a threshold: ``lo + Exp(scale)``, clipped at ``hi``."""
    return np.minimum(lo + rng.exponential(scale, n), hi)


def _st_edges(p: dict, s: np.ndarray, rise: float, k1: float, fall: float) -> None:
    """ST plateau from the J point (+ ``rise`` s) to the T peak (+ ``fall`` s)."""
    p["st"][s, 0] = p["j_point"][s] + rise
    p["st"][s, 1] = k1
    p["st"][s, 2] = p["mu"][s, _W["T"]] + fall
    p["st"][s, 3] = 0.03
