"""Per-round records of a federated run: what was learned, who took part, what it cost."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class RoundRecord:
    """One round. ``skipped`` holds the reason when the round aborted and the model stayed.

    ``epsilon`` is the ε spent so far at ``delta`` against the aggregation server, with no
    amplification by subsampling. Under distributed DP it assumes every round's sum held at least
    ``honest_shares`` noise shares unknown to the server and to the ``colluders`` clients it may
    collude with (None: the aggregation did not state a bound).

    ``clipped_fraction`` is the fraction of the clients that sent an update this round whose
    update the clip changed (L∞ ``FedAvgConfig.clip``, or the DP config's L2 ``l2_clip``); None
    when no client sent one. The simulation measures it on the clients' side: a deployed server
    would not learn it.

    ``deadlines`` is the deadline each stage waited, in seconds (empty without deadlines), and
    ``missed`` the clients whose message of a stage arrived after it, by stage (clients still in
    the round at that stage; silent dropouts are not listed). Fixed and adaptive deadlines
    (``Simulation.deadline``) both fill them.
    """

    round: int
    sampled: tuple[int, ...]
    survivors: tuple[int, ...] = ()
    loss: float | None = None
    accuracy: float | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0  # aggregation compute (server + slowest client per stage)
    simulated_seconds: float = 0.0  # the simulated clock: arrivals and deadlines
    bytes_up: int = 0
    bytes_down: int = 0
    quantization_bound: float = 0.0
    clipped_fraction: float | None = None
    epsilon: float | None = None
    delta: float | None = None
    honest_shares: int | None = None
    colluders: int | None = None
    skipped: str | None = None
    deadlines: dict[str, float] = field(default_factory=dict)
    missed: dict[str, tuple[int, ...]] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict, repr=False)

    def line(self) -> str:
        """A one-line summary for logs and the demo's per-round output."""
        acc = "  -   " if self.accuracy is None else f"{self.accuracy:6.2%}"
        eps = "" if self.epsilon is None else f"  eps={self.epsilon:.2f}{self._assumption()}"
        head = f"round {self.round:3d}  acc {acc}  clients {len(self.survivors):3d}/{len(self.sampled):<3d}"
        if self.skipped:
            return f"{head}  SKIPPED: {self.skipped}"
        clipped = "" if self.clipped_fraction is None else f"  clipped {self.clipped_fraction:4.0%}"
        return (f"{head}  agg {self.seconds:6.3f}s  {(self.bytes_up + self.bytes_down) / 1e6:7.2f} MB"
                f"{clipped}{eps}")

    def _assumption(self) -> str:
        """What the ε assumes under distributed DP: honest noise shares and stated colluders."""
        if self.honest_shares is None:
            return ""
        colluders = "" if self.colluders is None else f", {self.colluders} colluding"
        return f" (>= {self.honest_shares} honest noise shares{colluders})"


@dataclass
class History:
    """All rounds of a run, in order."""

    records: list[RoundRecord] = field(default_factory=list)

    def __iter__(self):
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def append(self, record: RoundRecord) -> None:
        """Add the next round."""
        self.records.append(record)

    @property
    def accuracies(self) -> list[float | None]:
        """Accuracy after each round (None when not evaluated)."""
        return [r.accuracy for r in self.records]

    @property
    def final_accuracy(self) -> float | None:
        """The last evaluated accuracy."""
        return next((a for a in reversed(self.accuracies) if a is not None), None)

    @property
    def total_seconds(self) -> float:
        """Aggregation compute summed over the rounds."""
        return sum(r.seconds for r in self.records)

    @property
    def total_bytes(self) -> int:
        """Bytes up and down summed over the rounds."""
        return sum(r.bytes_up + r.bytes_down for r in self.records)

    @property
    def skipped(self) -> list[RoundRecord]:
        """Rounds that aborted (model unchanged)."""
        return [r for r in self.records if r.skipped]

    def as_dicts(self) -> list[dict[str, Any]]:
        """Plain dicts (e.g. for JSON)."""
        return [asdict(r) for r in self.records]
