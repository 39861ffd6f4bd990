"""A tiny model must learn a toy task and then generate it."""

import torch

from soundstorm import SoundStorm, SoundStormConfig


def toy_batch(config: SoundStormConfig, batch: int, frames: int, g: torch.Generator):
    """Codes are a fixed function of the conditioning, partly of the neighbouring frame.

    Level q at frame t is ``perm_q[cond[t - (q % 2)]]`` for fixed permutations ``perm_q``: odd
    levels copy from the previous frame, so the model must use its context (attention or
    convolution), not only the frame itself.
    """
    perms = torch.stack(
        [
            torch.randperm(config.codebook_size, generator=torch.Generator().manual_seed(q))
            for q in range(config.num_levels)
        ]
    )  # (Q, K)
    cond = torch.randint(0, config.cond_vocab_size, (batch, frames), generator=g)
    prev = torch.roll(cond, 1, dims=1)
    prev[:, 0] = 0
    source = torch.stack(
        [prev if q % 2 else cond for q in range(config.num_levels)], dim=1
    )  # (B, Q, T)
    codes = torch.gather(perms[None].expand(batch, -1, -1), 2, source)
    return codes, cond


def test_tiny_model_learns_toy_task_and_generates_it():
    torch.manual_seed(0)
    config = SoundStormConfig.tiny(num_levels=3, codebook_size=32, cond_vocab_size=32)
    model = SoundStorm(config)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(200):
        codes, cond = toy_batch(config, 16, 24, g)
        lengths = torch.randint(8, 25, (16,), generator=g)
        loss = model.loss(codes, cond, lengths, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-20:]) / 20 < 0.25 * sum(losses[:20]) / 20

    model.eval()
    codes, cond = toy_batch(
        config, 8, 40, torch.Generator().manual_seed(123)
    )  # longer than trained
    lengths = torch.tensor([40, 33, 40, 20, 40, 37, 40, 28])
    prompt = codes[..., :5]
    out = model.generate(
        cond,
        prompt=prompt,
        lengths=lengths,
        steps=(8, 1, 1),
        generator=torch.Generator().manual_seed(0),
    )
    valid = torch.arange(40)[None, None, :] < lengths[:, None, None]
    accuracy = ((out == codes) & valid).sum() / valid.expand_as(out).sum()
    print(f"toy task generation accuracy: {accuracy:.4f}")
    assert accuracy >= 0.95
