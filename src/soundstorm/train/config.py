"""Training configuration: dataclasses, YAML files and ``key=value`` overrides.

The dataclasses are the source of truth. A YAML file sets some of their fields, and
command-line overrides such as ``optim.lr=3e-4`` or ``data.batch_size=16`` set more; every
value is converted to the type of its field, and an unknown key is an error that lists the
known ones::

    config = load_train_config("configs/tiny.yaml", ["optim.lr=1e-3", "run.max_steps=100"])
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from soundstorm.config import SoundStormConfig
from soundstorm.errors import SoundStormError
from soundstorm.files import atomic_write_text


@dataclass
class DataConfig:
    """Where the token shards are and how batches are made.

    Attributes:
        train_dir: directory of token shards (``soundstorm prepare`` output) for training.
        train_split: split name inside ``train_dir`` (None: all of it).
        val_dir: directory of validation shards (None: ``train_dir``; validation is skipped
            with a warning if that directory has no ``val_split``).
        val_split: split name inside ``val_dir`` (None: no validation).
        max_frames: random crop length in codec frames (paper: 30 s windows, 1500 at 50 Hz).
        min_frames: utterances shorter than this are skipped.
        batch_size: utterances per device per micro-batch.
        bucket: group utterances of similar length into the same global batch.
        bucket_window: number of global batches sorted together when bucketing.
        num_workers: DataLoader worker processes per rank.
        check_tokens: verify every utterance's tokens are in range (error names the utterance).
        synthetic: train on this many random utterances of ``max_frames`` frames instead of
            ``train_dir`` (0: off); for throughput benchmarks without data.
    """

    train_dir: str = ""
    train_split: str | None = "train"
    val_dir: str | None = None
    val_split: str | None = "valid"
    max_frames: int = 1500
    min_frames: int = 2
    batch_size: int = 8
    bucket: bool = True
    bucket_window: int = 50
    num_workers: int = 2
    check_tokens: bool = True
    synthetic: int = 0


@dataclass
class MaskingConfig:
    """Options of the training masks (``soundstorm.masking.sample_training_masks``).

    Both default to 0: the paper's masking (SoundStorm §3.3), draw for draw. They apply to the
    training batches only; validation keeps the paper's masks, so ``val/loss`` compares across
    runs with and without them.

    Attributes:
        known_suffix_fraction: fraction of examples that also keep a known suffix after the
            masked span (``suffix_start ~ U{prompt_len+1, ..., length-1}``), so the model
            learns to fill a span from both sides: speech editing (``soundstorm edit``).
        prompt_dropout: fraction of examples whose known frames (prompt, and suffix if any)
            are masked at every level, so one model also has the unconditional behaviour that
            classifier-free guidance (``--guidance-scale``) contrasts with the prompted one.
        level_weights: relative probabilities of training each RVQ level (one number per
            level, e.g. ``[2, 1, 1, 1]``: the first level in 40% of the examples); None: the
            paper's uniform draw.
    """

    known_suffix_fraction: float = 0.0
    prompt_dropout: float = 0.0
    level_weights: list[float] | None = None


@dataclass
class OptimConfig:
    """AdamW, linear warm-up then cosine decay, clipping and accumulation.

    Attributes:
        lr: peak learning rate (reached after ``warmup_steps``).
        min_lr_ratio: final learning rate as a fraction of ``lr``.
        betas: AdamW betas.
        eps: AdamW epsilon.
        weight_decay: decoupled weight decay of matrices (never of norms, biases, embeddings).
        warmup_steps: optimizer steps of linear warm-up from 0.
        total_steps: length of the schedule and of training, in optimizer steps.
        grad_clip: clip the global gradient norm to this value (0: no clipping).
        grad_accum: micro-batches accumulated per optimizer step.
        max_nonfinite_steps: stop after this many consecutive steps with a non-finite loss
            or gradient norm (each such step is skipped).
    """

    lr: float = 5e-4
    min_lr_ratio: float = 0.1
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-8
    weight_decay: float = 0.01
    warmup_steps: int = 1000
    total_steps: int = 100_000
    grad_clip: float = 1.0
    grad_accum: int = 1
    max_nonfinite_steps: int = 10


@dataclass
class RunConfig:
    """Devices, precision, parallelism, checkpoints.

    Attributes:
        output_dir: run directory (checkpoints, TensorBoard logs, the resolved config).
        seed: seed of the data order, crops, masks and initialisation.
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        precision: ``auto`` (bf16 autocast on a GPU that supports it, else fp32), ``bf16``,
            ``fp32``, or ``fp64`` (float64 parameters: for exactness tests).
        tf32: allow TF32 matmuls on Ampere and newer GPUs.
        compile: ``torch.compile`` the training forward pass.
        strategy: ``auto`` (DDP when launched with several processes), ``ddp`` or ``fsdp``.
        max_steps: stop this run at this global step (None: ``optim.total_steps``); the
            schedule is unchanged, so a later run can continue.
        max_minutes: wall-clock budget of this run in minutes (None or 0: none). The clock
            starts when training starts in this process (setup, data indexing and resuming
            excluded; compilation, validation and checkpoints included); the run stops after
            the first optimizer step that ends past the budget (rank 0's clock decides for
            every rank), writes a checkpoint and, with ``export.dir``, exports. The schedule
            still follows ``optim.total_steps`` unless ``schedule_by_time``.
        schedule_by_time: fit the warm-up + cosine schedule to ``max_minutes``: when 10%,
            30% and 60% of the budget have passed, the steps per second measured since 3% set
            the schedule's length (replacing ``optim.total_steps``) to the steps that fit the
            rest of the budget, so the learning rate has decayed when time is up. The fitted
            length is saved in checkpoints; a resumed run keeps it.
        resume: ``auto`` (continue from the newest checkpoint in ``output_dir`` if any),
            ``never``, ``latest`` (the newest, which must exist) or a checkpoint directory.
        checkpoint_every: save a checkpoint every this many steps (and at the end).
        keep_last: number of checkpoints kept (older ones are deleted).
    """

    output_dir: str = "runs/soundstorm"
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    tf32: bool = True
    compile: bool = False
    strategy: str = "auto"
    max_steps: int | None = None
    max_minutes: float | None = None
    schedule_by_time: bool = False
    resume: str = "auto"
    checkpoint_every: int = 1000
    keep_last: int = 3


@dataclass
class LogConfig:
    """Progress bar, TensorBoard, validation.

    Attributes:
        every: log training metrics every this many steps.
        progress: show a tqdm progress bar (rank 0).
        tensorboard: write TensorBoard event files under ``output_dir/tensorboard``.
        peak_flops: peak FLOP/s of one device for the MFU estimate (0: guess from the GPU
            name; MFU is not logged when unknown).
        val_every: validate every this many steps (0: never).
        val_batches: validation batches per rank (masked-token accuracy per level), taken in
            one seeded order of the validation split that does not depend on the batch size;
            ``benchmarks/val_loss.py`` scores whole splits, to compare runs.
        generate_examples: validation utterances generated with ``generate`` (0: none).
        generate_steps: iterations per level for ``generate`` (None: the model's default).
        prompt_frames: frames of ground-truth acoustic prompt given to ``generate``.
        codec: codec name or path for decoding generated tokens to audio, ``auto`` for the
            codec recorded in the training shards, None for no audio.
    """

    every: int = 10
    progress: bool = True
    tensorboard: bool = True
    peak_flops: float = 0.0
    val_every: int = 1000
    val_batches: int = 8
    generate_examples: int = 2
    generate_steps: list[int] | None = None
    prompt_frames: int = 150
    codec: str | None = None


@dataclass
class ExportConfig:
    """A voice model directory written when training ends (what ``soundstorm export`` writes).

    Attributes:
        dir: the directory to write (None: no export); replaced if it exists.
        codec: codec file or name copied in; ``auto`` for the codec file recorded in the
            training shards (``soundstorm prepare`` output).
        semantic: semantic tokenizer copied in (a saved directory) or named in
            ``pipeline.json``; ``auto`` for the one recorded in the training shards (the
            tokenizer ``soundstorm prepare`` fitted, or the name they were prepared with).
        steps: recommended first-level decoding passes recorded in ``pipeline.json`` (None:
            none recorded, the paper's 16 apply).
        dtype: dtype of the exported weights: ``float16``, ``bfloat16`` or ``float32``.
        source: ``last`` (the final checkpoint) or ``best`` (the weights of the lowest
            ``val/loss`` seen, kept in ``OUTPUT_DIR/best`` at each validation; the final
            weights when the run never validated).
        corpus_summary: the ``summary.json`` of the ``soundstorm corpus`` run behind
            ``data.train_dir``, described in the model card (``README.md``) with the prepared
            tokens themselves (None: the card says the corpus is not recorded).
    """

    dir: str | None = None
    codec: str = "auto"
    semantic: str = "auto"
    steps: int | None = None
    dtype: str = "float16"
    source: str = "last"
    corpus_summary: str | None = None


@dataclass
class InitConfig:
    """How a fresh run initialises the network (a resumed run loads its checkpoint instead).

    Attributes:
        codebooks: ``random`` (N(0, 0.02), GPT-2 style) or ``codec``: each level's code
            embeddings and output head start as the codec's RVQ centroids of that level,
            carried into the model dimension by a distance-preserving map (principal
            components, then a random orthonormal projection) and scaled to the random
            initialisation's standard deviation, so codes close in the codec's feature space
            start close for the model (issue 15's lever). Needs a codec with RVQ codebooks
            (the embedded codec recorded in the training shards).
        weights: a model directory (``save_pretrained`` / ``soundstorm export`` output or a
            checkpoint's ``model``) to warm-start from; its configuration must equal
            ``model``, except a smaller ``depth``: the model is then grown from it, new
            blocks computing the identity at the start (``soundstorm.train.init.grow_depth``).
            Applied after ``codebooks``.
    """

    codebooks: str = "random"
    weights: str | None = None


@dataclass
class TrainConfig:
    """Everything a training run needs: ``model``, ``data``, ``masking``, ``optim``, ``run``,
    ``log``, ``export``, ``init``."""

    model: SoundStormConfig = field(default_factory=SoundStormConfig.tiny)
    data: DataConfig = field(default_factory=DataConfig)
    masking: MaskingConfig = field(default_factory=MaskingConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)
    log: LogConfig = field(default_factory=LogConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    init: InitConfig = field(default_factory=InitConfig)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check value ranges; raises ``SoundStormError`` naming the field."""
        checks = [
            (self.data.max_frames >= 2, "data.max_frames must be >= 2"),
            (self.data.batch_size >= 1, "data.batch_size must be >= 1"),
            (self.data.num_workers >= 0, "data.num_workers must be >= 0"),
            (
                0 <= self.masking.known_suffix_fraction <= 1,
                "masking.known_suffix_fraction must be in [0, 1]",
            ),
            (0 <= self.masking.prompt_dropout <= 1, "masking.prompt_dropout must be in [0, 1]"),
            (
                _valid_level_weights(self.masking.level_weights, self.model.num_levels),
                "masking.level_weights must hold model.num_levels numbers >= 0 with a positive sum",
            ),
            (self.optim.lr > 0, "optim.lr must be > 0"),
            (0 <= self.optim.min_lr_ratio <= 1, "optim.min_lr_ratio must be in [0, 1]"),
            (self.optim.total_steps >= 1, "optim.total_steps must be >= 1"),
            (self.optim.warmup_steps >= 0, "optim.warmup_steps must be >= 0"),
            (self.optim.grad_accum >= 1, "optim.grad_accum must be >= 1"),
            (self.optim.grad_clip >= 0, "optim.grad_clip must be >= 0"),
            (self.optim.max_nonfinite_steps >= 1, "optim.max_nonfinite_steps must be >= 1"),
            (self.run.device in ("auto", "cpu", "cuda"), "run.device must be auto, cpu or cuda"),
            (
                self.run.precision in ("auto", "bf16", "fp32", "fp64"),
                "run.precision must be auto, bf16, fp32 or fp64",
            ),
            (
                self.run.strategy in ("auto", "ddp", "fsdp"),
                "run.strategy must be auto, ddp or fsdp",
            ),
            (self.run.checkpoint_every >= 1, "run.checkpoint_every must be >= 1"),
            ((self.run.max_minutes or 0) >= 0, "run.max_minutes must be >= 0"),
            (
                not self.run.schedule_by_time or (self.run.max_minutes or 0) > 0,
                "run.schedule_by_time needs a budget: set run.max_minutes",
            ),
            (
                self.export.dtype in ("float16", "bfloat16", "float32"),
                "export.dtype must be float16, bfloat16 or float32",
            ),
            (self.export.steps is None or self.export.steps >= 1, "export.steps must be >= 1"),
            (self.export.source in ("last", "best"), "export.source must be last or best"),
            (self.run.keep_last >= 1, "run.keep_last must be >= 1"),
            (self.init.codebooks in ("random", "codec"), "init.codebooks must be random or codec"),
            (self.log.every >= 1, "log.every must be >= 1"),
            (self.log.val_every >= 0, "log.val_every must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise SoundStormError(message)

    @property
    def stop_step(self) -> int:
        """Global step at which this run stops (before any ``run.schedule_by_time`` fit)."""
        if self.run.max_steps is None:
            return self.optim.total_steps
        return min(self.run.max_steps, self.optim.total_steps)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (YAML/JSON serialisable; tuples become lists)."""
        return _plain(dataclasses.asdict(self))


def _valid_level_weights(weights: list[float] | None, num_levels: int) -> bool:
    """Whether ``masking.level_weights`` is what ``sample_training_masks`` accepts."""
    from soundstorm.masking import level_cumulative

    try:
        level_cumulative(weights, num_levels)
    except ValueError:
        return False
    return True


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _convert(value: Any, annotation: Any, key: str) -> Any:
    """Convert a YAML-parsed ``value`` to the type ``annotation`` of the field ``key``."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _convert(value, option, key)
            except SoundStormError as error:
                errors.append(str(error))
        raise SoundStormError(errors[0] if errors else f"{key}: cannot be None")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            value = [value]
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise SoundStormError(f"{key}: expected {len(args)} values, got {list(value)!r}")
            return tuple(_convert(v, a, key) for v, a in zip(value, args))
        item_type = args[0] if args else Any
        converted = [_convert(v, item_type, key) for v in value]
        return tuple(converted) if origin is tuple else converted
    if annotation is Any:
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise SoundStormError(f"{key}: expected true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise SoundStormError(f"{key}: expected an integer, got {value!r}")
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise SoundStormError(f"{key}: expected a number, got {value!r}")
    if annotation is str:
        if isinstance(value, (dict, list)) or value is None:
            raise SoundStormError(f"{key}: expected a string, got {value!r}")
        return str(value)
    raise SoundStormError(f"{key}: unsupported field type {annotation!r}")


def _set_dotted(tree: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise SoundStormError(f"override {key!r}: {part!r} is not a section")
    node[parts[-1]] = value


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """Parse ``["a.b=1", "c.d=[1, 2]"]`` into a nested dict of YAML-parsed values."""
    tree: dict[str, Any] = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SoundStormError(f"override {item!r} must look like section.field=value")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        _set_dotted(tree, key, value)
    return tree


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _build(cls: type, values: dict[str, Any], prefix: str) -> Any:
    """Build dataclass ``cls`` from nested ``values``, converting and checking every key."""
    if not isinstance(values, dict):
        raise SoundStormError(f"{prefix.rstrip('.') or 'config'}: expected a mapping")
    hints = _field_types(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(names))
    if unknown:
        known = ", ".join(prefix + n for n in names)
        raise SoundStormError(f"unknown config key {prefix + unknown[0]!r}; known keys: {known}")
    kwargs = {}
    for name, value in values.items():
        annotation = hints[name]
        if dataclasses.is_dataclass(annotation):
            kwargs[name] = _build(annotation, value, f"{prefix}{name}.")
        else:
            kwargs[name] = _convert(value, annotation, prefix + name)
    try:
        return cls(**kwargs)
    except ValueError as error:
        raise SoundStormError(f"{prefix.rstrip('.') or 'config'}: {error}") from None


def config_from_dict(values: dict[str, Any]) -> TrainConfig:
    """Build a ``TrainConfig`` from a nested dict (unset fields keep their defaults).

    ``model`` may carry ``preset: tiny|small|paper``; the other model keys override it.
    """
    values = dict(values)
    model = dict(values.get("model") or {})
    preset = model.pop("preset", None)
    if preset is not None:
        try:
            base = SoundStormConfig.from_name(str(preset)).to_dict()
        except ValueError as error:
            raise SoundStormError(f"model.preset: {error}") from None
        model = {**base, **model}
    values["model"] = model
    return _build(TrainConfig, values, "")


def load_train_config(path: str | Path | None, overrides: list[str] | None = None) -> TrainConfig:
    """Load a YAML config file (optional) and apply ``key=value`` overrides.

    Args:
        path: YAML file with sections ``model``, ``data``, ``masking``, ``optim``, ``run``,
            ``log``, ``export``.
        overrides: dotted ``key=value`` strings, values parsed as YAML scalars or lists.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        SoundStormError: unknown key, or a value of the wrong type or range.
    """
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as error:
            raise SoundStormError(f"{path}: not valid YAML ({error})") from None
        if not isinstance(values, dict):
            raise SoundStormError(f"{path}: expected a mapping of sections at the top level")
    values = _merge(values, parse_overrides(overrides or []))
    return config_from_dict(values)


def save_train_config(config: TrainConfig, path: str | Path) -> None:
    """Write ``config`` as YAML, atomically (``soundstorm.files.atomic_write_text``)."""
    atomic_write_text(path, yaml.safe_dump(config.to_dict(), sort_keys=False))
