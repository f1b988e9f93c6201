"""musicnn's input: log-compressed mel spectrogram, as its extractor computes it.

`librosa.feature.melspectrogram(y, sr=16000, n_fft=512, hop_length=256, n_mels=96)`
(Hann window, centred frames with zero padding, power 2, Slaney mel filters), then
log10(10000 x + 1). musicnn's extractor casts the mel power to float16 before the log;
loud bins (power above ~6.5) then overflow to inf and every feature of the patch turns
NaN, so this computes in float32 throughout (the reference script does the same).
"""

import functools

import librosa
import torch

SAMPLE_RATE = 16000
N_FFT = 512
HOP = 256
N_MELS = 96


@functools.cache
def _mel_basis():
    return torch.from_numpy(librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS))


@functools.cache
def _window():
    return torch.hann_window(N_FFT, periodic=True)


def log_mel(audio):
    """audio: float32 tensor [batch, samples] at 16 kHz -> [batch, frames, 96], frame t
    centred on sample t * 256 (1 + samples // 256 frames)."""
    spectrum = torch.stft(
        audio, n_fft=N_FFT, hop_length=HOP, window=_window(), center=True, pad_mode="constant", return_complex=True
    )
    power = spectrum.real**2 + spectrum.imag**2  # [batch, bins, frames]
    mel = torch.matmul(_mel_basis(), power)  # [batch, 96, frames]
    return torch.log10(10000 * mel + 1).transpose(1, 2)
