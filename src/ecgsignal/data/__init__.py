"""Data sources, all returning :class:`ECGDataset`: synthetic (default), PTB-XL, PTB-XL+, arrays.

``load_dataset(name, data_root=None, **kwargs)`` picks a source by name from :data:`DATASETS`.
"""

from ecgsignal.data.dataset import ECGDataset, stratified_split, validate_signals
from ecgsignal.data.leads import LEAD_NAMES, N_LEADS
from ecgsignal.data.sources import DATASETS, load_dataset

__all__ = [
    "DATASETS",
    "ECGDataset",
    "LEAD_NAMES",
    "N_LEADS",
    "load_dataset",
    "stratified_split",
    "validate_signals",
]
