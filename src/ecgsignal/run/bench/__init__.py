"""``ecgsignal bench``: speed ratios measured side by side in one run, with the machine they ran on.

Every ratio compares two things timed in the same process, interleaved repeat by repeat (a
warm-up call first, then ``repeats`` rounds in which both sides run back to back, the order
alternating), and reports the median of each side. On a shared or throttled machine absolute
times drift; ratios of interleaved medians do not drift with it. Sections:

``engine``
    The batched engine (:func:`ecgsignal.attribution.attribute`) against a naive per-beat loop
    of the same Captum explainers (:func:`naive_attribute`), same model (the default
    :class:`~ecgsignal.models.cnn.ECGCNN`, 62k parameters), same beats (synthetic, 250 Hz), same
    noise draws; the maps must agree within ``1e-5`` (absolute, or relative to the map's peak).
    Target on a CPU: ≥ 2× for every gradient method (≥ 20× on a GPU), never slower.
``efficiency``
    A method's engine time ÷ (model rows it needs × the best per-row cost over batch sizes),
    forward+backward rows for IG, SmoothGrad and GradientSHAP, forward-only rows for Occlusion.
    1.0 is the limit of this model on this machine; target ≤ 1.2.
``randomization``
    Cascading model-parameter randomisation of Saliency and IG on 64 beats: Quantus' ``MPRT``
    against our cascade (:func:`~ecgsignal.evaluation.quantus_check.our_mprt_scores`, same
    layers, same random draws), with the largest per-beat difference of their correlations.
    Target ≥ 5×.
``threads``
    The engine with torch's default number of CPU threads against one thread (Saliency and IG on
    32 beats). Below 1, the threads contend for the cores (a shared or oversubscribed machine,
    or parallel workers): run with ``OMP_NUM_THREADS=1`` there.
``conv``
    Dilated convolutions computed as interleaved undilated ones
    (:mod:`ecgsignal.models.phase_conv`, the default CNN's blocks) against oneDNN's dilated
    kernels: a forward pass and a training step on 128 beats, with the largest relative
    difference of the logits and gradients (float rounding).
``generator``
    Synthetic beats per second (:func:`~ecgsignal.data.synthetic.benchmark_generator`).
``chapters``
    Where the book's time goes: per chapter, wall time split into kernel start-up, data,
    training, attribution, experiment, bootstrap and other (plotting…), and attribution per
    method, read from the chapter kernels' timing logs (:mod:`.chapters`, ``--profile``).

The package: :mod:`.config` (what is measured), :mod:`.machine` (the machine, model and beats),
:mod:`.harness` (interleaved timing, per-row costs), :mod:`.naive` (the per-beat reference loops,
one registered function per method), :mod:`.sections`, :mod:`.chapters`, :mod:`.devices`
(CUDA vs CPU maps), :mod:`.report` (run, summary, tables) and :mod:`.cli`.
"""


from ecgsignal.run.bench.chapters import (
    chapter_profile,
    chapter_tables,
    chapter_times,
    chapters_section,
    format_chapters,
    method_profile,
    profile_highlights,
    timings_dir,
)
from ecgsignal.run.bench.cli import config_from_args, main
from ecgsignal.run.bench.config import (
    EFFICIENCY_METHODS,
    ENGINE_METHODS,
    SECTIONS,
    TOLERANCE,
    BenchConfig,
)
from ecgsignal.run.bench.devices import DEVICE_TOLERANCE, compare_devices
from ecgsignal.run.bench.harness import interleaved, per_row_costs
from ecgsignal.run.bench.machine import _beats, bench_model, machine_info
from ecgsignal.run.bench.naive import NAIVE_LOOPS, naive_attribute, per_beat
from ecgsignal.run.bench.report import (
    format_table,
    load_bench,
    load_gpu_bench,
    machine_line,
    machine_table,
    ratio_table,
    run_bench,
    scale_highlights,
    summary_rows,
)
from ecgsignal.run.bench.sections import (
    add_ceilings,
    bench_conv,
    bench_efficiency,
    bench_engine,
    bench_randomization,
    bench_threads,
)

__all__ = [
    "BenchConfig", "DEVICE_TOLERANCE", "EFFICIENCY_METHODS", "ENGINE_METHODS", "NAIVE_LOOPS",
    "SECTIONS", "TOLERANCE", "add_ceilings", "bench_conv", "bench_efficiency", "bench_engine", "bench_model",
    "bench_randomization", "bench_threads", "chapter_profile", "chapter_tables", "chapter_times",
    "chapters_section", "compare_devices", "config_from_args", "format_chapters", "format_table",
    "interleaved", "load_bench", "load_gpu_bench", "scale_highlights", "machine_info", "machine_line", "machine_table", "main",
    "method_profile", "naive_attribute", "profile_highlights", "per_beat", "per_row_costs", "ratio_table", "run_bench",
    "summary_rows", "timings_dir", "_beats",
]
