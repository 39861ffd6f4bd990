"""PocketSphinx phone tokenizers: frame-level English phone ids (named options; the shipped
model's tokenizer).

SoundStorm's conditioning tokens must carry the content of speech (what is said) and as
little as possible of the voice (who says it), so that a prompt can set the voice. The paper
uses k-means ids of w2v-BERT; the default of ``soundstorm prepare`` is k-means of Moonshine
encoder features (``soundstorm.data.semantic_fitting``). These need no fitting: CMU PocketSphinx's
speaker-independent English recogniser (acoustic model trained on many real speakers,
shipped inside the ``pocketsphinx`` wheel) gives every frame the id of the phone spoken.

- ``get_semantic_tokenizer("phones-words")``: word recognition (3-gram LM,
  CMUdict), then forced alignment of the recognised words' dictionary phones. Two voices
  saying the same words get the same phones: the most speaker-independent option measured
  (``docs/bench/semantic.md``), about 5x faster than real time on one core.
- ``"phones-moonshine"``: the same phones, but the words come from Moonshine tiny-en
  (bundled in ``moonshine-voice``), which gets a quarter fewer words wrong than PocketSphinx
  (26.9% against 35.4% WER on 120 corpus recordings); its words are force-aligned as a
  transcript's are, and 88% of the frames get the transcript's phone, against 81%
  (``docs/bench/content_phones.md``). Where they do not align, the clip is decoded as
  ``phones-words`` (``recognition_fallbacks``). The shipped model, trained on
  ``phones-words``, did not become more intelligible with it (``docs/default_model.md``).
- ``"phones"``: "allphone" phone recognition (phone bigram model, no words): less
  speaker-independent, but about 25x faster than real time and free of word-model guesses.

Tokens: 41 ids, ``PHONES[i]`` (silence, speech-like noise, the 39 ARPAbet phones of
CMUdict); PocketSphinx's 100 Hz decisions are resampled to ``frame_rate`` (50 Hz by default)
with :func:`soundstorm.semantic.align`. CPU only.

Example::

    tokenizer = PhoneTokenizer(decoding="words")  # 50 Hz, the registry's "phones-words"
    tokens = tokenizer.tokenize(wav, 24000)      # wav [B, C, S] -> tokens [B, T_sem]
    print(tokenizer.phone_names(tokens[0]))      # ['SIL', 'SIL', 'DH', 'DH', 'AH', ...]
"""

from __future__ import annotations

import math

import numpy as np
import torch

from soundstorm.dependencies import missing_dependency_error
from soundstorm.errors import SoundStormError
from soundstorm.semantic.align import align
from soundstorm.semantic.base import SemanticTokenizer, mono_resampled

#: Token id -> phone name. ``SIL`` also covers PocketSphinx's non-speech noise ``+NSN+``.
PHONES: tuple[str, ...] = (
    "SIL", "SPN",
    "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G",
    "HH", "IH", "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH",
    "T", "TH", "UH", "UW", "V", "W", "Y", "Z", "ZH",
)  # fmt: skip
SILENCE_ID = 0
_PHONE_TO_ID = {name: i for i, name in enumerate(PHONES)}
_PHONE_TO_ID.update({"+NSN+": SILENCE_ID, "+SPN+": _PHONE_TO_ID["SPN"]})

_DECODER_SAMPLE_RATE = 16000
_DECODER_FRAME_RATE = 100  # PocketSphinx frames per second (10 ms hop)
_DITHER_LSB = 2.0  # standard deviation of the dither, in 16-bit steps (-84 dBFS)
#: Who recognises the words of ``decoding="words"`` (``PhoneTokenizer(recogniser=...)``).
RECOGNISERS = ("pocketsphinx", "moonshine")


