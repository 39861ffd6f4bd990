"""Tests of the embedded default tokenizer (PocketSphinx phone ids) and of the registry."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf
import torch

from soundstorm.errors import SoundStormError
from soundstorm.semantic import SemanticTokenizer, align, get_semantic_tokenizer
from soundstorm.semantic.phones import PHONES, SILENCE_ID, PhoneTokenizer, phone_id

needs_flite = pytest.mark.skipif(
    shutil.which("flite") is None, reason="flite not installed (scripts/install-system-deps)"
)


@pytest.fixture(scope="module")
def tokenizer() -> PhoneTokenizer:
    """The fast allphone decoding (most tests); ``default`` is the word decoding."""
    return PhoneTokenizer(decoding="allphone")


def _flite(text: str, voice: str, tmp_path) -> tuple[torch.Tensor, int, list[tuple[str, float]]]:
    """Synthesise ``text``; return ``[1, 1, S]`` audio, its rate and (phone, end time)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / f"{voice}.wav"
    printed = subprocess.run(
        ["flite", "-voice", voice, "-psdur", "-t", text, "-o", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    audio, sample_rate = sf.read(path, dtype="float32")
    phones = [(item.rsplit(":", 1)[0], float(item.rsplit(":", 1)[1])) for item in printed.split()]
    return torch.from_numpy(audio)[None, None], sample_rate, phones


def _reference_ids(phones: list[tuple[str, float]], num_frames: int, rate: float) -> np.ndarray:
    """The synthesiser's phone id at the centre of every frame."""
    ends = np.array([end for _, end in phones])
    centres = (np.arange(num_frames) + 0.5) / rate
    index = np.clip(np.searchsorted(ends, centres, side="right"), 0, len(phones) - 1)
    return np.array([phone_id(phones[i][0]) for i in index])


def _phone_sequence(tokens: torch.Tensor) -> list[int]:
    """Run-length-collapsed ids without silence: ``[T]`` -> the spoken phone sequence."""
    return [t for t in torch.unique_consecutive(tokens).tolist() if t != SILENCE_ID]


def _similarity(a: list[int], b: list[int]) -> float:
    """1 - Levenshtein distance / longer length."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return 1 - row[-1] / max(len(a), len(b))


def test_phone_table() -> None:
    assert len(PHONES) == len(set(PHONES)) == 41
    assert PHONES[SILENCE_ID] == "SIL"
    assert phone_id("ah0") == phone_id("AX") == PHONES.index("AH")
    assert phone_id("pau") == SILENCE_ID
    with pytest.raises(SoundStormError, match="unknown phone"):
        phone_id("QQ")


def test_is_a_semantic_tokenizer(tokenizer) -> None:
    assert isinstance(tokenizer, SemanticTokenizer)
    assert tokenizer.frame_rate == 50 and tokenizer.vocab_size == 41
    config = tokenizer.config_dict()
    assert config["name"] == "phones" and config["frame_rate"] == 50
    assert config["decoding"] == "allphone"
    words = get_semantic_tokenizer("phones-words")
    assert words.config_dict()["decoding"] == "words" and words.name == "phones-words"
    with pytest.raises(SoundStormError, match="decoding"):
        PhoneTokenizer(decoding="triphones")


def test_silence_and_digital_zeros_are_silence(tokenizer) -> None:
    zeros = torch.zeros(2, 1, 24000)
    quiet = 1e-4 * torch.randn(1, 1, 16000, generator=torch.Generator().manual_seed(0))
    assert bool((tokenizer.tokenize(zeros, 24000) == SILENCE_ID).all())
    assert bool((tokenizer.tokenize(quiet, 16000) == SILENCE_ID).all())


@pytest.mark.parametrize(
    ("frame_rate", "num_samples", "sample_rate"),
    [
        (50, 24000, 24000),
        (25, 24000, 24000),
        (50, 16001, 16000),
        (50, 320, 16000),  # exactly one frame
        (25, 1764, 44100),  # exactly one 40 ms frame
        (25, 44100, 44100),
    ],
)
def test_output_length_follows_duration(frame_rate, num_samples, sample_rate) -> None:
    tokens = PhoneTokenizer(frame_rate=frame_rate).tokenize(
        torch.zeros(1, 2, num_samples), sample_rate
    )
    assert tokens.shape == (1, max(1, round(num_samples / sample_rate * frame_rate)))
    assert tokens.dtype == torch.long


def test_bad_input_is_a_user_error(tokenizer) -> None:
    with pytest.raises(SoundStormError, match=r"\[B, C, S\]"):
        tokenizer.tokenize(torch.zeros(16000), 16000)
    with pytest.raises(SoundStormError, match="sample_rate"):
        tokenizer.tokenize(torch.zeros(1, 1, 16000), 0)
    with pytest.raises(SoundStormError, match="frame_rate"):
        PhoneTokenizer(frame_rate=0)


def test_registry_names_and_errors(tmp_path) -> None:
    words = get_semantic_tokenizer("phones-words")
    assert isinstance(words, PhoneTokenizer) and words.decoding == "words"
    assert words.recogniser == "pocketsphinx" and "recogniser" not in words.config_dict()
    moonshine = get_semantic_tokenizer("phones-moonshine")
    assert moonshine.name == "phones-moonshine" and moonshine.decoding == "words"
    assert moonshine.config_dict()["recogniser"] == "moonshine"
    with pytest.raises(SoundStormError, match="recogniser must be one of"):
        PhoneTokenizer(decoding="words", recogniser="whisper")
    with pytest.raises(SoundStormError, match="needs decoding='words'"):
        PhoneTokenizer(recogniser="moonshine")
    assert get_semantic_tokenizer("phones").decoding == "allphone"
    assert get_semantic_tokenizer("phones", frame_rate=25).frame_rate == 25
    with pytest.raises(SoundStormError, match="phones-words"):
        get_semantic_tokenizer("no-such-tokenizer")
    with pytest.raises(SoundStormError, match="bad option"):
        get_semantic_tokenizer("phones-words", nonsense=1)
    # the default is fitted by soundstorm prepare: the name says where it is saved
    with pytest.raises(SoundStormError, match="OUT_DIR/semantic_tokenizer") as error:
        get_semantic_tokenizer("default")
    assert "\n" not in str(error.value)
    with pytest.raises(SoundStormError, match="no saved semantic tokenizer"):
        get_semantic_tokenizer(tmp_path)


@needs_flite
def test_speech_gives_the_spoken_phones(tokenizer, tmp_path) -> None:
    wav, sample_rate, phones = _flite("Rice is often served in round bowls.", "slt", tmp_path)
    tokens = tokenizer.tokenize(wav, sample_rate)[0].numpy()
    reference = _reference_ids(phones, len(tokens), tokenizer.frame_rate)
    speech = reference != SILENCE_ID
    assert np.mean(tokens == reference) > 0.4  # chance is ~0.05
    assert np.mean(tokens[speech] != SILENCE_ID) > 0.9
    assert len(set(tokens[speech].tolist())) >= 10


@needs_flite
def test_two_voices_agree_more_than_two_sentences(tokenizer, tmp_path) -> None:
    """Speaker independence: same words / other voice beat other words / same voice."""
    text, other_text = (
        "The juice of lemons makes fine punch.",
        "Help the woman get back to her feet.",
    )
    by_voice = {}
    for voice in ("slt", "rms"):
        wav, sample_rate, phones = _flite(text, voice, tmp_path)
        tokens = tokenizer.tokenize(wav, sample_rate)[0]
        by_voice[voice] = (tokens, phones)
    wav, sample_rate, _ = _flite(other_text, "slt", tmp_path)
    other = tokenizer.tokenize(wav, sample_rate)[0]

    slt, rms = (_phone_sequence(by_voice[v][0]) for v in ("slt", "rms"))
    assert _similarity(slt, rms) > _similarity(slt, _phone_sequence(other)) + 0.2
    # Frame level: both voices match the synthesiser's phones well above chance.
    for tokens, phones in by_voice.values():
        reference = _reference_ids(phones, len(tokens), tokenizer.frame_rate)
        assert np.mean(tokens.numpy() == reference) > 0.4


@needs_flite
def test_rate_25_is_the_50_hz_sequence_subsampled(tmp_path) -> None:
    wav, sample_rate, _ = _flite("A pot of tea helps to pass the evening.", "kal16", tmp_path)
    at_50 = PhoneTokenizer(frame_rate=50).tokenize(wav, sample_rate)
    at_25 = PhoneTokenizer(frame_rate=25).tokenize(wav, sample_rate)
    assert at_25.shape[-1] == round(at_50.shape[-1] / 2)
    assert (align(at_50, 50, 25, at_25.shape[-1]) == at_25).float().mean() > 0.9


def test_pickles_for_worker_processes(tokenizer) -> None:
    import pickle

    wav = 0.01 * torch.randn(1, 1, 8000, generator=torch.Generator().manual_seed(1))
    expected = tokenizer.tokenize(wav, 16000)  # the decoder now exists
    clone = pickle.loads(pickle.dumps(tokenizer))
    assert clone.config_dict() == tokenizer.config_dict()
    assert torch.equal(clone.tokenize(wav, 16000), expected)


@needs_flite
def test_tokens_do_not_depend_on_previous_clips(tmp_path) -> None:
    first, rate, _ = _flite("Four hours of steady work faced us.", "awb", tmp_path / "a")
    other, other_rate, _ = _flite("Kick the ball straight and follow through.", "slt", tmp_path)
    for name in ("phones", "phones-words"):
        tokenizer = get_semantic_tokenizer(name)
        before = tokenizer.tokenize(first, rate)
        tokenizer.tokenize(other, other_rate)
        tokenizer.tokenize(0.3 * torch.randn(1, 1, 8000), 16000)
        assert torch.equal(tokenizer.tokenize(first, rate), before), name


@needs_flite
def test_word_decoding_gives_the_same_phones_for_two_voices(tmp_path) -> None:
    tokenizer = get_semantic_tokenizer("phones-words")
    text = "The juice of lemons makes fine punch."
    sequences = []
    for voice in ("kal16", "slt"):
        wav, sample_rate, phones = _flite(text, voice, tmp_path / voice)
        tokens = tokenizer.tokenize(wav, sample_rate)[0]
        reference = _reference_ids(phones, len(tokens), tokenizer.frame_rate)
        assert np.mean(tokens.numpy() == reference) > 0.5
        sequences.append(_phone_sequence(tokens))
    wav, sample_rate, _ = _flite("Help the woman get back to her feet.", "slt", tmp_path)
    other = _phone_sequence(tokenizer.tokenize(wav, sample_rate)[0])
    assert _similarity(*sequences) > _similarity(sequences[1], other) + 0.3


@pytest.mark.parametrize(("num_samples", "sample_rate"), [(0, 16000), (30, 16000), (479, 24000)])
def test_audio_under_one_frame_is_a_one_line_error(tokenizer, num_samples, sample_rate) -> None:
    from soundstorm.errors import AudioTooShortError

    with pytest.raises(AudioTooShortError) as caught:
        tokenizer.tokenize(torch.zeros(1, 1, num_samples), sample_rate)
    milliseconds = 1000 * num_samples / sample_rate
    assert str(caught.value) == (
        f"audio is {milliseconds:.1f} ms long, shorter than one semantic frame (20.0 ms)"
    )
    with pytest.raises(AudioTooShortError, match=r"semantic frame \(40\.0 ms\)"):
        PhoneTokenizer(frame_rate=25).tokenize(torch.zeros(1, 1, 639), 16000)


def _dictionary_ids(tokenizer: PhoneTokenizer, text: str) -> list[int]:
    """The phone ids of ``text``'s words, as the tokenizer pronounces them."""
    from soundstorm.evaluate.asr import normalize_text

    return [
        phone_id(phone)
        for word in normalize_text(text).split()
        for phone in tokenizer._pronunciation(word).split()
    ]


@needs_flite
def test_a_transcript_places_its_own_words_phones(tmp_path) -> None:
    tokenizer = get_semantic_tokenizer("phones-words")
    assert tokenizer.accepts_transcripts
    text = "The juice of lemons makes fine punch."
    wav, sample_rate, phones = _flite(text, "kal16", tmp_path)
    aligned = tokenizer.tokenize(wav, sample_rate, [text])[0]
    assert tokenizer.transcript_fallbacks == 0
    assert aligned.shape == tokenizer.tokenize(wav, sample_rate)[0].shape
    reference = _reference_ids(phones, len(aligned), tokenizer.frame_rate)
    assert np.mean(aligned.numpy() == reference) > 0.6
    assert _similarity(_phone_sequence(aligned), _dictionary_ids(tokenizer, text)) > 0.9
    # a transcript of other words does not align: the clip is recognised, and counted
    wrong = "Help the woman get back to her feet."
    forced = tokenizer.tokenize(wav, sample_rate, [wrong])[0]
    assert tokenizer.transcript_fallbacks == 1
    assert torch.equal(forced, tokenizer.tokenize(wav, sample_rate)[0])


@needs_flite
def test_words_outside_the_dictionary_are_spelled_by_letter_to_sound(tmp_path) -> None:
    tokenizer = PhoneTokenizer(decoding="allphone")
    text = "Lack an inerrant literary sense."
    assert tokenizer._decoder("align").lookup_word("inerrant") is None
    assert tokenizer._pronunciation("inerrant") == "IH N R AH N T"
    wav, sample_rate, _ = _flite(text, "slt", tmp_path)
    aligned = _phone_sequence(tokenizer.tokenize(wav, sample_rate, [text])[0])
    assert tokenizer.transcript_fallbacks == 0
    assert _similarity(aligned, _dictionary_ids(tokenizer, text)) > 0.9


@needs_flite
def test_a_transcript_without_words_falls_back_to_recognition(tmp_path) -> None:
    tokenizer = PhoneTokenizer(decoding="allphone")
    wav, sample_rate, _ = _flite("Rice is often served in round bowls.", "slt", tmp_path)
    recognised = tokenizer.tokenize(wav, sample_rate)
    both = torch.cat([wav, wav])
    mixed = tokenizer.tokenize(both, sample_rate, [" -- !", None])
    assert tokenizer.transcript_fallbacks == 1  # the clip without a transcript is no fallback
    assert torch.equal(mixed[0], recognised[0]) and torch.equal(mixed[1], recognised[0])


def test_transcripts_are_refused_where_they_cannot_be_used(tokenizer) -> None:
    class Plain(SemanticTokenizer):
        frame_rate = 50.0
        vocab_size = 2

        def _tokenize(self, wav, sample_rate):
            return torch.zeros(wav.shape[0], 1, dtype=torch.long)

    wav = torch.zeros(2, 1, 1600)
    with pytest.raises(SoundStormError, match="cannot use transcripts"):
        Plain().tokenize(wav, 16000, ["a", "b"])
    for transcripts in (["only one"], "a b"):
        with pytest.raises(SoundStormError, match="one per clip"):
            tokenizer.tokenize(wav, 16000, transcripts)


def test_word_timed_phones_share_each_words_span() -> None:
    from soundstorm.semantic.phones import word_timed_phones

    lexicon = {"the(2)": "DH IY", "cold": "K OW L D"}
    placed = [
        ("<s>", 0, 0),
        ("<sil>", 0, 10),
        ("the(2)", 10, 14),
        ("cold", 14, 26),
        ("</s>", 26, 30),
    ]
    segments = word_timed_phones(placed, lexicon.get)
    assert segments == [
        ("DH", 10, 12), ("IY", 12, 14),
        ("K", 14, 17), ("OW", 17, 20), ("L", 20, 23), ("D", 23, 26),
    ]  # fmt: skip


@needs_flite
def test_moonshine_words_give_the_transcripts_phones(tmp_path) -> None:
    """phones-moonshine aligns Moonshine's words: on clean speech they are the transcript's,
    so its tokens are the transcript-aligned ones, closer than PocketSphinx's words get."""
    moonshine = get_semantic_tokenizer("phones-moonshine")
    pocketsphinx = get_semantic_tokenizer("phones-words")
    text = "The juice of lemons makes fine punch."
    agreement = {}
    for voice in ("slt", "rms"):
        wav, sample_rate, phones = _flite(text, voice, tmp_path)
        aligned = pocketsphinx.tokenize(wav, sample_rate, [text])[0]
        heard = moonshine.tokenize(wav, sample_rate)[0]
        recognised = pocketsphinx.tokenize(wav, sample_rate)[0]
        agreement[voice] = (
            (heard == aligned).float().mean().item(),
            (recognised == aligned).float().mean().item(),
        )
        reference = _reference_ids(phones, len(heard), moonshine.frame_rate)
        assert np.mean(heard.numpy() == reference) > 0.6
        # a transcript takes precedence over the recogniser
        assert torch.equal(moonshine.tokenize(wav, sample_rate, [text])[0], aligned)
    assert moonshine.recognition_fallbacks == 0 and moonshine.transcript_fallbacks == 0
    assert all(heard >= 0.95 for heard, _ in agreement.values()), agreement
    assert agreement["slt"][0] > agreement["slt"][1] + 0.1, agreement  # PocketSphinx: 0.80


def test_moonshine_hearing_no_words_is_silence_and_no_fallback() -> None:
    moonshine = PhoneTokenizer(decoding="words", recogniser="moonshine")
    tokens = moonshine.tokenize(torch.zeros(1, 1, 16000), 16000)[0]
    assert torch.all(tokens == SILENCE_ID) and tokens.shape == (50,)
    assert moonshine.recognition_fallbacks == 0
    import pickle

    assert pickle.loads(pickle.dumps(moonshine)).recogniser == "moonshine"
