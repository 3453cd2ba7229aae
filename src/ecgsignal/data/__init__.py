"""Data sources, all returning :class:`ECGDataset`: synthetic (default), PTB-XL, PTB-XL+, arrays."""

from ecgsignal.data.dataset import ECGDataset, stratified_split, validate_signals
from ecgsignal.data.leads import LEAD_NAMES, N_LEADS

__all__ = ["ECGDataset", "LEAD_NAMES", "N_LEADS", "stratified_split", "validate_signals"]
