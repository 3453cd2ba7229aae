"""ecgsignal: sanity checks for attribution methods on ECG classifiers.

Reproduces and extends Arends et al., "Signal or noise? Evaluating commonly used attribution
methods for explaining deep neural networks in electrocardiogram classification",
Eur Heart J Digit Health 2026 (doi:10.1093/ehjdh/ztag038).

The pipeline, along the data's way: :mod:`ecgsignal.data` → :mod:`ecgsignal.models` →
:mod:`ecgsignal.attribution` → :mod:`ecgsignal.evaluation` → :mod:`ecgsignal.visual` /
:mod:`ecgsignal.widgets`; :mod:`ecgsignal.run` holds profiles, caches, the CLI and executors.
"""

__version__ = "0.1.0"
