import functools
import math

import pytest
import torch

from soundstorm.masking import (
    remaining_masked,
    sample_training_masks,
    score_masked_tokens,
    scored_positions,
)

Q = 6


def draw(lengths, seed=0, draws=1):
    g = torch.Generator().manual_seed(seed)
    return [sample_training_masks(Q, torch.as_tensor(lengths), g) for _ in range(draws)]


def test_shapes_and_dtypes():
    masked, level, prompt_len = draw([10, 7, 3])[0]
    assert masked.shape == (3, Q, 10) and masked.dtype == torch.bool
    assert level.shape == prompt_len.shape == (3,)
    assert level.dtype == prompt_len.dtype == torch.long


def test_structure_of_every_draw():
    lengths = torch.tensor([40, 25, 1, 13])
    frames = torch.arange(40)
    for masked, level, prompt_len in draw(lengths, draws=300):
        assert ((0 <= level) & (level < Q)).all()
        assert ((0 <= prompt_len) & (prompt_len < lengths)).all()
        for b in range(len(lengths)):
            maskable = (frames >= prompt_len[b]) & (frames < lengths[b])
            q = int(level[b])
            assert not masked[b, :q].any(), "coarser levels must never be masked"
            assert torch.equal(masked[b, q + 1 :], maskable.expand(Q - q - 1, -1)), (
                "finer levels fully masked"
            )
            assert not (masked[b, q] & ~maskable).any(), "prompt and padding never masked"
            assert masked[b, q].any(), "at least one token at the level"


def test_level_and_prompt_are_uniform():
    length = 8
    results = draw([length] * 64, draws=200)  # 12,800 examples
    levels = torch.cat([r[1] for r in results])
    prompts = torch.cat([r[2] for r in results])
    for counts, k in (
        (torch.bincount(levels, minlength=Q), Q),
        (torch.bincount(prompts, minlength=length), length),
    ):
        expected = levels.numel() / k
        assert counts.numel() == k
        # chi-square with k-1 dof; 40 is far beyond the 99.99% quantile for k <= 8
        chi2 = float(((counts - expected) ** 2 / expected).sum())
        assert chi2 < 40, (counts, chi2)


def test_mean_mask_fraction_at_the_level_is_two_over_pi():
    length = 2000  # long, so forcing one masked token barely moves the mean
    fractions = []
    for masked, level, prompt_len in draw([length] * 32, draws=40):
        for b in range(32):
            n = length - int(prompt_len[b])
            if n >= 200:
                fractions.append(masked[b, level[b], prompt_len[b] :].float().mean())
    mean = torch.stack(fractions).mean().item()
    assert abs(mean - 2 / math.pi) < 0.03, mean


def test_padding_is_never_masked_and_deterministic_with_generator():
    lengths = torch.tensor([5, 9])
    a = draw(lengths, seed=3)[0]
    b = draw(lengths, seed=3)[0]
    for x, y in zip(a, b):
        assert torch.equal(x, y)
    assert not a[0][0, :, 5:].any()


@pytest.mark.parametrize("lengths", [[0, 3], [], [[2]]])
def test_bad_lengths_raise(lengths):
    with pytest.raises(ValueError):
        sample_training_masks(Q, torch.tensor(lengths, dtype=torch.long))


def test_explicit_num_frames_too_small_raises():
    with pytest.raises(ValueError, match="lengths must lie"):
        sample_training_masks(Q, torch.tensor([4, 6]), num_frames=5)


def test_cosine_schedule():
    n = torch.tensor([100, 7, 0])
    counts = [remaining_masked(n, i, 16) for i in range(16)]
    for i, c in enumerate(counts[:-1]):
        expected = [math.floor(int(v) * math.cos(math.pi / 2 * (i + 1) / 16)) for v in n]
        assert c.tolist() == expected
    assert counts[-1].tolist() == [0, 0, 0]
    stacked = torch.stack(counts)
    assert (stacked[1:] <= stacked[:-1]).all(), "non-increasing"


