"""FedProx (client-side proximal term) and SCAFFOLD (control variates summed under the same secure
aggregation as the update): known answers on the client, the server's c as the mean of the
clients' Δc, and secure runs equal to plain ones within the encoder's bound."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pytest

from fl_integration import FedAvgConfig, Simulation, flatten, make_aggregator, run_fedavg
from fl_integration.models import NumpyClient, _gradients, init_parameters, local_steps, sgd
from secagg.errors import ConfigError

from .conftest import initial, make_shift_clients

FEATURES, CLASSES = 4, 3
DIM = FEATURES * CLASSES + CLASSES  # softmax regression: 15 parameters


def _federation(n: int = 8, examples: int = 20, seed: int = 0, equal: bool = True,
                lr: float = 0.1) -> list[NumpyClient]:
    """Label-skewed clients (each mostly sees one class): local optima drift apart."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(CLASSES, FEATURES))
    clients = []
    for i in range(n):
        m = examples if equal else examples + 4 * i
        probs = np.full(CLASSES, 0.1 / (CLASSES - 1))
        probs[i % CLASSES] = 0.9
        y = rng.choice(CLASSES, size=m, p=probs)
        x = centers[y] + 0.5 * rng.normal(size=(m, FEATURES))
        clients.append(NumpyClient(i + 1, x, y, epochs=1, lr=lr, batch_size=8, seed=seed))
    return clients


def _start() -> list[np.ndarray]:
    return init_parameters(FEATURES, CLASSES)


@dataclass
class Recording:
    """Wraps an aggregator and keeps what it was handed each round (what each client submitted
    and the codec lengths), to check what is summed."""

    inner: object
    rounds: list[dict] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.inner.name  # type: ignore[attr-defined]

    @property
    def stages(self) -> tuple[str, ...]:
        return self.inner.stages  # type: ignore[attr-defined]

    def aggregate(self, updates, weights, ctx):
        codecs = []

        def make_codec(*args, **kwargs):
            codecs.append(ctx.make_codec(*args, **kwargs))
            return codecs[-1]

        result = self.inner.aggregate(updates, weights,  # type: ignore[attr-defined]
                                      dataclasses.replace(ctx, make_codec=make_codec))
        self.rounds.append({"updates": dict(updates), "weights": dict(weights),
                            "codecs": codecs, "result": result})
        return result


# --- FedProx ---------------------------------------------------------------------------------

def test_sgd_proximal_term_is_mu_times_the_distance_to_the_global_model():
    """Two SGD steps by hand on h(w) = F(w) + mu/2·||w - w0||²: g = ∇F(w) + mu·(w - w0)."""
    client = _federation(1, examples=2)[0]
    w0 = [np.full((FEATURES, CLASSES), 0.2), np.full(CLASSES, -0.1)]
    mu, lr = 0.7, 0.3
    got = sgd(w0, client.x, client.y, epochs=1, lr=lr, batch_size=1,
              rng=np.random.default_rng(5), proximal_mu=mu)
    order = np.random.default_rng(5).permutation(2)
    w = [p.copy() for p in w0]
    for i in order:
        grads = _gradients(w, client.x[[i]], client.y[[i]])
        w = [p - lr * (g + mu * (p - p0)) for p, g, p0 in zip(w, grads, w0, strict=True)]
    for a, b in zip(got, w, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-15)
    plain = sgd(w0, client.x, client.y, epochs=1, lr=lr, batch_size=1,
                rng=np.random.default_rng(5))
    assert not np.allclose(flatten(plain)[0], flatten(got)[0])  # the second step feels mu


def test_fedprox_is_one_fit_config_entry_and_pulls_toward_the_global_model():
    clients = _federation()
    sim = Simulation(clients_per_round=8)

    def step(mu: float | None) -> np.ndarray:
        fit = {} if mu is None else {"proximal_mu": mu}
        res = run_fedavg(clients, _start(), FedAvgConfig(aggregator="plain", clip=1.0, rounds=1,
                                                         fit_config=fit, simulation=sim))
        return flatten(res.parameters)[0]

    # the client's own default (0) is FedAvg; fit_config's mu overrides it
    np.testing.assert_array_equal(step(None), step(0.0))
    sizes = [np.linalg.norm(step(mu)) for mu in (0.0, 1.0, 10.0)]
    assert sizes[0] > sizes[1] > sizes[2] > 0
    own = [dataclasses.replace(c, proximal_mu=1.0) for c in clients]
    res = run_fedavg(own, _start(), FedAvgConfig(aggregator="plain", clip=1.0, rounds=1,
                                                 simulation=sim))
    np.testing.assert_array_equal(flatten(res.parameters)[0], step(1.0))