def _letter_to_sound(word: str) -> str | None:
    """PocketSphinx phones of ``word`` by flite's letter-to-sound rules (``t2p``): ``"AH N
    ..."``, or None when ``t2p`` is missing or gives no phone it knows."""
    import shutil
    import subprocess

    t2p = shutil.which("t2p")
    if t2p is None:
        return None
    try:
        spoken = subprocess.run(
            [t2p, word], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    phones = []
    for phone in spoken.split():
        name = phone.rstrip("012").upper()
        name = {"AX": "AH", "PAU": ""}.get(name, name)
        if name:
            if name not in _PHONE_TO_ID or _PHONE_TO_ID[name] < 2:
                return None
            phones.append(name)
    return " ".join(phones) or None


def word_timed_phones(placed, pronounce) -> list[tuple[str, int, int]]:
    """Phones timed by their words alone: each word's span shared equally by its phones.

    Args:
        placed: ``(word, first frame, frame after the last)`` of aligned words; PocketSphinx's
            fillers (``<s>``, ``<sil>``, ``[NOISE]``, ``+NSN+``) are left out (silence).
        pronounce: word -> its phones, ``"AH N ..."`` (PocketSphinx's ``lookup_word``, which
            also knows alternates such as ``"the(2)"``), or None.

    Returns:
        ``(phone, first frame, frame after the last)`` for every phone of every word.
    """
    segments = []
    for word, start, end in placed:
        if word.startswith(("<", "[", "+")):
            continue
        phones = (pronounce(word) or "").split()
        edges = np.linspace(start, end, len(phones) + 1).round().astype(int)
        segments += [(p, int(a), int(b)) for p, a, b in zip(phones, edges, edges[1:])]
    return segments


def phone_id(name: str) -> int:
    """Token id of an ARPAbet phone name (``"AH"``, ``"ah"``, ``"AH0"``; ``"pau"`` is silence).

    Args:
        name: Phone name, any case, optional CMUdict stress digit.

    Returns:
        Index into :data:`PHONES`.

    Raises:
        SoundStormError: for an unknown phone.
    """
    key = name.strip().upper().rstrip("012")
    key = {"PAU": "SIL", "H#": "SIL", "AX": "AH", "SP": "SIL"}.get(key, key)
    if key not in _PHONE_TO_ID:
        raise SoundStormError(f"unknown phone {name!r}; known: {' '.join(PHONES)}")
    return _PHONE_TO_ID[key]


class PhoneTokenizer(SemanticTokenizer):
    """Speaker-independent frame-level phone ids from PocketSphinx (the embedded default).

    Two decodings, same 41 ids:

    - ``"allphone"`` (registry name ``phones``): phone recognition with a phone bigram
      model. About 25x faster than real time on one core; no word model, so no word guesses
      on odd input.
    - ``"words"`` (registry names ``phones-words`` and ``default``): word recognition (en-us
      3-gram LM, CMUdict) then phone-level forced alignment of the recognised words. Two
      voices saying the same words get the same dictionary phones: clearly more
      speaker-independent (``docs/bench/semantic.md``), about 5x slower than allphone. If
      the alignment fails on a clip, that clip falls back to allphone decoding.

    Args:
        frame_rate: Output frames per second (divides 100 for exact repetition; 50 or 25 are
            the usual choices, any rate in (0, 100] is accepted).
        language_weight: Weight of the phone bigram model against the acoustic scores in
            allphone decoding (PocketSphinx ``-lw``; its own default 6.5 is worse here).
        decoding: ``"allphone"`` or ``"words"``.
        recogniser: Who recognises the words of ``"words"`` decoding: ``"pocketsphinx"``
            (its en-us 3-gram LM; registry name ``phones-words``) or ``"moonshine"``
            (Moonshine tiny-en, :class:`soundstorm.evaluate.asr.MoonshineRecognizer`;
            registry name ``phones-moonshine``), whose words are then aligned like a
            transcript's. A transcript given to ``tokenize`` takes precedence over both.

    Raises:
        SoundStormError: a frame rate outside (0, 100], an unknown decoding or recogniser, or
            ``recogniser="moonshine"`` without ``decoding="words"``.
    """

    name = "phones"
    accepts_transcripts = True

    def __init__(
        self,
        frame_rate: float = 50.0,
        language_weight: float = 2.0,
        decoding: str = "allphone",
        recogniser: str = "pocketsphinx",
    ) -> None:
        if not frame_rate > 0 or frame_rate > _DECODER_FRAME_RATE:
            raise SoundStormError(f"frame_rate must be in (0, 100] Hz, got {frame_rate!r}")
        if decoding not in ("allphone", "words"):
            raise SoundStormError(f"decoding must be 'allphone' or 'words', got {decoding!r}")
        if recogniser not in RECOGNISERS:
            raise SoundStormError(
                f"recogniser must be one of {', '.join(RECOGNISERS)}, got {recogniser!r}"
            )
        if recogniser != "pocketsphinx" and decoding != "words":
            raise SoundStormError(f"recogniser={recogniser!r} needs decoding='words'")
        self._frame_rate = float(frame_rate)
        self.language_weight = float(language_weight)
        self.decoding = decoding
        self.recogniser = recogniser
        if decoding == "words":
            self.name = "phones-words" if recogniser == "pocketsphinx" else "phones-moonshine"
        self._decoders: dict = {}  # created on first use: importing pocketsphinx is lazy
        self._spelled: dict[str, str | None] = {}  # letter-to-sound pronunciations
        self.transcript_fallbacks = 0  # clips whose transcript could not be aligned
        self.transcript_word_timed = 0  # clips whose phones share their words' spans
        self.recognition_fallbacks = 0  # clips whose Moonshine words could not be aligned

    @property
    def frame_rate(self) -> float:
        """Semantic frames per second."""
        return self._frame_rate

    @property
    def vocab_size(self) -> int:
        """Number of distinct ids: ``len(PHONES)`` (41)."""
        return len(PHONES)

    def config_dict(self) -> dict:
        """JSON description stored in token files (``recogniser`` only when it is not
        PocketSphinx, so that files made before the option keep their description)."""
        config = {
            **super().config_dict(),
            "decoding": self.decoding,
            "language_weight": self.language_weight,
        }
        if self.recogniser != "pocketsphinx":
            config["recogniser"] = self.recogniser
        return config

    def __getstate__(self) -> dict:
        """Pickle without the native decoders (rebuilt on first use, e.g. in a worker)."""
        return {**self.__dict__, "_decoders": {}}

    def _decoder(self, kind: str):
        """The PocketSphinx decoder ``allphone``, ``words`` or ``align`` (cached)."""
        if kind not in self._decoders:
            try:
                from pocketsphinx import Decoder, get_model_path
            except ImportError as error:
                raise missing_dependency_error(
                    ["pocketsphinx"], "the default semantic tokenizer"
                ) from error
            options = {"samprate": _DECODER_SAMPLE_RATE, "loglevel": "FATAL"}
            if kind == "allphone":
                options.update(
                    allphone=get_model_path("en-us/en-us-phone.lm.bin"),
                    lm=None,
                    lw=self.language_weight,
                )
            elif kind == "align":
                options.update(lm=None)
            self._decoders[kind] = Decoder(**options)
        return self._decoders[kind]

    @staticmethod
    def _run(decoder, pcm: bytes) -> None:
        # A fresh front end per clip: otherwise noise and cepstral-mean estimates carry over
        # from the previous clip, and the same audio gets tokens that depend on the history.
        decoder.reinit_feat()
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()

    def _allphone_segments(self, pcm: bytes) -> list[tuple[str, int, int]]:
        """``(phone, first frame, frame after the last)`` from phone recognition."""
        decoder = self._decoder("allphone")
        self._run(decoder, pcm)
        return [(seg.word, seg.start_frame, seg.end_frame + 1) for seg in decoder.seg()]

    def _word_aligned_segments(self, pcm: bytes) -> list[tuple[str, int, int]]:
        """Phones of the recognised words, placed by forced alignment."""
        recogniser = self._decoder("words")
        self._run(recogniser, pcm)
        hypothesis = recogniser.hyp()
        if hypothesis is None or not hypothesis.hypstr.strip():
            return []
        aligner = self._decoder("align")
        try:
            aligner.set_align_text(hypothesis.hypstr)
            self._run(aligner, pcm)  # word alignment
            return self._phone_pass(aligner, pcm)
        except RuntimeError:  # "Alignment failed": rebuild the aligner, use allphone here
            del self._decoders["align"]
            return self._allphone_segments(pcm)

    def _phone_pass(self, aligner, pcm: bytes) -> list[tuple[str, int, int]]:
        """The phone-level pass after a word alignment: ``(phone, first frame, frame after
        the last)``. Raises ``RuntimeError`` when the phones do not fit the words' spans."""
        aligner.set_alignment()
        self._run(aligner, pcm)
        return [
            (phone.name, phone.start, phone.start + phone.duration)
            for word in aligner.get_alignment()
            for phone in word
        ]

    def _pronunciation(self, word: str) -> str | None:
        """Dictionary phones of ``word`` (CMUdict), else flite's letter-to-sound rules
        (``t2p``, Debian's ``flite`` package), else None."""
        aligner = self._decoder("align")
        known = aligner.lookup_word(word)
        if known is not None:
            return known
        if word not in self._spelled:
            self._spelled[word] = _letter_to_sound(word)
        return self._spelled[word]

    def _transcript_aligned_segments(
        self, pcm: bytes, transcript: str
    ) -> list[tuple[str, int, int]] | None:
        """Phones of the transcript's words placed by forced alignment; None when the
        transcript has no words, a word has no pronunciation, or the word alignment fails.

        Where the phone-level pass fails after the words were placed (PocketSphinx refuses
        words spoken faster than its phone models allow: 3 frames per phone), each word's
        phones share its span equally (``transcript_word_timed`` counts those clips)."""
        from soundstorm.evaluate.asr import normalize_text

        words = normalize_text(transcript).split()
        if not words:
            return None
        aligner = self._decoder("align")
        for word in set(words):
            if aligner.lookup_word(word) is None:
                phones = self._pronunciation(word)
                if phones is None:
                    return None
                aligner.add_word(word, phones, True)
        try:
            aligner.set_align_text(" ".join(words))
            self._run(aligner, pcm)  # word alignment
            segments = aligner.seg()  # None: no path through the words
        except RuntimeError:  # "Alignment failed"
            segments = None
        if segments is None:  # rebuild the aligner
            del self._decoders["align"]
            return None
        placed = [(seg.word, seg.start_frame, seg.end_frame + 1) for seg in segments]
        try:
            return self._phone_pass(aligner, pcm)
        except RuntimeError:  # the phones do not fit a word's span: share it equally
            del self._decoders["align"]
            self.transcript_word_timed += 1
            return word_timed_phones(placed, aligner.lookup_word)

    def decode_phones(self, audio: np.ndarray, transcript: str | None = None) -> np.ndarray:
        """Phone id of every 10 ms decoder frame of one mono 16 kHz clip.

        Args:
            audio: ``float[S]`` in ``[-1, 1]`` at 16 kHz.
            transcript: the words said, if known: their dictionary phones (flite's
                letter-to-sound rules for words outside CMUdict) are force-aligned to the
                audio instead of recognised. When that fails (no words, no pronunciation,
                no word alignment) the clip is decoded as without one, and
                ``transcript_fallbacks`` counts it. Without one, ``recogniser="moonshine"``
                aligns Moonshine's words the same way; where it hears none, or they do not
                align, PocketSphinx recognises the words (``recognition_fallbacks``
                counts the clips that did not align).

        Returns:
            ``int64[ceil(S / 160)]`` phone ids at 100 Hz; frames the decoder leaves out are
            silence.
        """
        num_frames = math.ceil(len(audio) / (_DECODER_SAMPLE_RATE / _DECODER_FRAME_RATE))
        ids = np.full(num_frames, SILENCE_ID, dtype=np.int64)
        if len(audio) < _DECODER_SAMPLE_RATE // 20:  # < 50 ms: too short to decode
            return ids
        # Fixed-seed dither of a few LSB: digital silence (all zeros) otherwise decodes as
        # fricatives, because the decoder's energy normalisation divides by ~0.
        dither = np.random.default_rng(0).standard_normal(len(audio)) * _DITHER_LSB
        pcm = np.clip(audio * 32767.0 + dither, -32768, 32767).round().astype("<i2").tobytes()
        segments = None
        if transcript is not None:
            segments = self._transcript_aligned_segments(pcm, transcript)
            self.transcript_fallbacks += segments is None
        elif self.recogniser == "moonshine":
            from soundstorm.evaluate.asr import load_moonshine_recognizer, normalize_text

            words = load_moonshine_recognizer().transcribe(audio, _DECODER_SAMPLE_RATE)
            if normalize_text(words):  # no words heard: nothing to align, no failure
                segments = self._transcript_aligned_segments(pcm, words)
                self.recognition_fallbacks += segments is None
        if segments is None and self.decoding == "words":
            segments = self._word_aligned_segments(pcm)
        elif segments is None:
            segments = self._allphone_segments(pcm)
        for phone, start, end in segments:
            ids[start:end] = _PHONE_TO_ID.get(phone, SILENCE_ID)
        return ids

    def _tokenize(
        self, wav: torch.Tensor, sample_rate: int, transcripts: list[str | None] | None = None
    ) -> torch.Tensor:
        """Tokenize audio into phone ids (``tokenize`` refuses audio under one frame).

        Args:
            wav: ``FloatTensor[B, C, S]`` (channels are averaged).
            sample_rate: Sample rate of ``wav`` (Hz); resampled to 16 kHz.
            transcripts: the words of each clip, or None (see ``decode_phones``).

        Returns:
            ``LongTensor[B, T_sem]`` with ``T_sem = round(S / sample_rate * frame_rate)``
            (at least 1) and ids in ``[0, 41)``.
        """
        audio = mono_resampled(wav, sample_rate, _DECODER_SAMPLE_RATE)  # (B, S16)
        num_out = max(1, round(wav.shape[-1] * self._frame_rate / sample_rate))
        rows = []
        transcripts = transcripts or [None] * len(audio)
        for clip, transcript in zip(audio.numpy(), transcripts):
            phones_100hz = torch.from_numpy(self.decode_phones(clip, transcript))
            if phones_100hz.numel() == 0:
                phones_100hz = torch.full((1,), SILENCE_ID, dtype=torch.long)
            rows.append(align(phones_100hz, _DECODER_FRAME_RATE, self._frame_rate, num_out))
        return torch.stack(rows)

    @staticmethod
    def phone_names(tokens: torch.Tensor) -> list[str]:
        """Phone names of a 1-D token sequence ``LongTensor[T]``."""
        return [PHONES[int(i)] for i in tokens.reshape(-1)]