def test_score_masked_tokens_scores_only_the_masked_tokens_of_each_level():
    torch.manual_seed(0)
    B, Qs, T, K = 2, 3, 5, 7
    codes = torch.randint(0, K, (B, Qs, T))
    logits = torch.randn(B, T, K, dtype=torch.bfloat16)
    masked = torch.zeros(B, Qs, T, dtype=torch.bool)
    masked[0, 1, [1, 3]] = True
    masked[0, 2] = True  # a finer level: masked, never scored
    masked[1, 0, 4] = True
    level = torch.tensor([1, 0])
    logits[0, 3, codes[0, 1, 3]] = 50.0  # one right argmax
    scores = score_masked_tokens(logits, codes, masked, level)
    log_p = torch.log_softmax(logits.float(), dim=-1)
    expected = -(
        log_p[0, 1, codes[0, 1, 1]] + log_p[0, 3, codes[0, 1, 3]] + log_p[1, 4, codes[1, 0, 4]]
    )
    assert scores.loss_sum.dtype == torch.float32
    assert torch.allclose(scores.loss_sum, expected)
    assert scores.num_scored.tolist() == [2, 1]
    assert scores.num_correct[0] >= 1
    assert scored_positions(masked, level).tolist() == masked[[0, 1], [1, 0]].tolist()


# ---------------------------------------------------------------- known suffix, prompt dropout


def span_of(masked_finest: torch.Tensor) -> tuple[int, int]:
    """``[start, end)`` of the one run of True frames (the finest level is masked on the span)."""
    where = masked_finest.nonzero().flatten().tolist()
    assert where == list(range(where[0], where[-1] + 1)), "the span is one interval"
    return where[0], where[-1] + 1


def test_fractions_zero_are_exactly_the_papers_masks():
    lengths = torch.tensor([40, 25, 1, 13])
    paper, options = torch.Generator().manual_seed(11), torch.Generator().manual_seed(11)
    for _ in range(20):
        a = sample_training_masks(Q, lengths, paper)
        b = sample_training_masks(Q, lengths, options, known_suffix_fraction=0, prompt_dropout=0.0)
        assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert torch.equal(paper.get_state(), options.get_state()), "no extra draw at fraction 0"


def test_known_suffix_leaves_a_span_between_two_known_sides():
    lengths = torch.tensor([40, 25, 2, 1, 13])
    g = torch.Generator().manual_seed(12)
    with_suffix = examples = 0
    for _ in range(300):
        masked, level, prompt_len = sample_training_masks(Q, lengths, g, known_suffix_fraction=0.5)
        for b, length in enumerate(lengths.tolist()):
            q, p = int(level[b]), int(prompt_len[b])
            assert not masked[b, :q].any(), "coarser levels never masked"
            assert masked[b, q].any(), "at least one token at the level"
            if q == Q - 1:
                continue  # no finer level shows the span
            start, end = span_of(masked[b, Q - 1])
            assert start == p and p < end <= length
            assert not masked[b, :, end:].any(), "the suffix and padding are never masked"
            assert not (masked[b, q] & (torch.arange(40) < p)).any(), "nor the prompt"
            assert torch.equal(
                masked[b, q + 1 :, start:end], torch.ones(Q - q - 1, end - start, dtype=torch.bool)
            )
            if length - p >= 2:
                examples += 1
                with_suffix += end < length
            else:
                assert end == length, "no room for a suffix"
    assert abs(with_suffix / examples - 0.5) < 0.06, with_suffix / examples


