"""The training recipe (torchtune's shape): ``setup``, ``train``, ``save_checkpoint``, ``cleanup``.

One process::

    soundstorm train configs/tiny.yaml data.train_dir=shards/train

Several GPUs (DDP; ``run.strategy=fsdp`` to shard parameters and optimizer state)::

    torchrun --standalone --nproc_per_node 8 -m soundstorm train configs/paper.yaml ...

From Python (tests pass in-memory datasets)::

    recipe = TrainRecipe(config, train_dataset=items, val_dataset=val_items)
    recipe.setup()
    progress = recipe.train()
    recipe.cleanup()
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import signal
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from soundstorm.decoding import DecodeOptions
from soundstorm.errors import SoundStormError
from soundstorm.flops import guess_peak_flops, training_flops_per_frame
from soundstorm.model import SoundStorm
from soundstorm.train import checkpoint as ckpt
from soundstorm.train.budget import CURVE_FILE, LearningCurve, TrainBudget
from soundstorm.train.config import TrainConfig, save_train_config
from soundstorm.train.data import (
    CroppedTokenDataset,
    GlobalBatchSampler,
    SyntheticTokenDataset,
    TokenBatch,
    build_loader,
    check_data_matches_model,
    collate_token_batch,
    load_token_dataset,
    utterance_lengths,
)
from soundstorm.train.distributed import (
    destroy_distributed,
    init_distributed,
    no_gradient_sync,
    wrap_model,
)
from soundstorm.train.init import codec_codebooks, init_from_codebooks, warm_start
from soundstorm.train.metrics import MetricsLogger, MetricsWindow
from soundstorm.train.objective import (
    MaskedTokenObjective,
    count_scored_tokens,
    level_accuracy_from_generation,
)
from soundstorm.train.optim import Schedule, build_optimizer, build_scheduler

logger = logging.getLogger("soundstorm.train")


class TrainRecipe:
    """Trains a SoundStorm model with the paper's masked objective.

    Args:
        config: the training configuration.
        train_dataset: a Sequence of token dicts (default: ``data.train_dir`` shards).
        val_dataset: same for validation (default: ``data.val_dir`` shards, if set).
    """

    def __init__(
        self,
        config: TrainConfig,
        train_dataset: Sequence[dict[str, Any]] | None = None,
        val_dataset: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        self.config = config
        self.train_items = train_dataset
        self.val_items = val_dataset
        self.data_dir: str | None = None  # the prepared tokens trained on, when read from disk
        self.progress = ckpt.TrainProgress()
        self.output_dir = Path(config.run.output_dir)
        self._logged_targets: set[str] = set()
        self.clock = time.monotonic  # the budget's clock (tests replace it)
        # "total_steps", "max_steps", "max_minutes" or "sigterm"
        self.stop_reason: str | None = None
        self._signalled = False  # a SIGTERM arrived during train(): stop after this step
        self.export_path: Path | None = None
        # The schedule: run.schedule_by_time refits its length (the scheduler reads it at
        # every step).
        self.schedule = Schedule.of(config.optim)
        self._schedule_fitted = False
        self._loader = None  # the training DataLoader, made on first use
        self.best: dict[str, Any] | None = None  # {"step", "val_loss"} of OUTPUT_DIR/best

    # ------------------------------------------------------------------ setup
    def setup(self) -> None:
        """Process group, data, model, optimizer; then resume if asked to."""
        cfg = self.config
        self.context = init_distributed(cfg.run.device)
        ctx = self.context
        self._hold_output_dir()
        self.device = ctx.device
        self.strategy = cfg.run.strategy
        if self.strategy == "auto":
            self.strategy = "ddp" if ctx.is_distributed else "none"
        self.sharded = ctx.is_distributed and self.strategy == "fsdp"
        cuda = self.device.type == "cuda"
        if cuda and cfg.run.tf32:  # fp32 matmuls (outside autocast) on tensor cores
            torch.set_float32_matmul_precision("high")
            torch.backends.cudnn.allow_tf32 = True
        precision = cfg.run.precision
        if precision == "auto":
            precision = "bf16" if cuda and torch.cuda.is_bf16_supported() else "fp32"
        self.precision = precision
        self.param_dtype = torch.float64 if precision == "fp64" else torch.float32
        self._setup_data()

        resume_from = ckpt.find_resume_checkpoint(
            self.output_dir, cfg.run.resume, set_aside=ctx.is_main
        )
        torch.manual_seed(cfg.run.seed)  # identical initial weights on every rank
        model = SoundStorm(cfg.model).to(device=self.device, dtype=self.param_dtype)
        self.model = model
        if resume_from is None:
            self._initialise(model)
        self.objective = MaskedTokenObjective(model)
        if resume_from is not None and not self.sharded:
            ckpt.load_model_weights(resume_from, self.objective, sharded=False)
        self.wrapped = wrap_model(self.objective, self.strategy, ctx)
        if cfg.run.compile:  # in place, after wrapping (FSDP hooks are traced), same state keys
            self.objective.compile()
        if resume_from is not None and self.sharded:
            ckpt.load_model_weights(resume_from, self.objective, sharded=True)
        fused = cuda and not self.sharded
        self.optimizer = build_optimizer(self.objective, cfg.optim, fused=fused)
        self.scheduler = build_scheduler(self.optimizer, self.schedule)
        torch.manual_seed(cfg.run.seed + 1 + ctx.rank)  # dropout differs across ranks
        if resume_from is not None:
            self.progress, info = ckpt.load_trainer_state(
                resume_from, self.objective, self.optimizer, self.scheduler, ctx
            )
            self._adapt_data_position(info)
            fitted = info.get("schedule_total_steps")
            was_fitted = info.get("schedule_fitted", False) is True  # else: fit anew
            if cfg.run.schedule_by_time and was_fitted and isinstance(fitted, int) and fitted >= 1:
                if self.progress.step < fitted:  # interrupted inside its fit: keep it
                    self.schedule.total_steps, self._schedule_fitted = fitted, True
                    anchor = info.get("schedule_anchor")
                    self.schedule.anchor = (
                        None if anchor is None else (int(anchor[0]), float(anchor[1]))
                    )
                elif ctx.is_main:  # it ended its fitted schedule: this budget extends it
                    logger.info(
                        "the checkpoint ended its fitted schedule (%d steps): fitting a new "
                        "one to this budget to extend the run",
                        fitted,
                    )
            if ctx.is_main:
                logger.info("resumed from %s at step %d", resume_from, self.progress.step)
            if cfg.export.source == "best":  # a fresh run ignores an older run's best weights
                self.best = ckpt.read_best(self.output_dir)

        self.flops_per_frame = training_flops_per_frame(model)
        self.peak_flops = cfg.log.peak_flops or guess_peak_flops(self.device)
        self.metrics = MetricsLogger(self.output_dir, ctx.is_main, cfg.log.tensorboard)
        self.codec = self._load_codec() if ctx.is_main else None
        self.export_codec = self._export_codec()
        self.export_semantic = self._export_semantic()
        self.export_data = self._export_card_data()
        if ctx.is_main:
            save_train_config(cfg, self.output_dir / "train_config.yaml")
            params = sum(p.numel() for p in model.parameters())
            logger.info(
                "model %.2fM parameters, %d utterances, %d rank(s) (%s), precision %s",
                params / 1e6,
                len(self.train_set),
                ctx.world_size,
                self.strategy,
                precision,
            )

    def _initialise(self, model: SoundStorm) -> None:
        """A fresh run's start: ``init.codebooks`` then ``init.weights`` (same on every rank)."""
        init = self.config.init
        if init.codebooks == "codec":
            codec_path = getattr(self.train_items, "meta", {}).get("codec_path")
            cfg = model.config
            codebooks = codec_codebooks(codec_path, cfg.num_levels, cfg.codebook_size)
            generator = torch.Generator().manual_seed(self.config.run.seed)
            init_from_codebooks(model, codebooks, generator)
            if self.context.is_main:
                logger.info(
                    "code embeddings and heads start from the RVQ centroids of %s", codec_path
                )
        if init.weights:
            source_depth = warm_start(model, init.weights)
            if self.context.is_main:
                grown = f" (grown from {source_depth} blocks to {model.config.depth})"
                logger.info(
                    "warm start from %s%s",
                    init.weights,
                    grown if source_depth != model.config.depth else "",
                )

    def _hold_output_dir(self) -> None:
        """Lock ``run.output_dir`` for this run (its ranks share the lock), sweep what a
        killed run left there (rank 0), and check it is writable: before any long work.

        Raises:
            FolderInUseError: another live run writes the folder.
            OSError: it cannot be written (read-only, no permission, no space left).
        """
        from soundstorm.files import check_writable, folder_lock, sweep_temp_files
        from soundstorm.validation import distributed_group

        self._lock = contextlib.ExitStack()
        self._lock.enter_context(
            folder_lock(self.output_dir, "soundstorm train", group=distributed_group())
        )
        if self.context.is_main:
            for path in sweep_temp_files(self.output_dir):
                logger.info("removed %s, left by a killed run", path)
            check_writable(self.output_dir)

    def _load_codec(self):
        """The codec that turns generated tokens into audio for TensorBoard (optional)."""
        name = self.config.log.codec
        if name == "auto":
            name = getattr(self.train_items, "meta", {}).get("codec_path")
        if not name or self.config.log.generate_examples == 0:
            return None
        try:
            from soundstorm.codecs import get_codec

            return get_codec(name)
        except (ImportError, SoundStormError, ValueError, FileNotFoundError) as error:
            if self.config.log.codec != "auto":
                raise SoundStormError(
                    f"log.codec={name!r}: cannot load the codec ({error})"
                ) from None
            logger.warning("no audio in TensorBoard: codec %r not loaded (%s)", name, error)
            return None

    def _export_codec(self) -> str | None:
        """The codec ``export`` copies in (checked now, not after hours of training)."""
        export = self.config.export
        if not export.dir:
            return None
        if export.codec != "auto":
            return export.codec
        path = getattr(self.train_items, "meta", {}).get("codec_path")
        if not path or not Path(path).is_file():
            raise SoundStormError(
                "export.codec=auto: the training data records no codec file; set export.codec "
                "to a codec file or name"
            )
        return str(path)

    def _export_card_data(self) -> str | None:
        """The prepared tokens the exported model card describes (None: no export, or tokens
        not read from ``data.train_dir``: synthetic or given in memory); the card's files
        (``export.corpus_summary``) are checked now, not after hours of training.

        Raises:
            SoundStormError: ``export.corpus_summary`` missing or not a corpus summary.
        """
        from soundstorm.model_card import read_card_sources

        export = self.config.export
        if not export.dir:
            return None
        read_card_sources(self.data_dir, export.corpus_summary)
        return self.data_dir

    def _export_semantic(self) -> str | None:
        """The semantic tokenizer ``export`` copies in or names (``export.semantic``; ``auto``:
        the training shards' saved tokenizer, else the name they were prepared with, with a
        warning when it is not a built-in one; data without a record, e.g. synthetic tokens,
        get ``phones-words`` and a warning)."""
        from soundstorm.semantic.registry import (
            LEGACY_DEFAULT,
            registered_semantic_tokenizers,
        )

        export = self.config.export
        if not export.dir:
            return None
        if export.semantic != "auto":
            return export.semantic
        meta = getattr(self.train_items, "meta", {})
        path = meta.get("semantic_path")
        if path:
            if not Path(path).is_dir():
                raise SoundStormError(
                    f"export.semantic=auto: the training data's semantic tokenizer {path} is "
                    "missing; set export.semantic to a saved tokenizer directory or a name"
                )
            return str(path)
        name = (meta.get("semantic") or {}).get("name")
        if name is None:
            logger.warning(
                "export.semantic=auto: the training data records no semantic tokenizer; the "
                "export names %s",
                LEGACY_DEFAULT,
            )
            return LEGACY_DEFAULT
        if name not in registered_semantic_tokenizers():
            logger.warning(
                "export.semantic=auto: the training data's tokenizer %r is neither saved nor "
                "a built-in name; the export names it as is (set export.semantic)",
                name,
            )
        return name

    def _setup_data(self) -> None:
        cfg, ctx = self.config, self.context
        if self.train_items is None and cfg.data.synthetic > 0:
            model = cfg.model
            self.train_items = SyntheticTokenDataset(
                cfg.data.synthetic,
                model.num_levels,
                model.codebook_size,
                model.cond_vocab_size,
                cfg.data.max_frames,
                seed=cfg.run.seed,
            )
        if self.train_items is None:
            if not cfg.data.train_dir:
                raise SoundStormError("no training data: set data.train_dir=DIR")
            self.train_items = load_token_dataset(cfg.data.train_dir, cfg.data.train_split)
            self.data_dir = cfg.data.train_dir
            check_data_matches_model(self.train_items.meta, cfg.model, cfg.data.train_dir)
        from_dir = cfg.data.train_dir and not cfg.data.synthetic
        if self.val_items is None and cfg.data.val_split is not None and from_dir:
            val_dir = cfg.data.val_dir or cfg.data.train_dir
            try:
                self.val_items = load_token_dataset(val_dir, cfg.data.val_split)
            except SoundStormError as error:
                if cfg.data.val_dir:
                    raise
                if ctx.is_main:
                    logger.warning("no validation: %s", error)
            if self.val_items is not None:
                check_data_matches_model(self.val_items.meta, cfg.model, val_dir)
        model = cfg.model

        def cropped(items, random_crop, masking=None):
            return CroppedTokenDataset(
                items,
                model.num_levels,
                model.codebook_size,
                model.cond_vocab_size,
                cfg.data.max_frames,
                seed=cfg.run.seed,
                random_crop=random_crop,
                check_tokens=cfg.data.check_tokens,
                **(masking or {}),
            )

        # The masking options act on training batches; validation keeps the paper's masks.
        self.train_set = cropped(self.train_items, True, dataclasses.asdict(cfg.masking))
        self.sampler = GlobalBatchSampler(
            utterance_lengths(self.train_items),
            cfg.data.batch_size,
            ctx.world_size,
            ctx.rank,
            seed=cfg.run.seed,
            shuffle=True,
            bucket=cfg.data.bucket,
            bucket_window=cfg.data.bucket_window,
            max_frames=cfg.data.max_frames,
            min_frames=cfg.data.min_frames,
        )
        batches = len(self.sampler.global_batches(0))
        if batches < cfg.optim.grad_accum:
            raise SoundStormError(
                f"an epoch has {batches} global batches, fewer than optim.grad_accum="
                f"{cfg.optim.grad_accum}"
            )
        self.global_batch = self.sampler.global_batch
        self.val_set = self.val_sampler = None
        if self.val_items is not None and len(self.val_items) >= ctx.world_size:
            self.val_set = cropped(self.val_items, False)
            batch_size = max(1, min(cfg.data.batch_size, len(self.val_items) // ctx.world_size))
            # One seeded order of the whole split, the same for every batch size, so that the
            # first log.val_batches batches sample every voice: a split is often sorted by voice,
            # and its first utterances alone would make val/loss depend on the batch size.
            self.val_sampler = GlobalBatchSampler(
                utterance_lengths(self.val_items),
                batch_size,
                ctx.world_size,
                ctx.rank,
                seed=cfg.run.seed,
                shuffle=True,
                bucket=False,
                min_frames=1,
            )
            self.val_sampler.set_epoch(-1)

    def _adapt_data_position(self, info: dict[str, Any]) -> None:
        saved = int(info.get("global_batch", self.global_batch))
        if saved != self.global_batch:
            examples = self.progress.batch_in_epoch * saved
            self.progress.batch_in_epoch = examples // self.global_batch
            if self.context.is_main:
                logger.warning(
                    "global batch changed from %d to %d: the data position of the resumed run "
                    "is approximate",
                    saved,
                    self.global_batch,
                )

    # ------------------------------------------------------------------ training
    def _autocast(self):
        if self.precision != "bf16":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def _batches(self, epoch: int, start: int):
        """This rank's batches of ``epoch`` from global batch ``start``; data errors are
        re-raised as one-line ``SoundStormError``s even from worker processes."""
        self.sampler.set_epoch(epoch, start)
        if self._loader is None:  # one loader; its workers persist across epochs
            self._loader = build_loader(
                self.train_set,
                self.sampler,
                self.config.data.num_workers,
                pin_memory=self.device.type == "cuda",
                persistent=True,
            )
        iterator = iter(self._loader)
        while True:
            try:
                yield next(iterator)
            except StopIteration:
                return
            except SoundStormError as error:
                lines = [line for line in str(error).strip().splitlines() if line.strip()]
                message = lines[-1].split("SoundStormError: ", 1)[-1] if lines else str(error)
                raise SoundStormError(message) from None

    def train_step(self, micro_batches: list[TokenBatch]) -> dict[str, Any]:
        """One optimizer step over ``grad_accum`` micro-batches (this rank's share).

        Returns:
            ``{"loss", "grad_norm", "finite", "correct" [Q], "scored" [Q], "frames", "examples"}``
            summed or averaged over all ranks.
        """
        cfg, ctx = self.config, self.context
        totals = torch.tensor(
            [
                float(sum(int(count_scored_tokens(b.masked, b.level)) for b in micro_batches)),
                float(sum(b.num_frames for b in micro_batches)),
                float(sum(len(b.ids) for b in micro_batches)),
            ],
            device=self.device,
            dtype=torch.float64,
        )
        ctx.all_reduce_sum(totals)
        scored_total, frames, examples = totals.tolist()
        scale = ctx.world_size / max(scored_total, 1.0)
        num_levels = cfg.model.num_levels
        loss_sum = torch.zeros((), device=self.device, dtype=torch.float64)
        counts = torch.zeros(2, num_levels, device=self.device, dtype=torch.float64)
        self.wrapped.train()
        for index, batch in enumerate(micro_batches):
            batch = batch.to(self.device)
            last = index == len(micro_batches) - 1
            sync = (
                contextlib.nullcontext()
                if last
                else no_gradient_sync(self.wrapped, self.strategy, ctx)
            )
            with sync:
                with self._autocast():
                    part_loss, correct, scored = self.wrapped(
                        batch.codes, batch.cond, batch.lengths, batch.masked, batch.level
                    )
                (part_loss * scale).backward()
            loss_sum += part_loss.detach().double()
            counts[0] += correct.double()
            counts[1] += scored.double()
        params = [p for p in self.objective.parameters() if p.grad is not None]
        max_norm = cfg.optim.grad_clip if cfg.optim.grad_clip > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        if hasattr(grad_norm, "full_tensor"):
            grad_norm = grad_norm.full_tensor()
        stats = torch.cat([loss_sum[None], counts.flatten()])
        ctx.all_reduce_sum(stats)
        loss = stats[0].item() / max(scored_total, 1.0)
        grad_norm = float(grad_norm)
        finite = math.isfinite(loss) and math.isfinite(grad_norm)
        if finite:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        with warnings.catch_warnings():  # "scheduler.step() before optimizer.step()": skipped
            warnings.simplefilter("ignore", UserWarning)
            self.scheduler.step()  # the schedule follows the step count, skipped steps included
        counts = stats[1:].view(2, num_levels)
        return {
            "loss": loss,
            "grad_norm": grad_norm,
            "finite": finite,
            "correct": counts[0].cpu(),
            "scored": counts[1].cpu(),
            "frames": frames,
            "examples": examples,
        }

    def stop_step(self) -> int:
        """Global step at which training stops: the schedule's length (``optim.total_steps``
        or its ``run.schedule_by_time`` fit), or ``run.max_steps`` if smaller."""
        if self.config.run.max_steps is None:
            return self.schedule.total_steps
        return min(self.config.run.max_steps, self.schedule.total_steps)

    def train(self) -> ckpt.TrainProgress:
        """Train until ``run.max_steps`` (or the schedule's end, or ``run.max_minutes``);
        write a final checkpoint, export if ``export.dir`` is set; returns the progress.

        ``stop_reason`` then says why it stopped: ``total_steps``, ``max_steps``,
        ``max_minutes``, or ``sigterm``: a SIGTERM (a scheduler's preemption, ``kill``,
        torchrun passing one on) ends the step under way, writes a checkpoint and returns
        without exporting, so ``run.resume`` continues exactly. Every rank stops at the same
        step. The handler is only installed from the main thread.
        """
        with self._stop_on_sigterm():
            return self._train()

    @contextlib.contextmanager
    def _stop_on_sigterm(self):
        """While training: a SIGTERM asks for a clean stop instead of killing the process."""
        self._signalled = False
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def ask_to_stop(signum, frame):
            self._signalled = True

        previous = signal.signal(signal.SIGTERM, ask_to_stop)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, previous)

    def _train(self) -> ckpt.TrainProgress:
        cfg, ctx, progress = self.config, self.context, self.progress
        stop = self.stop_step()
        budget = TrainBudget(cfg.run.max_minutes, self.clock)
        seconds_before = progress.train_seconds
        self.stop_reason = None
        # a resumed run keeps the schedule fitted by the run it continues
        self._fitting = cfg.run.schedule_by_time and not self._schedule_fitted
        accum = cfg.optim.grad_accum
        bar = tqdm(
            total=stop,
            initial=progress.step,
            desc="train",
            dynamic_ncols=True,
            disable=not (ctx.is_main and cfg.log.progress),
        )
        window = steady = MetricsWindow(cfg.model.num_levels)
        warm = False
        last_saved = progress.step if progress.step > 0 else -1
        while progress.step < stop:
            batches = self._batches(progress.epoch, progress.batch_in_epoch)
            micro = [b for _, b in zip(range(accum), batches)]
            if len(micro) < accum:  # end of the epoch (an incomplete step is dropped)
                progress.epoch += 1
                progress.batch_in_epoch = 0
                continue
            while len(micro) == accum and progress.step < stop:
                result = self.train_step(micro)
                progress.step += 1
                progress.batch_in_epoch += accum
                progress.examples_seen += int(result["examples"])
                progress.frames_seen += int(result["frames"])
                progress.train_seconds = seconds_before + budget.elapsed()
                self._handle_nonfinite(result)
                window.add(result)
                steady.add(result)
                bar.update(1)
                if progress.step % cfg.log.every == 0 or progress.step == stop:
                    self._log_window(window, bar)
                    window = MetricsWindow(cfg.model.num_levels)
                    if not warm:  # the first window (compilation, allocator) is not counted
                        steady, warm = MetricsWindow(cfg.model.num_levels), True
                paused = time.perf_counter()  # validation and checkpoints are not throughput
                if cfg.log.val_every and progress.step % cfg.log.val_every == 0:
                    self.validate()
                if progress.step % cfg.run.checkpoint_every == 0:
                    self.save_checkpoint()
                    last_saved = progress.step
                paused = time.perf_counter() - paused
                window.paused += paused
                steady.paused += paused
                if budget.limited or ctx.is_distributed or self._signalled:
                    stop = self._check_stop(budget, stop, bar)
                    if self.stop_reason is not None:
                        if window.steps:  # the last, partial window
                            self._log_window(window, bar)
                        break
                if progress.step < stop:
                    micro = [b for _, b in zip(range(accum), batches)]
            if self.stop_reason is not None:
                break
        bar.close()
        if self.stop_reason is None:
            at_max = cfg.run.max_steps is not None and stop == cfg.run.max_steps
            self.stop_reason = "max_steps" if at_max else "total_steps"
        if ctx.is_main:
            message = self._stop_message(stop, budget.elapsed() / 60)
            logger.info("training stopped at step %d: %s", progress.step, message)
        if warm and steady.steps:
            self._log_throughput(steady)
        progress.train_seconds = seconds_before + budget.elapsed()
        if last_saved != progress.step:
            self.save_checkpoint()
        if cfg.export.dir and self.stop_reason != "sigterm":
            self.export()
        return progress

    def _stop_message(self, stop: int, minutes: float) -> str:
        run = self.config.run
        if self.stop_reason == "max_minutes":
            return (
                f"time budget run.max_minutes={run.max_minutes:g} reached after {minutes:.2f} "
                f"min (schedule: {self.schedule.total_steps} steps)"
            )
        if self.stop_reason == "max_steps":
            return f"reached run.max_steps={run.max_steps}"
        if self.stop_reason == "sigterm":
            return "SIGTERM received; the checkpoint lets run.resume continue exactly"
        fitted = " (fitted to the time budget)" if self._schedule_fitted else ""
        return f"end of the schedule, {stop} steps{fitted}"

    def _check_stop(self, budget: TrainBudget, stop: int, bar: tqdm) -> int:
        """After a step: stop on a SIGTERM (any rank's) or past the budget, or fit the
        schedule to it (rank 0's clock decides; one tiny all-reduce gives every rank the same
        decision). Returns the stop step (changed by a schedule fit)."""
        ctx = self.context
        step = self.progress.step
        over, fitted, signalled = 0.0, 0.0, float(self._signalled)
        if ctx.is_main and budget.limited:
            over = float(budget.spent())
            if self._fitting:
                fitted = float(budget.fit_total_steps(step) or 0)
        if ctx.is_distributed:
            decision = torch.tensor(
                [over, fitted, signalled], device=self.device, dtype=torch.float64
            )
            ctx.all_reduce_sum(decision)  # the clock is rank 0's; a signal is anyone's
            over, fitted, signalled = decision.tolist()
        if fitted > 0:
            before = self.schedule.total_steps
            self.schedule.refit(step, int(fitted))
            self._schedule_fitted = True
            stop = self.stop_step()
            bar.total = stop
            if ctx.is_main:
                logger.info(
                    "run.schedule_by_time: %.2f steps/s measured, the schedule now ends at "
                    "step %d (was %d)",
                    budget.rate,
                    self.schedule.total_steps,
                    before,
                )
                if self.schedule.total_steps <= self.schedule.warmup_steps:
                    logger.warning(
                        "the fitted schedule (%d steps) ends within optim.warmup_steps=%d: "
                        "lower the warm-up or raise run.max_minutes",
                        self.schedule.total_steps,
                        self.schedule.warmup_steps,
                    )
        if signalled > 0 and step < stop:
            self.stop_reason = "sigterm"
        elif over > 0 and step < stop:
            self.stop_reason = "max_minutes"
        return stop

    def export(self) -> Path:
        """Write ``export.dir`` from the newest checkpoint (rank 0; every rank must call)."""
        export = self.config.export
        if self.context.is_main:
            from soundstorm.export import DTYPES, export_model

            source = ckpt.list_checkpoints(self.output_dir)[-1]
            if export.source == "best" and self.best is not None:
                source = self.output_dir / ckpt.BEST_DIR
                logger.info(
                    "exporting the best validation: step %d, val/loss %.4f",
                    self.best["step"],
                    self.best["val_loss"],
                )
            elif export.source == "best":
                logger.warning("export.source=best but no validation ran: the final weights")
            self.export_path = export_model(
                source / "model",
                export.dir,
                self.export_codec,
                semantic=self.export_semantic,
                dtype=DTYPES[export.dtype],
                force=True,
                steps=export.steps,
                data=self.export_data,  # the model card's training data
                corpus_summary=export.corpus_summary,
            )
            size = sum(p.stat().st_size for p in self.export_path.iterdir()) / 1e6
            logger.info("exported %s (%.1f MB) from %s", self.export_path, size, source)
        self.context.barrier()
        return Path(export.dir)

    def _log_throughput(self, steady: MetricsWindow) -> None:
        """Steady-state speed of the run (after the first log window): the benchmark line."""
        values = steady.scalars(
            self.flops_per_frame,
            self.peak_flops,
            self.context.world_size,
            self.config.model.num_levels,
        )
        summary = {
            f"perf/steady_{k.split('/')[1]}": v for k, v in values.items() if k.startswith("perf/")
        }
        self.metrics.scalars(summary, self.progress.step)
        if self.context.is_main:
            mfu = values.get("perf/mfu")
            logger.info(
                "throughput over the last %d steps: %.0f frames/s, %.0f tokens/s, %.3f s/step%s",
                steady.steps,
                values["perf/frames_per_s"],
                values["perf/tokens_per_s"],
                1.0 / values["perf/steps_per_s"],
                f", MFU {mfu:.1%}" if mfu is not None else " (MFU: set log.peak_flops)",
            )

    def _log_window(self, window: MetricsWindow, bar: tqdm) -> None:
        scalars = window.scalars(
            self.flops_per_frame,
            self.peak_flops,
            self.context.world_size,
            self.config.model.num_levels,
        )
        scalars["train/lr"] = self.scheduler.get_last_lr()[0]
        scalars["train/epoch"] = self.progress.epoch
        self.metrics.scalars(scalars, self.progress.step)
        self._write_curve(scalars)
        bar.set_postfix(loss=f"{scalars['train/loss']:.3f}", lr=f"{scalars['train/lr']:.2e}")

    def _handle_nonfinite(self, result: dict[str, Any]) -> None:
        progress, limit = self.progress, self.config.optim.max_nonfinite_steps
        if result["finite"]:
            progress.nonfinite_streak = 0
            return
        progress.nonfinite_streak += 1
        if self.context.is_main:
            logger.warning(
                "step %d: non-finite loss %s / grad norm %s, step skipped (%d in a row)",
                progress.step,
                result["loss"],
                result["grad_norm"],
                progress.nonfinite_streak,
            )
        self.metrics.scalars({"train/skipped_nonfinite": 1.0}, progress.step)
        if progress.nonfinite_streak >= limit:
            raise SoundStormError(
                f"training stopped at step {progress.step}: {progress.nonfinite_streak} "
                f"consecutive steps with a non-finite loss or gradient (optim.max_nonfinite_steps="
                f"{limit}); lower optim.lr, raise optim.warmup_steps or check the data"
            )

    # ------------------------------------------------------------------ validation
    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Masked-token loss/accuracy per level on the validation set, and ``generate`` on a
        few utterances (token accuracy per level; audio if a codec is configured)."""
        if self.val_set is None:
            return {}
        cfg, ctx = self.config, self.context
        num_levels = cfg.model.num_levels
        stats = torch.zeros(1 + 2 * num_levels, device=self.device, dtype=torch.float64)
        self.wrapped.eval()
        for number, keys in enumerate(self.val_sampler):
            if number >= cfg.log.val_batches:
                break
            batch = collate_token_batch([self.val_set[key] for key in keys]).to(self.device)
            with self._autocast():
                loss_sum, correct, scored = self.wrapped(
                    batch.codes, batch.cond, batch.lengths, batch.masked, batch.level
                )
            stats += torch.cat([loss_sum.double()[None], correct.double(), scored.double()])
        ctx.all_reduce_sum(stats)
        correct, scored = stats[1:].view(2, num_levels)
        total = max(scored.sum().item(), 1.0)
        scalars = {
            "val/loss": stats[0].item() / total,
            "val/accuracy": correct.sum().item() / total,
        }
        for level in range(num_levels):
            if scored[level] > 0:
                scalars[f"val/accuracy/level_{level}"] = (correct[level] / scored[level]).item()
        if cfg.log.generate_examples > 0 and (ctx.is_main or self.sharded):
            scalars.update(self._validate_generation())
        self.metrics.scalars(scalars, self.progress.step)
        self._write_curve(scalars)
        self._keep_best(scalars["val/loss"])
        self.wrapped.train()
        return scalars

    def _keep_best(self, val_loss: float) -> None:
        """With ``export.source=best``: keep the weights of the lowest validation loss (the
        loss is all-reduced, so every rank takes the same decision)."""
        if self.config.export.source != "best" or not math.isfinite(val_loss):
            return
        if self.best is not None and val_loss >= self.best["val_loss"]:
            return
        step = self.progress.step
        record = {"progress": dataclasses.asdict(self.progress), **self._trainer_extra()}
        ckpt.save_best_model(
            self.output_dir, self.objective, self.context, self.sharded, step, val_loss, record
        )
        self.best = {"step": step, "val_loss": val_loss}

    def _validate_generation(self) -> dict[str, float]:
        cfg = self.config
        count = min(cfg.log.generate_examples, len(self.val_set))
        batch = collate_token_batch([self.val_set[(-1, i)] for i in range(count)]).to(self.device)
        prompt_frames = max(0, min(cfg.log.prompt_frames, int(batch.lengths.min()) - 1))
        generator = torch.Generator(device=self.device).manual_seed(cfg.run.seed)
        with self._autocast():
            generated = self.model.generate(
                batch.cond,
                prompt=batch.codes[:, :, :prompt_frames],
                lengths=batch.lengths,
                generator=generator,
                options=DecodeOptions(steps=cfg.log.generate_steps),  # the rest: defaults
            )
        accuracy = level_accuracy_from_generation(
            generated, batch.codes, batch.lengths, prompt_frames
        )
        scalars = {"val/generate_accuracy": float(accuracy.mean())}
        scalars.update(
            {f"val/generate_accuracy/level_{q}": float(a) for q, a in enumerate(accuracy)}
        )
        if self.codec is not None and self.context.is_main:
            step = self.progress.step
            for row, utterance in enumerate(batch.ids):
                length = int(batch.lengths[row])
                pairs = [("generated", generated)]
                if utterance not in self._logged_targets:  # the original once per run
                    pairs.append(("target", batch.codes))
                    self._logged_targets.add(utterance)
                for name, codes in pairs:
                    wav = self.codec.decode(codes[row : row + 1, :, :length].cpu())
                    self.metrics.audio(
                        f"audio/{utterance}/{name}", wav[0, 0], self.codec.sample_rate, step
                    )
        return scalars

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self) -> Path:
        """Write a checkpoint of the current step (every rank must call it)."""
        path = ckpt.save_checkpoint(
            self.output_dir,
            self.objective,
            self.optimizer,
            self.scheduler,
            self.progress,
            self._trainer_extra(),
            self.context,
            sharded=self.sharded,
            keep_last=self.config.run.keep_last,
        )
        if self.context.is_main:
            logger.info("saved checkpoint %s", path)
        return path

    def _trainer_extra(self) -> dict[str, Any]:
        """What a checkpoint's ``trainer.json`` records besides progress and optimizer."""
        return {
            "config": self.config.to_dict(),
            "global_batch": self.global_batch,
            "schedule_total_steps": self.schedule.total_steps,
            "schedule_fitted": self._schedule_fitted,
            "schedule_anchor": None if self.schedule.anchor is None else list(self.schedule.anchor),
        }

    def _write_curve(self, scalars: dict[str, float]) -> None:
        """Append the position and ``scalars`` to the learning curve (rank 0)."""
        if self.context.is_main:
            LearningCurve(self.output_dir / CURVE_FILE).append(self.progress, scalars)

    def cleanup(self) -> None:
        """Close the log writers, the data workers and the process group; release the output
        folder."""
        self._loader = None
        if hasattr(self, "metrics"):
            self.metrics.close()
        if hasattr(self, "context"):
            destroy_distributed(self.context)
        if hasattr(self, "_lock"):
            self._lock.close()  # the output folder's lock
