"""Log-mel descriptor of the audio sampler (section 3.3.2 of the SCSampler paper).

"MEL-spectrograms from audio segments twice as long as the video-clips ... a series of 200 time
samples is taken within each audio segment and processed using 40 MEL filters ... a descriptor of
size 40x200." With 1 s clips the segment is ``window_s = 2.0`` s.

Shapes: ``waveform (..., samples)`` mono float at ``sample_rate`` -> ``(..., n_mels, n_frames)``,
natural log of mel power. The models add the channel axis: ``(B, 1, n_mels, frames)``.

Framing (defaults at 16 kHz): ``hop = window_samples // n_frames`` (160 samples, 10 ms),
``n_fft`` = the smallest power of two >= ``2 * hop`` (512, 32 ms), a periodic Hann window of
``n_fft`` samples, ``center=True`` with zero ("constant") padding, so frame ``i`` is centred on
sample ``i * hop`` of the segment; the STFT yields ``1 + window_samples // hop`` frames (201) and
the first ``n_frames`` are kept. Zero padding treats the audio outside the segment as silence, and
matches librosa's default ``pad_mode="constant"``.

The mel filterbank is Slaney's (Auditory Toolbox): mel scale linear below 1 kHz and logarithmic
above, triangles normalised to unit area ("slaney" norm); it equals
``librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax)`` with librosa's defaults.
"""

from __future__ import annotations

import math

import torch

__all__ = ["LogMel", "hz_to_mel", "log_mel", "mel_filterbank", "mel_to_hz"]

# Slaney mel scale: 3 mels per 200 Hz up to 1 kHz (15 mels), then 27 mels per factor 6.4 in Hz.
_F_SP = 200.0 / 3.0
_BREAK_HZ = 1000.0
_BREAK_MEL = _BREAK_HZ / _F_SP
_LOG_STEP = math.log(6.4) / 27.0


def hz_to_mel(hz: torch.Tensor) -> torch.Tensor:
    """Slaney mel scale, elementwise; Hz -> mel (same dtype)."""
    linear = hz / _F_SP
    log = _BREAK_MEL + torch.log(torch.clamp(hz, min=_BREAK_HZ) / _BREAK_HZ) / _LOG_STEP
    return torch.where(hz >= _BREAK_HZ, log, linear)


def mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`hz_to_mel`; mel -> Hz (same dtype)."""
    linear = mel * _F_SP
    log = _BREAK_HZ * torch.exp(_LOG_STEP * (torch.clamp(mel, min=_BREAK_MEL) - _BREAK_MEL))
    return torch.where(mel >= _BREAK_MEL, log, linear)


def mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None
) -> torch.Tensor:
    """Slaney mel filterbank ``(n_mels, n_fft // 2 + 1)`` float32, to apply to a power spectrum.

    ``n_mels`` triangles with corners at ``n_mels + 2`` points equally spaced in mel between
    ``fmin`` and ``fmax`` (default ``sample_rate / 2``); triangle ``m`` rises from corner ``m`` to
    ``m + 1`` and falls to ``m + 2``, and is scaled by ``2 / (f[m + 2] - f[m])`` so each has unit area
    in Hz. Computed in float64, returned as float32.
    """
    fmax = sample_rate / 2.0 if fmax is None else float(fmax)
    fft_hz = torch.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1, dtype=torch.float64)   # (F,)
    mel_lo, mel_hi = hz_to_mel(torch.tensor([float(fmin), fmax], dtype=torch.float64))
    corners = mel_to_hz(torch.linspace(float(mel_lo), float(mel_hi), n_mels + 2, dtype=torch.float64))

    lower, centre, upper = corners[:-2, None], corners[1:-1, None], corners[2:, None]   # (M, 1)
    rising = (fft_hz - lower) / (centre - lower)                                         # (M, F)
    falling = (upper - fft_hz) / (upper - centre)
    weights = torch.clamp(torch.minimum(rising, falling), min=0.0)
    return (weights * (2.0 / (upper - lower))).to(torch.float32)


def log_mel(
    waveform: torch.Tensor,
    filterbank: torch.Tensor,
    window: torch.Tensor,
    hop: int,
    n_fft: int,
    n_frames: int,
    eps: float,
) -> torch.Tensor:
    """``log(mel power + eps)``: ``(..., samples) -> (..., n_mels, n_frames)``.

    Centred STFT with zero padding (frame ``i`` centred on sample ``i * hop``), power spectrum,
    ``filterbank (n_mels, n_fft // 2 + 1)``, natural log. Keeps the first ``n_frames`` frames; a
    waveform too short to give that many is zero-padded at the end first.
    """
    batch_shape, samples = waveform.shape[:-1], waveform.shape[-1]
    needed = (n_frames - 1) * hop + 1  # centred frames: 1 + samples // hop >= n_frames
    flat = waveform.reshape(-1, samples).to(filterbank.dtype)
    if samples < needed:
        flat = torch.nn.functional.pad(flat, (0, needed - samples))
    spec = torch.stft(
        flat,
        n_fft=n_fft,
        hop_length=hop,
        window=window,
        center=True,
        pad_mode="constant",
        return_complex=True,
    )[..., :n_frames]                                                 # (B, n_fft // 2 + 1, n_frames)
    power = spec.real.square() + spec.imag.square()
    mel = torch.matmul(filterbank, power)                              # (B, n_mels, n_frames)
    return torch.log(mel + eps).reshape(*batch_shape, filterbank.shape[0], n_frames)


class LogMel(torch.nn.Module):
    """Audio-sampler input of section 3.3.2: ``(..., samples) -> (..., n_mels, n_frames)`` log-mel.

    The input is the ``window_s``-second segment around a clip (twice the clip length in the
    paper), mono, at ``sample_rate``. Any other length is zero-padded or cropped *at the end* to
    ``round(window_s * sample_rate)`` samples, so the output always has ``n_frames`` frames and a
    frame always spans the same time. Hop and FFT size follow from the arguments (see the module
    docstring): ``hop = window_samples // n_frames``, ``n_fft`` the next power of two >= ``2 * hop``.

    ``filterbank`` and ``window`` are non-persistent buffers: they follow ``.to()`` but stay out of
    ``state_dict``, being a pure function of the constructor's arguments (which the run's config
    records), so checkpoints hold learned weights only.
    """

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        n_mels: int = 40,
        n_frames: int = 200,
        window_s: float = 2.0,
        fmin: float = 0.0,
        fmax: float | None = None,
        eps: float = 1e-6,
    ) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self.n_mels = n_mels
        self.n_frames = n_frames
        self.window_samples = round(window_s * sample_rate)
        self.hop = self.window_samples // n_frames
        if self.hop < 1:
            raise ValueError(f"{n_frames} frames do not fit in {self.window_samples} samples")
        self.n_fft = 1 << (2 * self.hop - 1).bit_length()
        self.eps = eps
        self.register_buffer(
            "filterbank", mel_filterbank(sample_rate, self.n_fft, n_mels, fmin, fmax), persistent=False
        )
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """``waveform (..., samples)`` -> log-mel ``(..., n_mels, n_frames)``."""
        samples = waveform.shape[-1]
        if samples > self.window_samples:
            waveform = waveform[..., : self.window_samples]
        elif samples < self.window_samples:
            waveform = torch.nn.functional.pad(waveform, (0, self.window_samples - samples))
        return log_mel(
            waveform, self.filterbank, self.window, self.hop, self.n_fft, self.n_frames, self.eps
        )

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate}, n_mels={self.n_mels}, n_frames={self.n_frames}, "
            f"window_samples={self.window_samples}, hop={self.hop}, n_fft={self.n_fft}"
        )
