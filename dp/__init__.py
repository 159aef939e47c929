"""dp: differential privacy for federated learning, self-contained (imports nothing of ours).

Exact integer samplers on a CSPRNG (discrete Laplace, discrete Gaussian, Poisson, Skellam),
grid-snapped continuous noise with analytic Gaussian calibration, clipping, randomized response,
local DP, the distributed-DP planner for secure aggregation, and privacy accounting.

One neighbouring relation holds throughout (:mod:`dp.neighbours`): replace one participant's
contribution by any other, with the same participants taking part. A contribution bounded by B
has sensitivity 2B, and every sensitivity here comes from that module. Amplification by
subsampling (``sampling_probability`` < 1, :func:`subsampled_rdp`) is Poisson sampling's
add/remove-one theorem: it is not derived from this relation, holds only against a party that
never learns who was sampled, and neither the distributed-DP planner nor the FL layer uses it.
"""

from .accounting import (
    DEFAULT_ORDERS,
    DistributedDiscreteGaussianEvent,
    GaussianEvent,
    LaplaceEvent,
    PrivacyLedger,
    SkellamEvent,
    ddg_rdp,
    gaussian_epsilon,
    gaussian_rdp,
    laplace_epsilon,
    randomized_response_epsilon,
    rdp_to_epsilon,
    skellam_rdp,
    subsampled_rdp,
)
from .clipping import clip_l2, clip_linf
from .continuous import (
    add_gaussian_noise,
    add_laplace_noise,
    calibrate_analytic_gaussian,
    gaussian_delta,
)
from .distributed import (
    DistributedPlan,
    client_noise,
    decode_mean,
    decode_sum,
    encode_client,
    inflated_l2_bound,
    plan_distributed,
    to_signed,
)
from .errors import DPError, InsecureNoiseWarning
from .local import local_sigma, privatize_update
from .neighbours import RELATION, integer_l1_sensitivity, l2_sensitivity
from .randomized_response import (
    estimate_frequencies,
    estimate_mean_binary,
    keep_probability,
    noise_parameter,
    randomize_binary,
    randomize_kary,
)
from .rng import AesCtrSource, RandomSource
from .rotation import padded_dimension, rotate, unrotate
from .samplers import discrete_gaussian, discrete_laplace, poisson, skellam

__all__ = [
    "DEFAULT_ORDERS",
    "RELATION",
    "AesCtrSource",
    "DPError",
    "DistributedDiscreteGaussianEvent",
    "DistributedPlan",
    "GaussianEvent",
    "InsecureNoiseWarning",
    "LaplaceEvent",
    "PrivacyLedger",
    "RandomSource",
    "SkellamEvent",
    "add_gaussian_noise",
    "add_laplace_noise",
    "calibrate_analytic_gaussian",
    "clip_l2",
    "clip_linf",
    "client_noise",
    "ddg_rdp",
    "decode_mean",
    "decode_sum",
    "discrete_gaussian",
    "discrete_laplace",
    "encode_client",
    "estimate_frequencies",
    "estimate_mean_binary",
    "gaussian_delta",
    "gaussian_epsilon",
    "gaussian_rdp",
    "inflated_l2_bound",
    "integer_l1_sensitivity",
    "keep_probability",
    "l2_sensitivity",
    "laplace_epsilon",
    "local_sigma",
    "noise_parameter",
    "padded_dimension",
    "plan_distributed",
    "poisson",
    "privatize_update",
    "randomize_binary",
    "randomize_kary",
    "randomized_response_epsilon",
    "rdp_to_epsilon",
    "rotate",
    "skellam",
    "skellam_rdp",
    "subsampled_rdp",
    "to_signed",
    "unrotate",
]
