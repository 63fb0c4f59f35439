"""Log-mel descriptor against librosa, on tones, and as a module (shapes, buffers, padding)."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scsampler.features import LogMel, hz_to_mel, log_mel, mel_filterbank, mel_to_hz

SR = 16000


def tone(freq: float, seconds: float = 2.0, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize(
    "sr, n_fft, n_mels, fmin, fmax",
    [
        (16000, 512, 40, 0.0, None),
        (16000, 512, 40, 125.0, 7500.0),
        (22050, 2048, 128, 0.0, None),
        (44100, 1024, 64, 20.0, None),
        (8000, 256, 40, 0.0, 3000.0),
        (48000, 4096, 40, 500.0, 20000.0),
    ],
)
def test_filterbank_matches_librosa(sr, n_fft, n_mels, fmin, fmax):
    ours = mel_filterbank(sr, n_fft, n_mels, fmin, fmax)
    assert ours.shape == (n_mels, n_fft // 2 + 1) and ours.dtype == torch.float32
    ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-5, atol=1e-7)


@settings(max_examples=50, deadline=None)
@given(hz=st.floats(0.0, 24000.0))
def test_mel_scale_matches_librosa_and_inverts(hz):
    mel = hz_to_mel(torch.tensor([hz], dtype=torch.float64))
    assert float(mel) == pytest.approx(float(librosa.hz_to_mel(hz)), rel=1e-9, abs=1e-9)
    assert float(mel_to_hz(mel)) == pytest.approx(hz, rel=1e-9, abs=1e-6)


@pytest.mark.parametrize("fmin, fmax", [(0.0, None), (60.0, 7600.0)])
def test_log_mel_matches_librosa(fmin, fmax):
    rng = np.random.default_rng(0)
    y = (0.1 * rng.normal(size=2 * SR) + tone(440.0) + tone(3000.0, amp=0.2)).astype(np.float32)
    module = LogMel(fmin=fmin, fmax=fmax)
    ours = module(torch.from_numpy(y)).numpy()
    ref = np.log(
        librosa.feature.melspectrogram(
            y=y, sr=SR, n_fft=module.n_fft, hop_length=module.hop, window="hann", center=True,
            pad_mode="constant", power=2.0, n_mels=40, fmin=fmin, fmax=fmax,
        )
        + module.eps
    )
    assert ref.shape[1] == 201  # librosa keeps the frame centred on the last sample; we keep 200
    np.testing.assert_allclose(ours, ref[:, :200], atol=1e-3)


def band_centres(filterbank: torch.Tensor, n_fft: int) -> np.ndarray:
    """Centre frequency of each mel band: the FFT bin where its triangle peaks."""
    return np.argmax(filterbank.numpy(), axis=1) * SR / n_fft


@settings(max_examples=30, deadline=None)
@given(band=st.integers(4, 37), offset=st.floats(-0.25, 0.25))
def test_tone_peaks_in_the_band_with_the_nearest_centre(band, offset):
    module = LogMel()
    centres = band_centres(module.filterbank, module.n_fft)
    # A tone between a centre and a quarter of the way to its neighbour: unambiguously nearest.
    neighbour = centres[band + 1] if offset > 0 else centres[band - 1]
    freq = centres[band] + abs(offset) * (neighbour - centres[band])
    nearest = int(np.argmin(np.abs(centres - freq)))
    spectrum = module(torch.from_numpy(tone(freq))).mean(dim=-1)                # (n_mels,)
    assert int(spectrum.argmax()) == nearest == band


@pytest.mark.parametrize("batch", [(), (3,), (2, 3)])
def test_output_shape_for_batched_input(batch):
    out = LogMel()(torch.randn(*batch, 2 * SR))
    assert out.shape == (*batch, 40, 200) and out.dtype == torch.float32
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(
    "kwargs, frames",
    [({}, 200), ({"n_frames": 96, "window_s": 1.0}, 96), ({"n_frames": 300, "sample_rate": 22050}, 300)],
)
def test_any_input_length_gives_n_frames(kwargs, frames):
    module = LogMel(**kwargs)
    for samples in (1, 1000, module.window_samples - 1, module.window_samples, 3 * module.window_samples):
        assert module(torch.randn(samples)).shape == (40, frames)


def test_input_is_zero_padded_or_cropped_at_the_end():
    module = LogMel()
    x = torch.randn(2 * SR)
    short = x[:SR]
    padded = torch.cat([short, torch.zeros(SR)])
    torch.testing.assert_close(module(short), module(padded), rtol=0, atol=0)
    longer = torch.cat([x, torch.randn(SR)])
    torch.testing.assert_close(module(longer), module(x), rtol=0, atol=0)


def test_silence_is_log_eps():
    out = LogMel(eps=1e-6)(torch.zeros(2 * SR))
    torch.testing.assert_close(out, torch.full((40, 200), float(np.log(np.float32(1e-6)))))


def test_framing_defaults():
    module = LogMel()
    assert (module.window_samples, module.hop, module.n_fft) == (32000, 160, 512)
    assert LogMel(sample_rate=22050).n_fft == 512            # hop 220: 2 * hop = 440 -> 512
    assert LogMel(n_frames=250).n_fft == 256                 # hop 128: 2 * hop = 256 exactly


def test_module_is_its_function_core():
    module = LogMel()
    x = torch.randn(2, 2 * SR)
    core = log_mel(x, module.filterbank, module.window, module.hop, module.n_fft, module.n_frames, module.eps)
    torch.testing.assert_close(module(x), core, rtol=0, atol=0)


def test_buffers_follow_to_and_stay_out_of_state_dict():
    module = LogMel()
    assert set(dict(module.named_buffers())) == {"filterbank", "window"}
    assert module.state_dict() == {}
    module.to(torch.float64)
    assert module.filterbank.dtype == torch.float64 and module.window.dtype == torch.float64
    assert module(torch.randn(2 * SR)).dtype == torch.float64


def test_constructor_arguments_are_keyword_only():
    with pytest.raises(TypeError):
        LogMel(16000)  # type: ignore[misc]