def test_prompt_dropout_masks_the_known_frames_at_every_level():
    """The dropout draw comes last: the same seed without dropout gives the same span, and a
    dropped example differs from it exactly on its known frames (prompt and suffix)."""
    lengths = torch.tensor([30, 17, 9])
    with_prompt = dropped = 0
    for seed in range(300):
        draw = functools.partial(sample_training_masks, Q, lengths, known_suffix_fraction=0.3)
        before, level, prompt_len = draw(torch.Generator().manual_seed(seed))
        masked, level_d, prompt_len_d = draw(
            torch.Generator().manual_seed(seed), prompt_dropout=0.25
        )
        assert torch.equal(level, level_d) and torch.equal(prompt_len, prompt_len_d)
        scored = scored_positions(masked, level)
        for b, length in enumerate(lengths.tolist()):
            q, p = int(level[b]), int(prompt_len[b])
            context = masked[b].any(0) & ~before[b].any(0)  # frames masked only by dropout
            assert torch.equal(masked[b, :, ~context], before[b, :, ~context])
            with_prompt += p > 0
            if not context.any():
                continue
            dropped += p > 0
            assert masked[b, :, context].all(), "a dropped prompt is masked at every level"
            assert context[:p].all(), "the whole prompt"
            after = context[p:length].nonzero().flatten().tolist()
            if after:
                assert after == list(range(after[0], length - p)), "and the suffix"
            assert not context[length:].any(), "padding never masked"
            assert (scored[b, context] == (q == 0)).all(), "scored at level 0 only"
            assert torch.equal(scored[b, ~context], before[b, q, ~context])
    assert abs(dropped / with_prompt - 0.25) < 0.05, dropped / with_prompt


def test_masks_with_options_are_a_function_of_the_generator():
    lengths = torch.tensor([12, 30])
    draws = [
        sample_training_masks(
            Q,
            lengths,
            torch.Generator().manual_seed(14),
            known_suffix_fraction=0.5,
            prompt_dropout=0.5,
        )
        for _ in range(2)
    ]
    assert all(torch.equal(x, y) for x, y in zip(*draws))


@pytest.mark.parametrize("name", ["known_suffix_fraction", "prompt_dropout"])
@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan")])
def test_fractions_outside_zero_one_raise(name, value):
    with pytest.raises(ValueError, match=f"{name} must be a finite number"):
        sample_training_masks(Q, torch.tensor([5]), **{name: value})


def test_scored_positions_of_the_papers_masks_are_the_masked_tokens_of_the_level():
    g = torch.Generator().manual_seed(15)
    for _ in range(50):
        masked, level, _ = sample_training_masks(Q, torch.tensor([20, 7]), g)
        assert torch.equal(scored_positions(masked, level), masked[[0, 1], level])


def test_level_weights_set_how_often_each_level_is_trained():
    weights = [4.0, 2.0, 1.0, 1.0][:Q] + [1.0] * max(0, Q - 4)
    generator = torch.Generator().manual_seed(3)
    levels = torch.cat(
        [
            sample_training_masks(Q, torch.full((64,), 8), generator, level_weights=weights)[1]
            for _ in range(200)
        ]
    )  # 12,800 examples
    counts = torch.bincount(levels, minlength=Q).double()
    expected = levels.numel() * torch.tensor(weights, dtype=torch.float64) / sum(weights)
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 40, (counts, expected)
    # a zero weight is never drawn; the masks keep their structure at the drawn level
    never_first = [0.0] + [1.0] * (Q - 1)
    for masked, level, _ in (
        sample_training_masks(Q, torch.tensor([40, 25, 13]), generator, level_weights=never_first)
        for _ in range(50)
    ):
        assert (level > 0).all()
        for b, q in enumerate(level.tolist()):
            assert not masked[b, :q].any() and masked[b, q].any()


def test_no_level_weights_are_exactly_the_papers_draws():
    lengths = torch.tensor([40, 25, 1, 13])
    paper, options = torch.Generator().manual_seed(12), torch.Generator().manual_seed(12)
    for _ in range(20):
        a = sample_training_masks(Q, lengths, paper)
        b = sample_training_masks(Q, lengths, options, level_weights=None)
        assert all(torch.equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("weights", [[1.0], [0.0] * Q, [-1.0] + [1.0] * (Q - 1), [math.nan] * Q])
def test_bad_level_weights_raise(weights):
    with pytest.raises(ValueError, match="level_weights"):
        sample_training_masks(Q, torch.tensor([10]), level_weights=weights)
