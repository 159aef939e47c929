"""LightSecAgg (So et al., MLSys 2022): secure aggregation by one-shot recovery of the
survivors' aggregate mask, as a sans-IO state machine of the same shape as SecAgg's.

Each client draws one mask z_i (uniform over GF(2^31 - 1), AES-CTR keyed from a CSPRNG seed),
cuts it into U − T pieces, adds T uniformly random padding pieces, Lagrange-encodes the U pieces
into N coded sub-masks and seals sub-mask j to client j (the authenticated, session-bound
encryption of SecAgg's share bundles), relayed by the server. Clients upload y_i = x_i + z_i mod
p. Once the server announces the survivors U3, each survivor returns the sum of the coded
sub-masks it holds from U3, and from U of those replies the server decodes Σ_{i∈U3} z_i in one
step, checking it against s >= 1 more replies. Server work does not grow with the dropouts.

What holds (budgets: D dropouts before the masked input, C <= T colluders; ``SECURITY.md``):

- **Semi-honest server colluding with up to T clients** learns nothing about the honest inputs
  beyond Σ_{i∈U3} x_i: an honest client's sub-masks are sealed to their recipients, any T of
  them are jointly uniform whatever the mask (:mod:`.coding` has the linear algebra), and each
  client answers one survivor set, once. Every sum holds at least N − D − C >= 2 honest inputs.
- **Dropouts at every stage**: while at most D clients drop before the masked input and U + s
  survivors reply, the round returns the exact integer sum of U3's inputs; otherwise it aborts
  with an ``AbortError`` that names the stage, what was needed and what came.
- **Never a wrong sum from e <= (replies − U) wrong replies** (so at least s of them): every
  reply beyond the first U is checked against the code word the first U define, and any
  disagreement aborts the round (detect, never correct: :mod:`.coding` says why). With exactly
  U replies nothing could be checked, so the round needs U + s. More than (replies − U)
  coordinated wrong replies could shift the sum undetected: clients that lie in their replies
  are outside this model, as is a server that lies. A client that deals sub-masks off the
  code is caught the same way (the replies then disagree).
- **Not** covered: a malicious server (it could show different survivor sets to different
  clients, or ask two sets of replies, and so learn the difference of two mask sums). Use
  SecAgg's ``malicious=True`` for that. Nor the protection of the sum itself (that is DP's job).

Inputs are integers in [0, 2^b) with N·(2^b − 1) < p, so the sum is exact and reduces to the
SecAgg sum mod 2^b (:mod:`.config` says how the float encoding carries over).
"""

from .client import LightSecAggClient
from .config import LightSecAggConfig, max_input_bits
from .params import LightSecAggParameters, find_parameters
from .server import LightSecAggServer
from .simulate import RoundResult, simulate_round, warm_up
from .stages import STAGES, Stage

__all__ = [
    "STAGES",
    "LightSecAggClient",
    "LightSecAggConfig",
    "LightSecAggParameters",
    "LightSecAggServer",
    "RoundResult",
    "Stage",
    "find_parameters",
    "max_input_bits",
    "simulate_round",
    "warm_up",
]
