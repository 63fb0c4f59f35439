"""Feature kernels of the sampler (section 3.3 of the SCSampler paper): tensor in, tensor out.

No decoding here (``scsampler.io`` owns PyAV); shapes and sign conventions are in each module's
docstring and in ``scsampler.records``.
"""

from scsampler.features.audio import LogMel, hz_to_mel, log_mel, mel_filterbank, mel_to_hz
from scsampler.features.motion import (
    MOTION_VECTOR_DTYPE,
    block_motion,
    coarse_to_fine_motion,
    motion_compensated_residual,
    rasterize_motion_vectors,
    warp,
)

__all__ = [
    "MOTION_VECTOR_DTYPE",
    "LogMel",
    "block_motion",
    "coarse_to_fine_motion",
    "hz_to_mel",
    "log_mel",
    "mel_filterbank",
    "mel_to_hz",
    "motion_compensated_residual",
    "rasterize_motion_vectors",
    "warp",
]
