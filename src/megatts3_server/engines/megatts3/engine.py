"""The MegaTTS3 engine behind the service's Engine interface.

Voices are prepared once, at upload time (alignment, duration prompt, latent slice, loudness); a request
starts from that cached context. Pieces of several requests are sampled together by the diffusion
transformer, up to ``batch_size`` at a time.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from megatts3_server.audio import DecodedAudio
from megatts3_server.config import MegaTTS3Settings
from megatts3_server.engines.base import (
    BatchItem,
    BuiltinVoice,
    CancelToken,
    Engine,
    EngineCapabilities,
    ModelInfo,
    PreparedVoice,
    VoiceContext,
)
from megatts3_server.engines.megatts3.alignment import align_reference
from megatts3_server.engines.megatts3.durations import DurationPrompt, build_prompt
from megatts3_server.engines.megatts3.models import MegaTTS3Models, check_layout, load_models
from megatts3_server.engines.megatts3.pipeline import SamplingPlan, synthesize_pieces
from megatts3_server.engines.megatts3.voice_prompt import (
    MAX_PROMPT_SECONDS,
    VoicePrompt,
    check_latent,
    integrated_loudness,
    pad_prompt_wav,
    prepared_voice,
)
from megatts3_server.errors import EngineNotReadyError, InvalidRequestError, SynthesisCancelledError

log = logging.getLogger(__name__)

SAMPLE_RATE = 24000
# Prepared voices kept as tensors (with their duration-LM prompt state) between requests.
_PROMPT_CACHE_SIZE = 32
_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def pick_device(requested: str) -> torch.device:
    """The configured device, or the CPU when it asks for a GPU that is not there."""
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        log.warning("model.inference.device is %s but no CUDA GPU is visible: running on the CPU", requested)
        return torch.device("cpu")
    return device


class MegaTTS3Engine(Engine):
    """MegaTTS3 (ByteDance, Apache-2.0): zero-shot voice cloning from a reference recording + its latent."""

    def __init__(
        self,
        settings: MegaTTS3Settings,
        wavvae_dir: Path,
        *,
        device: str = "cuda:0",
        precision: str = "fp16",
        threads: int = 0,
        batch_size: int = 1,
    ) -> None:
        check_layout(settings.checkpoint_dir, wavvae_dir)
        self._settings = settings
        self._wavvae_dir = wavvae_dir
        self._device = pick_device(device)
        # Half precision only pays (and is only well supported) on a GPU.
        self._dtype = _DTYPES[precision] if self._device.type == "cuda" else torch.float32
        self._threads = threads or os.cpu_count() or 1
        self._batch_size = batch_size
        self._models: MegaTTS3Models | None = None
        self._load_lock = threading.Lock()
        self._prompts: collections.OrderedDict[str, tuple[VoicePrompt, DurationPrompt]] = collections.OrderedDict()
        self._prompts_lock = threading.Lock()
        self._capabilities = EngineCapabilities(
            name="megatts3",
            sample_rate=SAMPLE_RATE,
            languages=("zh", "en"),
            emotions=frozenset({"neutral"}),
            max_batch_size=batch_size,
            voice_cloning=True,
            accepts_latent=True,
            device=str(self._device),
            sampling_options=frozenset({"time_step", "p_w", "t_w", "seed"}),
            model=ModelInfo(name="MegaTTS3-DIT", type="diffusion_transformer", version="1.0.0"),
        )

    @property
    def capabilities(self) -> EngineCapabilities:
        return self._capabilities

    @property
    def loaded(self) -> bool:
        return self._models is not None

    def load(self) -> None:
        with self._load_lock:
            if self._models is not None:
                return
            if self._device.type == "cpu":
                torch.set_num_threads(self._threads)
            models = load_models(
                self._settings.checkpoint_dir, self._wavvae_dir, device=self._device, dtype=self._dtype
            )
            if models.wavvae_config.sample_rate != SAMPLE_RATE:
                raise EngineNotReadyError(
                    f"the WaveVAE in {self._wavvae_dir} produces {models.wavvae_config.sample_rate} Hz audio; "
                    f"this engine serves the {SAMPLE_RATE} Hz MegaTTS3 release"
                )
            self._models = models

    def _require_models(self) -> MegaTTS3Models:
        if self._models is None:
            raise EngineNotReadyError("the engine is still loading")
        return self._models

    def builtin_voices(self) -> list[BuiltinVoice]:
        # MegaTTS3 speaks only in voices cloned from an uploaded recording + latent.
        return []

    def builtin_context(self, voice_id: str) -> VoiceContext:
        raise KeyError(voice_id)

    def recommended_workers(self) -> int:
        # One thread drives the model; concurrency comes from batching requests into one sampling call.
        return 1

    def max_piece_chars(self) -> int:
        # The reference cuts Chinese text into pieces of at most 60 characters (English: 130 bytes).
        return 60

    def voice_used(self, voice: VoiceContext) -> str:
        return voice.voice_id

    def prepare_voice(self, reference: DecodedAudio, latent: np.ndarray | None) -> PreparedVoice:
        models = self._require_models()
        if reference.sample_rate != SAMPLE_RATE:
            raise InvalidRequestError(f"reference audio must be decoded at {SAMPLE_RATE} Hz")
        if reference.duration > MAX_PROMPT_SECONDS:
            raise InvalidRequestError(
                f"the reference recording is {reference.duration:.1f} s long; MegaTTS3 takes references of at most "
                f"{MAX_PROMPT_SECONDS:.0f} s (a clean 5–20 s clip works best)",
                code="audio_too_long",
            )
        wav = pad_prompt_wav(reference.samples.astype(np.float32), models.win_size)
        loudness = integrated_loudness(wav, SAMPLE_RATE)
        with torch.inference_mode():
            alignment = align_reference(models.aligner, wav)
        frames = int(alignment.mel2ph.numel())
        prompt_latent = check_latent(latent, models.dit.config.latent_channels, frames // 4)
        return prepared_voice(
            latent=prompt_latent,
            ph_ref=alignment.ph,
            tone_ref=alignment.tone,
            dur_ref=alignment.durations,
            mel2ph_ref=alignment.mel2ph[: (frames // 4) * 4],
            loudness=loudness,
            alignment_valid=alignment.valid,
            seconds=reference.duration,
        )

    def _prompts_for(self, voice: VoiceContext) -> tuple[VoicePrompt, DurationPrompt]:
        """The voice's tensors and duration-LM prompt state, built on first use and kept for the next requests."""
        key = f"{voice.voice_id}\0{voice.version}"
        with self._prompts_lock:
            if key in self._prompts:
                self._prompts.move_to_end(key)
                return self._prompts[key]
        models = self._require_models()
        prompt = VoicePrompt.from_context(voice, models.device)
        with torch.inference_mode():
            duration_prompt = build_prompt(models.duration, prompt.ph_ref, prompt.tone_ref, prompt.dur_ref)
        with self._prompts_lock:
            self._prompts[key] = (prompt, duration_prompt)
            while len(self._prompts) > _PROMPT_CACHE_SIZE:
                self._prompts.popitem(last=False)
        return prompt, duration_prompt

    def _plan(self, item: BatchItem) -> SamplingPlan:
        prompt, duration_prompt = self._prompts_for(item.voice)
        options, defaults = item.options, self._settings
        return SamplingPlan(
            text=item.text,
            prompt=prompt,
            duration_prompt=duration_prompt,
            speed=item.speed,
            time_step=options.time_step or defaults.time_step,
            p_w=defaults.p_w if options.p_w is None else options.p_w,
            t_w=defaults.t_w if options.t_w is None else options.t_w,
            seed=defaults.seed if options.seed is None else options.seed,
            version=item.voice.version,
        )

    def synthesize(
        self, text: str, voice: VoiceContext, *, speed: float = 1.0, cancel: CancelToken | None = None
    ) -> np.ndarray:
        return self.synthesize_batch([BatchItem(text, voice, speed, cancel)])[0]

    def synthesize_batch(self, items: Sequence[BatchItem]) -> list[np.ndarray]:
        models = self._require_models()
        plans = [self._plan(item) for item in items]
        tokens = [item.cancel for item in items]

        def all_cancelled() -> bool:
            return all(token is not None and token.cancelled for token in tokens)

        with torch.inference_mode():
            audio = synthesize_pieces(
                models,
                plans,
                dur_disturb=self._settings.dur_disturb,
                max_batch=self._batch_size,
                should_stop=all_cancelled,
            )
        if all_cancelled():
            raise SynthesisCancelledError("synthesis was cancelled")
        return audio