@pytest.mark.parametrize("mu", [-0.1, float("nan"), "0.1", True])
def test_bad_proximal_mu_is_refused(mu):
    with pytest.raises(ConfigError, match=r"fit_config\['proximal_mu'\].*>= 0"):
        FedAvgConfig(clip=1.0, fit_config={"proximal_mu": mu})


def test_fedprox_secure_equals_plain_within_the_bound():
    """Same seed, same first-round inputs: the models differ by the encoder's bound at most."""
    clients = _federation(seed=1)
    sim = Simulation(clients_per_round=8, seed=1)
    runs = {name: run_fedavg(clients, _start(), FedAvgConfig(
        aggregator=name, clip=1.0, rounds=1, max_weight=50, fit_config={"proximal_mu": 0.5},
        simulation=sim)) for name in ("plain", "secagg+")}
    rec = runs["secagg+"].history.records[0]
    assert rec.survivors == runs["plain"].history.records[0].survivors
    diff = np.abs(flatten(runs["plain"].parameters)[0] - flatten(runs["secagg+"].parameters)[0])
    assert 0 < diff.max() < rec.quantization_bound


# --- SCAFFOLD: the client ----------------------------------------------------------------------

def test_scaffold_client_known_answer():
    """y follows SGD with gradients corrected by c - c_i; Δc_i = (x - y)/(K·lr) - c, which with
    c_i = 0 is the mean of the K corrected gradients minus c (Karimireddy et al., option II)."""
    client = _federation(1, examples=10)[0]
    x = [np.full((FEATURES, CLASSES), 0.1), np.zeros(CLASSES)]
    c = [np.full((FEATURES, CLASSES), 0.05), np.full(CLASSES, -0.02)]
    lr, steps = client.lr, local_steps(10, epochs=1, batch_size=8)
    assert steps == 2
    out, n, _ = client.fit(x + c, {"round": 3, "scaffold": True})
    assert len(out) == 4 and n == 10
    y, delta_c = out[:2], out[2:]
    rng = np.random.default_rng([client.seed, 3, client.client_id])
    order = rng.permutation(10)
    w, seen = [p.copy() for p in x], []
    for batch in (order[:8], order[8:]):
        g = [gi + ci for gi, ci in zip(_gradients(w, client.x[batch], client.y[batch]), c,
                                       strict=True)]
        seen.append(g)
        w = [p - lr * gi for p, gi in zip(w, g, strict=True)]
    for j in range(2):
        np.testing.assert_allclose(y[j], w[j], rtol=0, atol=1e-15)
        mean_grad = (seen[0][j] + seen[1][j]) / 2
        np.testing.assert_allclose(delta_c[j], mean_grad - c[j], rtol=0, atol=1e-12)
    assert client.control is None  # c_i moves only when the server says the input counted
    client.commit_control(delta_c)
    for j in range(2):
        np.testing.assert_array_equal(client.control[j], delta_c[j])


def test_scaffold_needs_clients_that_speak_it_and_a_known_algorithm():
    with pytest.raises(ConfigError, match="algorithm must be one of 'fedavg', 'scaffold'"):
        FedAvgConfig(clip=1.0, algorithm="scafold")
    config = FedAvgConfig(aggregator="plain", clip=1.0, rounds=1, algorithm="scaffold")
    with pytest.raises(ConfigError, match="client 1 is a ShiftClient"):
        run_fedavg(make_shift_clients(3, 6), initial(6), config)


# --- SCAFFOLD: the server -------------------------------------------------------------------

