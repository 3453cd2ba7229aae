"""Seeded training with early stopping on validation loss, and probability prediction.

One seed fixes everything random in a run: the weight initialisation and dropout (torch's
global generator, seeded inside :func:`torch.random.fork_rng` so the caller's random state is
left as it was) and the order of the mini-batches (a private :class:`torch.Generator`). On the
CPU the same seed gives bit-identical weights; on CUDA, cuDNN may pick non-deterministic kernels.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ecgsignal.data.dataset import ECGDataset
from ecgsignal.errors import ConfigError, DataError
from ecgsignal.models.cnn import ECGCNN, ModelConfig, build_model
from ecgsignal.models.metrics import mean_auroc, per_class_auroc
from ecgsignal.models.phase_conv import torch_kernels
from ecgsignal.rng import forked_torch_rng
from ecgsignal.timing import timed


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of :func:`train_model`.

    AdamW (Loshchilov & Hutter, ICLR 2019) with learning rate ``lr`` and decoupled
    ``weight_decay``, cosine-annealed to 0 over ``epochs`` (Loshchilov & Hutter, ICLR 2017) after
    ``warmup_epochs`` of linear warm-up; early stopping when the validation loss has not improved
    by ``min_delta`` for ``patience`` epochs, keeping the weights of the best validation epoch.
    """

    epochs: int = 30
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4
    patience: int = 5
    min_delta: float = 1e-4
    warmup_epochs: int = 1
    schedule: str = "cosine"

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "patience"):
            if getattr(self, name) < 1:
                raise ConfigError(f"TrainConfig.{name} must be ≥ 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ConfigError(f"TrainConfig.lr must be > 0, got {self.lr}")
        if self.weight_decay < 0 or self.min_delta < 0 or self.warmup_epochs < 0:
            raise ConfigError("TrainConfig: weight_decay, min_delta and warmup_epochs must be ≥ 0")
        if self.schedule not in ("cosine", "constant"):
            raise ConfigError(f"TrainConfig.schedule {self.schedule!r}; valid: cosine, constant")


@dataclass(frozen=True, eq=False)
class TrainResult:
    """What :func:`train_model` returns.

    Attributes
    ----------
    model:
        The trained network with the best-validation weights, in eval mode, on the device.
    history:
        One dict per epoch: ``epoch``, ``train_loss``, ``val_loss``, ``val_auroc`` (macro mean),
        ``lr``, ``seconds`` (cumulative).
    auroc:
        ``{class name: AUROC}`` on the test split.
    seconds:
        Wall-clock training time (s), evaluation included.
    best_epoch:
        The epoch (1-based) whose weights were kept.
    """

    model: ECGCNN
    history: list[dict] = field(default_factory=list)
    auroc: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    best_epoch: int = 0


def resolve_device(device: str | torch.device | None) -> torch.device:
    """A :class:`torch.device`; ``None`` → CPU. An unavailable CUDA device fails clearly."""
    dev = torch.device(device if device is not None else "cpu")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but CUDA is not available here")
    return dev


def _is_multilabel(model: nn.Module, multilabel: bool | None) -> bool:
    return bool(getattr(model, "multilabel", False)) if multilabel is None else bool(multilabel)


def _model_device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _as_input(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(x)
    if t.ndim != 3:
        raise DataError(f"input must be (n, leads, T), got shape {tuple(t.shape)}")
    return t.float()


def predict_logits(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    batch_size: int = 512,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """``(n, C)`` float32 logits of ``x`` ``(n, 12, T)`` mV, in eval mode, without gradients.

    ``device=None`` runs where the model's parameters are; another device moves the model there
    (and it stays there). The model's train/eval mode is restored afterwards.
    """
    t = _as_input(x)
    dev = resolve_device(device) if device is not None else _model_device(model)
    was_training = model.training
    model.eval()
    model.to(dev)
    out = []
    try:
        with torch.no_grad():
            for i in range(0, t.shape[0], batch_size):
                out.append(model(t[i : i + batch_size].to(dev)).float().cpu())
    finally:
        model.train(was_training)
    if not out:
        raise DataError("no beats to predict: input has 0 rows")
    return torch.cat(out).numpy()


def predict_proba(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    batch_size: int = 512,
    device: str | torch.device | None = None,
    multilabel: bool | None = None,
) -> np.ndarray:
    """``(n, C)`` float32 class probabilities of ``x`` ``(n, 12, T)`` mV.

    Softmax over the logits for single-label models (rows sum to 1), an independent sigmoid
    per class for multi-label ones. ``multilabel=None`` reads the model's ``multilabel``
    attribute (set by :func:`train_model`; absent = single-label).
    """
    logits = torch.from_numpy(predict_logits(model, x, batch_size=batch_size, device=device))
    if _is_multilabel(model, multilabel):
        return torch.sigmoid(logits).numpy()
    return torch.softmax(logits, dim=1).numpy()


def _loss_fn(multilabel: bool) -> nn.Module:
    return nn.BCEWithLogitsLoss() if multilabel else nn.CrossEntropyLoss()


def _targets(ds: ECGDataset) -> torch.Tensor:
    return torch.from_numpy(ds.labels.astype(np.float32) if ds.multilabel else ds.labels.astype(np.int64))


def _evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ds: ECGDataset, dev: torch.device,
              batch_size: int) -> tuple[float, dict[str, float]]:
    logits = torch.from_numpy(predict_logits(model, x, batch_size=max(batch_size, 256), device=dev))
    loss = float(_loss_fn(ds.multilabel)(logits, y))
    probs = torch.sigmoid(logits) if ds.multilabel else torch.softmax(logits, 1)
    auroc = per_class_auroc(ds.labels, probs.numpy(), ds.class_names, undefined="nan")
    return loss, auroc


def _lr_factor(epoch: int, cfg: TrainConfig, step: float) -> float:
    """LR multiplier at fractional epoch ``epoch + step`` (step in [0, 1))."""
    e = epoch + step
    if cfg.warmup_epochs and e < cfg.warmup_epochs:
        return (e + 1e-3) / cfg.warmup_epochs
    if cfg.schedule == "constant":
        return 1.0
    span = max(cfg.epochs - cfg.warmup_epochs, 1)
    return float(0.5 * (1 + np.cos(np.pi * min((e - cfg.warmup_epochs) / span, 1.0))))


@timed("training")
def train_model(
    dataset: ECGDataset,
    model_config: ModelConfig | None = None,
    train_config: TrainConfig | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> TrainResult:
    """Train the default CNN on ``dataset``'s train split; early-stop on its validation split.

    Parameters
    ----------
    dataset:
        An :class:`ECGDataset` with a split (train / val / test all non-empty).
    model_config, train_config:
        Architecture and optimisation settings (defaults: :class:`ModelConfig`, :class:`TrainConfig`).
    seed:
        Seeds the initial weights, dropout and batch order. Same seed → identical weights on CPU.
    device:
        Any torch device (``"cpu"``, ``"cuda"``, ``"cuda:1"``…).
    progress:
        Show a tqdm bar over epochs with validation loss and macro AUROC.

    Returns
    -------
    TrainResult
        The best-validation model (eval mode, on ``device``), the per-epoch history, per-class
        AUROC on the test split and the wall-clock seconds.

    Raises
    ------
    DataError
        No split, an empty split, or a test split lacking positives/negatives of a class.
    """
    if not isinstance(dataset, ECGDataset):
        raise DataError(f"expected an ECGDataset, got {type(dataset).__name__}")
    if dataset.split is None:
        raise DataError("dataset has no train/val/test split; call dataset.with_split(seed) first")
    mcfg = model_config or ModelConfig()
    tcfg = train_config or TrainConfig()
    if not isinstance(tcfg, TrainConfig):
        raise ConfigError(f"train_config must be a TrainConfig, got {type(tcfg).__name__}")
    if not isinstance(mcfg, ModelConfig):
        raise ConfigError(f"model_config must be a ModelConfig, got {type(mcfg).__name__}")
    dev = resolve_device(device)
    parts = {}
    for name in ("train", "val", "test"):
        parts[name] = dataset.part(name)
        if parts[name].n == 0:
            raise DataError(f"the {name} split is empty ({dataset.n} beats in all)")
    if parts["train"].n < 2:
        raise DataError("the train split needs at least 2 beats (BatchNorm)")
    # fail before training, not after, when the test AUROC would be undefined
    per_class_auroc(parts["test"].labels, np.zeros((parts["test"].n, dataset.n_classes)),
                    dataset.class_names)

    start = time.perf_counter()
    x_tr = torch.from_numpy(parts["train"].signals)
    y_tr = _targets(parts["train"])
    x_va, y_va = torch.from_numpy(parts["val"].signals), _targets(parts["val"])
    loss_fn = _loss_fn(dataset.multilabel)
    gen = torch.Generator().manual_seed(int(seed))
    history: list[dict] = []

    # torch's own convolution kernels: the models of a seed stay bit for bit those of torch
    # (phases round differently, and rounding grows over the steps: models/phase_conv.py)
    with forked_torch_rng(dev), torch_kernels():
        torch.manual_seed(int(seed))
        model = build_model(dataset.n_classes, mcfg).to(dev)
        model.multilabel = dataset.multilabel
        opt = torch.optim.AdamW(model.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
        best_loss, best_state, best_epoch, wait = float("inf"), None, 0, 0
        n = x_tr.shape[0]
        n_batches = max(1, -(-n // tcfg.batch_size))
        bar = tqdm(range(tcfg.epochs), desc="training", unit="epoch", disable=not progress,
                   leave=False)
        for epoch in bar:
            model.train()
            order = torch.randperm(n, generator=gen)
            total, seen = 0.0, 0
            for b in range(n_batches):
                idx = order[b * tcfg.batch_size : (b + 1) * tcfg.batch_size]
                if idx.numel() < 2:  # BatchNorm cannot train on a single beat
                    continue
                for g in opt.param_groups:
                    g["lr"] = tcfg.lr * _lr_factor(epoch, tcfg, b / n_batches)
                xb, yb = x_tr[idx].to(dev), y_tr[idx].to(dev)
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(xb), yb)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * idx.numel()
                seen += idx.numel()
            val_loss, val_auc = _evaluate(model, x_va, y_va, parts["val"], dev, tcfg.batch_size)
            history.append({
                "epoch": epoch + 1,
                "train_loss": total / max(seen, 1),
                "val_loss": val_loss,
                "val_auroc": mean_auroc(val_auc),
                "lr": opt.param_groups[0]["lr"],
                "seconds": time.perf_counter() - start,
            })
            bar.set_postfix(val_loss=f"{val_loss:.4f}", val_auroc=f"{mean_auroc(val_auc):.4f}")
            if val_loss < best_loss - tcfg.min_delta:
                best_loss, best_epoch, wait = val_loss, epoch + 1, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                wait += 1
                if wait >= tcfg.patience:
                    break
        bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    test = parts["test"]
    with torch_kernels():
        probs = predict_proba(model, test.signals, device=dev)
    auroc = per_class_auroc(test.labels, probs, test.class_names)
    return TrainResult(model=model, history=history, auroc=auroc,
                       seconds=time.perf_counter() - start, best_epoch=best_epoch)
