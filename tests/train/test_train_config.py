"""Config files and key=value overrides: typed by the dataclass fields, unknown keys rejected."""

from __future__ import annotations

from pathlib import Path

import pytest

from soundstorm import SoundStormConfig
from soundstorm.errors import SoundStormError
from soundstorm.train.config import (
    TrainConfig,
    config_from_dict,
    load_train_config,
    parse_overrides,
    save_train_config,
)

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_overrides_are_typed_by_the_fields():
    config = load_train_config(
        None,
        [
            "optim.lr=1e-3",  # YAML 1.1 reads this as a string: converted to float
            "optim.betas=[0.8, 0.95]",
            "data.batch_size=3",
            "data.bucket=false",
            "run.max_steps=7",
            "log.generate_steps=[4, 1, 1, 1]",
            "data.val_split=null",
            "model.dim=96",
        ],
    )
    assert config.optim.lr == pytest.approx(1e-3) and isinstance(config.optim.lr, float)
    assert config.optim.betas == (0.8, 0.95)
    assert config.data.batch_size == 3 and config.data.bucket is False
    assert config.run.max_steps == 7 and config.stop_step == 7
    assert config.log.generate_steps == [4, 1, 1, 1]
    assert config.data.val_split is None
    assert config.model.dim == 96


def test_model_preset_then_field_overrides():
    config = load_train_config(None, ["model.preset=small", "model.depth=2"])
    expected = SoundStormConfig.small(depth=2)
    assert config.model == expected


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.learning_rate=1", "unknown config key 'optim.learning_rate'"),
        ("optimizer.lr=1", "unknown config key 'optimizer'"),
        ("model.width=3", "unknown config key 'model.width'"),
        ("data.batch_size=two", "data.batch_size: expected an integer"),
        ("data.bucket=maybe", "data.bucket: expected true or false"),
        ("optim.betas=[0.9]", "optim.betas: expected 2 values"),
        ("optim.lr", "must look like section.field=value"),
        ("data.batch_size=0", "data.batch_size must be >= 1"),
        ("run.strategy=zero3", "run.strategy must be"),
        ("model.preset=huge", "model.preset: unknown SoundStorm preset"),
        ("model.heads=5", "model: dim"),
    ],
)
def test_bad_overrides_give_clear_errors(override, message):
    with pytest.raises(SoundStormError, match=message.replace("[", r"\[")):
        load_train_config(None, [override])


def test_unknown_key_error_lists_known_keys():
    with pytest.raises(SoundStormError) as error:
        load_train_config(None, ["run.seeed=3"])
    assert "run.seed" in str(error.value)


def test_parse_overrides_nests_dotted_keys():
    assert parse_overrides(["a.b=1", "a.c=x", "d=[1, 2]"]) == {"a": {"b": 1, "c": "x"}, "d": [1, 2]}


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_train_config(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(SoundStormError, match="mapping"):
        load_train_config(bad)


def test_save_and_reload_round_trip(tmp_path):
    config = load_train_config(None, ["optim.lr=2e-4", "model.preset=tiny", "data.max_frames=99"])
    save_train_config(config, tmp_path / "c.yaml")
    assert load_train_config(tmp_path / "c.yaml") == config
    assert config_from_dict(config.to_dict()) == config
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("name", ["tiny", "small", "paper"])
def test_shipped_configs_load_and_name_their_command(name):
    path = CONFIGS / f"{name}.yaml"
    config = load_train_config(path)
    assert isinstance(config, TrainConfig)
    first = path.read_text().splitlines()[0]
    assert first.startswith("#") and "soundstorm train" in first and f"configs/{name}.yaml" in first
    if name == "paper":
        assert config.model == SoundStormConfig.paper()
        assert config.data.max_frames == 1500  # 30 s windows at 50 Hz


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_config_file_loads(path):
    """Every recipe in configs/ loads as it is (a typo in one fails here, not in a long run)."""
    config = load_train_config(path)
    assert config.model.num_levels >= 1 and config.optim.total_steps >= 1
    if path.name == "voice_mini.yaml":  # the size measured in issue 15 (4.49M parameters)
        from soundstorm.model import SoundStorm

        model = SoundStorm(config.model)
        assert config.model.cond_vocab_size == 41  # phones-words
        assert 4.4e6 < model.num_parameters() < 4.6e6


def test_masking_options_default_to_the_paper_and_are_set_by_files_or_overrides(tmp_path):
    assert (TrainConfig().masking.known_suffix_fraction, TrainConfig().masking.prompt_dropout) == (
        0.0,
        0.0,
    )
    path = tmp_path / "c.yaml"
    path.write_text("masking:\n  known_suffix_fraction: 0.2\n")
    config = load_train_config(path, ["masking.prompt_dropout=0.15"])
    assert config.masking.known_suffix_fraction == 0.2 and config.masking.prompt_dropout == 0.15
    assert config_from_dict(config.to_dict()) == config
    with pytest.raises(SoundStormError, match=r"masking.prompt_dropout must be in \[0, 1\]"):
        load_train_config(None, ["masking.prompt_dropout=1.5"])
    with pytest.raises(SoundStormError, match="unknown config key 'masking.suffix'"):
        load_train_config(None, ["masking.suffix=0.1"])


def test_level_weights_need_one_number_per_level():
    config = load_train_config(None, ["model.preset=tiny", "masking.level_weights=[2, 1, 1, 1]"])
    assert config.masking.level_weights == [2.0, 1.0, 1.0, 1.0]
    for bad in ("[2, 1]", "[0, 0, 0, 0]", "[-1, 1, 1, 1]"):
        with pytest.raises(SoundStormError, match="masking.level_weights"):
            load_train_config(None, ["model.preset=tiny", f"masking.level_weights={bad}"])


def test_gpu_recipe_config_warm_starts_the_shipped_model_as_it_is():
    """configs/gpu.yaml continues the shipped weights on a lent GPU: its init.weights is the
    package's model directory, and its model config is that directory's (the warm start of
    the unchanged recipe cannot fail on a size mismatch there)."""
    import json

    from soundstorm.config import SoundStormConfig

    config = load_train_config(CONFIGS / "gpu.yaml")
    root = CONFIGS.parent
    shipped = root / config.init.weights
    assert shipped == root / "src" / "soundstorm" / "assets" / "default"
    recorded = json.loads((shipped / "config.json").read_text())
    assert config.model == SoundStormConfig(**recorded)
    assert config.export.source == "best" and config.run.schedule_by_time