def test_scaffold_sums_the_control_variates_securely_and_c_is_their_mean():
    """Every client submits one vector concat(Δy_i, Δc_i) of length 2·d to secagg+ (the codec
    carries 2·d + 1 integers: the weight too); the server's c is the weighted mean of the Δc_i
    over the survivors, and the secure run equals the plain one within the encoder's bound."""
    runs = {}
    for name in ("plain", "secagg+"):
        clients = _federation(seed=2, equal=False)
        agg = Recording(make_aggregator(name))
        res = run_fedavg(clients, _start(), FedAvgConfig(
            aggregator=agg, clip=2.0, rounds=1, max_weight=50, algorithm="scaffold",
            simulation=Simulation(clients_per_round=8, seed=2)))
        runs[name] = (clients, agg, res)
    clients, agg, res = runs["secagg+"]
    seen = agg.rounds[0]
    assert {len(u) for u in seen["updates"].values()} == {2 * DIM}
    assert seen["codecs"][-1].length == 2 * DIM + 1
    rec = res.history.records[0]
    assert rec.survivors == tuple(range(1, 9)) and rec.clipped_fraction == 0
    qb = rec.quantization_bound
    # each survivor's c_i started at 0 and moved by its Δc_i: the second half it submitted
    deltas = {c: flatten(clients[c - 1].control)[0] for c in rec.survivors}
    for c in rec.survivors:
        np.testing.assert_array_equal(deltas[c], seen["updates"][c][DIM:])
    w = np.array([seen["weights"][c] for c in rec.survivors])
    mean_dc = sum(wi * deltas[c] for wi, c in zip(w, rec.survivors, strict=True)) / w.sum()
    assert np.abs(flatten(res.control)[0] - mean_dc).max() < qb  # |S|/N = 1 here
    _, _, plain = runs["plain"]
    np.testing.assert_allclose(flatten(plain.control)[0], mean_dc, rtol=0, atol=1e-12)
    model_diff = np.abs(flatten(plain.parameters)[0] - flatten(res.parameters)[0])
    control_diff = np.abs(flatten(plain.control)[0] - flatten(res.control)[0])
    assert 0 < model_diff.max() < qb and 0 < control_diff.max() < qb


def test_scaffold_c_stays_the_mean_of_all_clients_c_i_through_dropouts():
    """Equal weights, partial participation, dropouts: c ← c + (|S|/N)·mean_S Δc and only the
    survivors move their c_i, so c = (1/N)·Σ_i c_i after every round (the paper's invariant)."""
    clients = _federation(n=8, seed=3)
    agg = Recording(make_aggregator("plain"))
    seen_c = []
    res = run_fedavg(clients, _start(), FedAvgConfig(
        aggregator=agg, clip=1.0, rounds=4, algorithm="scaffold",
        simulation=Simulation(clients_per_round=6, dropout=0.3, seed=3)),
        on_round=lambda rec: seen_c.append(rec.survivors))
    survivors = [set(s) for s in seen_c]
    assert any(len(s) < 8 for s in survivors) and all(s for s in survivors)
    ever = set().union(*survivors)
    mean_ci = sum(flatten(c.control)[0] for c in clients if c.client_id in ever) / len(clients)
    np.testing.assert_allclose(flatten(res.control)[0], mean_ci, rtol=0, atol=1e-12)
    assert all(c.control is None for c in clients if c.client_id not in ever)
    # what each survivor submitted is what it committed (c_i is the sum of its Δc_i sent)
    for cid in ever:
        sent = sum(r["updates"][cid][DIM:] for r in agg.rounds
                   if cid in r["result"].survivors)
        np.testing.assert_allclose(flatten(clients[cid - 1].control)[0], sent, rtol=0,
                                   atol=1e-12)


def test_scaffold_clipped_control_moves_c_i_by_what_was_sent():
    """A clip that bites on Δc_i: the client's c_i moves by the clipped Δc_i it submitted, so
    the invariant c = mean c_i survives clipping."""
    clients = _federation(n=4, seed=4, lr=0.01)  # Δc ≈ Δy/(K·lr): large next to the clip
    res = run_fedavg(clients, _start(), FedAvgConfig(
        aggregator="plain", clip=0.05, rounds=2, algorithm="scaffold",
        simulation=Simulation(clients_per_round=4)))
    assert all(r.clipped_fraction == 1.0 for r in res.history)
    mean_ci = sum(flatten(c.control)[0] for c in clients) / len(clients)
    np.testing.assert_allclose(flatten(res.control)[0], mean_ci, rtol=0, atol=1e-12)
    assert np.abs(flatten(res.control)[0]).max() <= 2 * 0.05 + 1e-12


def test_scaffold_trains():
    """A sanity run: a few SCAFFOLD rounds lower the loss on label-skewed clients."""
    clients = _federation(seed=5)
    res = run_fedavg(clients, _start(), FedAvgConfig(
        aggregator="plain", clip=1.0, rounds=5, algorithm="scaffold",
        simulation=Simulation(clients_per_round=8)))
    losses = [r.loss for r in res.history]
    assert losses[-1] < losses[0]
