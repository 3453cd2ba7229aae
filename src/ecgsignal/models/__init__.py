"""Models: the default 1D CNN, seeded training, per-class AUROC and the checkpoint cache."""

from ecgsignal.models.checkpoints import (
    CheckpointWarning,
    TrainedModel,
    checkpoint_key,
    dataset_fingerprint,
    load_checkpoint,
    load_or_train,
    load_or_train_many,
    save_checkpoint,
)
from ecgsignal.models.cnn import ECGCNN, ModelConfig, build_model, n_parameters
from ecgsignal.models.metrics import binary_targets, mean_auroc, per_class_auroc
from ecgsignal.models.training import (
    TrainConfig,
    TrainResult,
    predict_logits,
    predict_proba,
    resolve_device,
    train_model,
)

__all__ = [
    "CheckpointWarning",
    "ECGCNN",
    "ModelConfig",
    "TrainConfig",
    "TrainResult",
    "TrainedModel",
    "binary_targets",
    "build_model",
    "checkpoint_key",
    "dataset_fingerprint",
    "load_checkpoint",
    "load_or_train",
    "load_or_train_many",
    "mean_auroc",
    "n_parameters",
    "per_class_auroc",
    "predict_logits",
    "predict_proba",
    "resolve_device",
    "save_checkpoint",
    "train_model",
]
