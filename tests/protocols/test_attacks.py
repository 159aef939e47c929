"""The attacks of the outside review, run against the real client and server objects.

Each test plays a server that deviates (``adversary.Attack``) together with corrupt clients whose
whole state it reads, and asserts the one thing that matters: the target's input is never
recovered, and a sum that is returned is exact. Every scenario here recovered the target's input
(or returned a wrong sum) on the code before the fix; the fix's reason is in each docstring.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols import (
    AbortError,
    MalformedMessage,
    ProtocolViolation,
    SecAggConfig,
    SecAggError,
    Stage,
)
from protocols.secagg import codec
from protocols.secagg.graph import build_graph
from protocols.secagg.messages import KeyList, SeedReveal, UnmaskShares

from .adversary import Attack
from .helpers import SESSION, Round, expected_sum

# --- break 1: split view with one corrupt client (malicious mode) -----------------------------


def split_view(attack: Attack, target: int) -> None:
    """Show ``target`` alive to just enough honest holders of its shares (with the corrupt ones,
    t of them) and dropped to all the others. Clients holding no share of the target are shown
    whichever view their neighbours lack signatures on; the corrupt clients sign both views and
    hand over both kinds of share."""
    cfg = attack.config
    everyone = set(cfg.client_ids)
    view_of = plan_split(attack, target)
    views = {"A": (everyone, set()), "B": (everyone - {target}, {target})}
    attack.collect_masked(sorted(everyone))
    sigs: dict[str, dict[int, bytes]] = {"A": {}, "B": {}}
    if cfg.malicious:
        for name, (alive, _) in views.items():
            sigs[name].update(attack.sign_as_corrupt(tuple(sorted(alive))))
        for u, name in view_of.items():
            sig = attack.ask_signature(u, *views[name])
            if sig is not None:
                sigs[name][u] = sig
    for u, name in view_of.items():
        attack.ask_unmask(u, *views[name], signatures=sigs[name])


def plan_split(attack: Attack, target: int) -> dict[int, str]:
    """The view ("A": target alive, "B": dropped) each honest client is shown: the first split
    of the target's honest holders (t - c of them in A with the target) under which every
    revealer gets t signatures on its view, searched over the splits; else the last tried."""
    holders = sorted((attack.neighbors(target) | {target}) - attack.corrupt - {target})
    in_a = max(attack.config.t - len(attack.corrupt & attack.neighbors(target)), 1) - 1
    rest = sorted(set(attack.config.client_ids) - attack.corrupt - {target} - set(holders))
    plan: dict[int, str] = {}
    for chosen in itertools.islice(itertools.combinations(holders, in_a), 200):
        plan = {u: "A" if u in chosen else "B" for u in holders}
        plan[target] = "A"
        _assign_bystanders(attack, plan, rest)
        if not _short_of_signatures(attack, plan, holders + [target]):
            break
    return plan


def _short_of_signatures(attack: Attack, plan: dict[int, str], revealers: list[int]) -> bool:
    def signers(r: int) -> int:
        closed = attack.neighbors(r) | {r}
        return len(closed & attack.corrupt) + sum(plan.get(w) == plan[r] for w in closed)
    return any(signers(r) < attack.config.t for r in revealers)


def _assign_bystanders(attack: Attack, view_of: dict[int, str], bystanders: list[int]) -> None:
    """Greedy: each bystander signs the view whose revealers around it are furthest from the
    t signatures they need from their closed neighbourhood."""
    revealers = dict(view_of)
    closed = {r: attack.neighbors(r) | {r} for r in revealers}
    need = {r: attack.config.t - len(closed[r] & attack.corrupt)
            - sum(view_of[w] == view_of[r] for w in closed[r] & revealers.keys())
            for r in revealers}
    for w in bystanders:
        gain = {name: sum(max(need[r], 0) for r in revealers
                          if revealers[r] == name and w in closed[r]) for name in ("A", "B")}
        view_of[w] = "B" if gain["B"] > gain["A"] else "A"
        for r in revealers:
            if revealers[r] == view_of[w] and w in closed[r]:
                need[r] -= 1


def _corrupt_neighbours(attack: Attack, target: int, count: int) -> frozenset[int]:
    return frozenset(sorted(attack.neighbors(target))[:count])


@pytest.mark.parametrize("n", [10, 20, 100, 130])
def test_split_view_with_one_corrupt_neighbour_recovers_nothing(n: int) -> None:
    """The review's break: for_secagg_plus(range(1, 11), malicious=True) gave k=4, t=3 and the
    rule 2t > k; with one corrupt neighbour the two halves each reached t shares. The finder now
    keeps 2t > k + 1 + a (and the complete graph below 100 clients)."""
    cfg = SecAggConfig.for_secagg_plus(range(1, n + 1), 4, malicious=True, session_id=SESSION)
    attack = Attack(cfg)
    attack.setup()
    target = cfg.client_ids[0]
    attack.corrupt = _corrupt_neighbours(attack, target, 1)
    split_view(attack, target)
    assert not attack.recovered_input(target)
    kinds = [set(attack.revealed[k].get(target, {})) for k in (0, 1)]
    assert not (kinds[0] & kinds[1]), "an honest client revealed both kinds of share"


def test_the_split_view_harness_does_recover_at_the_old_boundary() -> None:
    """The harness has teeth: at the old boundary parameters (a config the library now refuses,
    built here past its checks) the same attack recovers the target's input exactly."""
    cfg = SecAggConfig(client_ids=range(1, 11), vector_length=4, neighbors=4, threshold=4,
                       malicious=True, max_dropouts=0, max_corrupt=1, session_id=SESSION)
    object.__setattr__(cfg, "threshold", 3)  # 2t = k + 1 + a: what the old finder returned
    object.__setattr__(cfg, "max_dropouts", 1)  # and no budget to speak of
    attack = Attack(cfg)
    attack.setup()
    target = cfg.client_ids[0]
    for corrupt in sorted(attack.neighbors(target)):  # one whose place lets every view sign
        attack.corrupt = frozenset({corrupt})
        holders = sorted(attack.neighbors(target) - attack.corrupt)
        if not _short_of_signatures(attack, plan_split(attack, target), [*holders, target]):
            break
    split_view(attack, target)
    assert attack.recovered_input(target)


# --- break 2: an honest-but-curious server, a colluder and unplanned dropouts -----------------


def isolate(attack: Attack, target: int, dropped: set[int]) -> str:
    """Honest server: ``dropped`` go silent before their masked input. Returns where the round
    stopped: 'server' (its budget or neighbour checks), 'clients', or 'done'."""
    r = attack.round
    senders = [u for u in sorted(r.to_clients) if u not in dropped]
    attack.collect_masked(senders)
    for u in senders:
        r.server.receive(u, codec.encode(_masked(attack, u), attack.config))
    try:
        requests = r.close()
    except AbortError:
        return "server"
    for u, msg in requests.items():
        try:
            wire = r.clients[u].unmask(msg)
        except AbortError as exc:
            attack.refusals[u] = exc
            continue
        r.server.receive(u, wire)
        if u not in attack.corrupt:
            attack._keep(u, codec.decode(wire, attack.config, UnmaskShares))
    return "clients" if attack.refusals else "done"


def _masked(attack: Attack, u: int):  # noqa: ANN202 - the MaskedInput as sent
    from protocols.secagg.messages import MaskedInput  # noqa: PLC0415

    return MaskedInput(u, attack.masked[u])


def test_unplanned_dropouts_around_a_target_abort_before_anything_is_revealed() -> None:
    """The review's break at n = 20 (old finder: k = 4, t = 2): three of the target's four
    neighbours dropped, the round completed through the colluder, and the colluder's pairwise
    key gave x_v. Now n = 20 gets the complete graph, and beyond the budget the round stops."""
    cfg = SecAggConfig.for_secagg_plus(range(1, 21), 4, session_id=SESSION)
    attack = Attack(cfg)
    attack.setup()
    target = 1
    attack.corrupt = frozenset({2})
    others = set(cfg.client_ids) - {target, 2}
    assert isolate(attack, target, others) == "server"
    assert not attack.revealed[1] and not attack.recovered_input(target)


def _target_with_corrupt_neighbours(n: int) -> tuple[SecAggConfig, Attack, list[int]]:
    """A SecAgg+ round set up to masked input, whose client 1 has a corrupt neighbours (the
    most the parameters allow); returns the config, the attack and client 1's neighbours."""
    cfg = SecAggConfig.for_secagg_plus(range(1, n + 1), 4, session_id=SESSION)
    attack = Attack(cfg)
    attack.setup()
    nbrs = sorted(attack.neighbors(1))
    attack.corrupt = frozenset(nbrs[: cfg.corrupt_neighbors])
    return cfg, attack, nbrs


@pytest.mark.parametrize("n", [100, 140])
def test_sparse_dropouts_beyond_the_budget_stop_the_round(n: int) -> None:
    """SecAgg+ at the finder's parameters: the target keeps a corrupt neighbours; dropping its
    other neighbours exceeds the budget D = ⌈δn⌉, so the server stops before the survivors are
    announced, and a server that announces them anyway meets clients that refuse."""
    cfg, attack, nbrs = _target_with_corrupt_neighbours(n)
    target = 1
    dropped = set(nbrs) - attack.corrupt
    assert len(dropped) > cfg.max_dropouts
    assert isolate(attack, target, dropped) == "server"
    alive = set(cfg.client_ids) - dropped
    for u in sorted(alive - attack.corrupt):  # a server that ignores its own checks
        assert not attack.ask_unmask(u, alive, dropped)
        assert isinstance(attack.refusals[u], AbortError)
    assert not attack.recovered_input(target)


@pytest.mark.parametrize("n", [100, 140])
def test_dropouts_within_the_budget_leave_an_honest_neighbour(n: int) -> None:
    """Within the budget the target keeps t surviving neighbours, at most a < t of them corrupt:
    the round completes with the exact sum and the target's input stays hidden."""
    cfg, attack, nbrs = _target_with_corrupt_neighbours(n)
    target = 1
    honest = [v for v in nbrs if v not in attack.corrupt]
    dropped = set(honest[: min(cfg.max_dropouts, len(honest))])
    assert isolate(attack, target, dropped) == "done"
    assert not attack.recovered_input(target)
    server = attack.round.server
    server.close_stage()
    want = expected_sum(cfg, attack.round.inputs, server.included)
    assert np.array_equal(server.result(), want)


# --- break 3: the server cannot grind the graph ------------------------------------------------


def _malicious_sparse(n: int = 120) -> SecAggConfig:
    return SecAggConfig.for_secagg_plus(range(1, n + 1), 4, malicious=True, session_id=SESSION)


def test_the_malicious_graph_is_not_what_the_session_id_fixes() -> None:
    """A server that picked the session id for the graph it wanted does not get that graph:
    the clients place themselves by a seed of everyone's nonces, and all agree on it."""
    cfg = _malicious_sparse()
    assert cfg.graph_from_clients
    ground = build_graph(cfg)  # what grinding the session id would have chosen
    attack = Attack(cfg)
    attack.setup()
    views = {u: attack.neighbors(u) for u in cfg.client_ids}
    assert views != {u: ground.neighbors(u) for u in cfg.client_ids}
    assert views == {u: attack.server._graph.neighbors(u) for u in cfg.client_ids}


def test_a_nonce_changed_after_the_reveals_is_refused_by_every_client() -> None:
    """The server sees the honest nonces first; swapping a corrupt client's nonce for one that
    makes a graph it likes breaks the commitments every client checks."""
    cfg = _malicious_sparse()
    r = Round(cfg)
    r.stage()  # advertise: the commitments' digest goes out
    r.stage()  # reveal
    wire = r.to_clients[1]
    key_list = codec.decode(wire, cfg, KeyList)
    nonces = dict(key_list.nonces)
    nonces[5] = bytes(16)
    forged = codec.encode(KeyList(key_list.entries, tuple(sorted(nonces.items()))), cfg)
    with pytest.raises(ProtocolViolation, match="commitments"):
        r.clients[1].share_keys(forged)
    assert r.clients[1].stage is Stage.SHARE_KEYS  # nothing changed, the honest list still works
    r.clients[1].share_keys(wire)


def test_a_client_that_committed_but_does_not_reveal_aborts_the_round() -> None:
    """Leaving a nonce out after seeing the others would let the server pick among graphs."""
    cfg = _malicious_sparse()
    r = Round(cfg)
    r.stage()
    r.deliver(r.replies([u for u in cfg.client_ids if u != 7]))
    with pytest.raises(AbortError, match="every client that committed must reveal") as err:
        r.close()
    assert (err.value.needed, err.value.received) == (cfg.num_clients, cfg.num_clients - 1)


def test_a_reveal_that_does_not_open_its_commitment_is_refused_on_receipt() -> None:
    cfg = _malicious_sparse()
    r = Round(cfg)
    r.stage()
    with pytest.raises(ProtocolViolation, match="does not open"):
        r.server.receive(3, codec.encode(SeedReveal(3, bytes(16)), cfg))
    r.finish()  # the honest reveal still goes through
    r.check()


# --- break 4: tampered shares --------------------------------------------------------------------


def _tamper(reply: bytes, cfg: SecAggConfig, owner: int, kind: str) -> bytes:
    m = codec.decode(reply, cfg, UnmaskShares)
    pairs = dict(getattr(m, kind))
    share = bytearray(pairs[owner])
    share[0] = (share[0] + 1) % 251  # stays a field element: the codec cannot tell
    pairs[owner] = bytes(share)
    fields = {"mask_shares": m.mask_shares, "key_shares": m.key_shares}
    fields[kind] = tuple(sorted(pairs.items()))
    return codec.encode(UnmaskShares(m.sender, **fields), cfg)


def _to_unmasking(cfg: SecAggConfig, late: set[int] = frozenset()) -> tuple[Round, dict]:
    r = Round(cfg)
    r.stage()
    r.stage()
    r.stage([u for u in cfg.client_ids if u not in late])
    return r, r.replies()


def test_a_tampered_self_mask_share_is_routed_around_and_named() -> None:
    """The review's break: adding 1 to one limb of a share of a survivor's b_u gave a wrong sum
    with no error. The server now checks b_u against its dealer's commitment, finds the share
    that does not match, rebuilds from the spare ones and names the culprit."""
    cfg = SecAggConfig(client_ids=range(1, 7), vector_length=16, threshold=3, session_id=SESSION)
    r, replies = _to_unmasking(cfg)
    replies[1] = _tamper(replies[1], cfg, owner=2, kind="mask_shares")
    r.deliver(replies)
    r.close()
    r.check()
    assert r.server.misbehaving == frozenset({1})


def test_a_tampered_key_share_of_a_dropped_client_is_routed_around() -> None:
    """The review's break: 4 shares of a dropped client's s_sk, t = 3, one tampered: the round
    aborted although three honest shares were there. Now it completes and names the culprit."""
    cfg = SecAggConfig(client_ids=range(1, 6), vector_length=16, threshold=3, session_id=SESSION)
    r, replies = _to_unmasking(cfg, late={5})
    replies[2] = _tamper(replies[2], cfg, owner=5, kind="key_shares")
    r.deliver(replies)
    r.close()
    r.check()
    assert r.server.misbehaving == frozenset({2}) and r.server.included == {1, 2, 3, 4}


def test_too_few_good_shares_abort_and_name_the_culprits() -> None:
    cfg = SecAggConfig(client_ids=range(1, 6), vector_length=16, threshold=4, session_id=SESSION)
    r, replies = _to_unmasking(cfg, late={5})
    for bad in (1, 2):
        replies[bad] = _tamper(replies[bad], cfg, owner=5, kind="key_shares")
    r.deliver(replies)
    with pytest.raises(AbortError, match=r"clients \[1, 2\] revealed shares that do not match"):
        r.close()


def test_a_dealer_whose_shares_do_not_rebuild_its_commitment_aborts_the_round() -> None:
    """A dealer that commits to one b_u and deals shares of another can only spoil the round:
    it is named, and no sum is returned."""
    cfg = SecAggConfig(client_ids=range(1, 6), vector_length=16, threshold=3, session_id=SESSION)
    r = Round(cfg)
    r.stage()
    replies = r.replies()
    wire = bytearray(replies[4])
    wire[-1] ^= 1  # the last byte of dealer 4's commitment to b_4
    r.deliver({**replies, 4: bytes(wire)})
    r.close()
    r.stage()
    r.deliver(r.replies())
    with pytest.raises(AbortError, match="client 4 dealt shares"):
        r.close()


# --- break 6: mistyped ids -----------------------------------------------------------------------


@pytest.mark.parametrize("bad_id", [np.int64(1), True, 1.0, "1"])
def test_a_mistyped_client_id_is_refused_at_receive_and_changes_nothing(bad_id) -> None:
    cfg = SecAggConfig(client_ids=range(1, 6), vector_length=4, threshold=3, session_id=SESSION)
    r = Round(cfg)
    replies = r.replies()
    with pytest.raises(ProtocolViolation, match="must be an int"):
        r.server.receive(bad_id, replies[1])
    r.deliver(replies)
    r.close()
    r.check()


# --- every attack, many configurations ----------------------------------------------------------

RATES = [0.0, 0.05, 0.1, 0.2]


@st.composite
def attack_cases(draw: st.DrawFn):
    n = draw(st.sampled_from([8, 12, 30, 60, 100, 120, 150]))
    malicious = draw(st.booleans())
    try:
        cfg = SecAggConfig.for_secagg_plus(
            range(1, n + 1), 3, dropout=draw(st.sampled_from(RATES)),
            corrupt=draw(st.sampled_from(RATES)), malicious=malicious,
            session_id=draw(st.binary(min_size=16, max_size=16)))
    except ValueError:
        cfg = SecAggConfig.for_secagg_plus(range(1, n + 1), 3, malicious=malicious)
    hows = ["split", "isolate", "isolate-all"] if malicious else ["isolate", "isolate-all"]
    return cfg, draw(st.sampled_from(hows)), draw(st.integers(1, n))


@given(attack_cases())
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_no_attack_recovers_an_input_at_any_finder_choice(case) -> None:
    """Random n, rates and mode; the target's neighbours include as many corrupt clients as the
    parameters allow (a); the server splits views (malicious mode: a semi-honest server follows
    the protocol) or drops the target's honest neighbours (within the budget, or all of them).
    The target's input is never recovered."""
    cfg, how, target = case
    attack = Attack(cfg, seed=bytes(32))
    attack.setup()
    nbrs = sorted(attack.neighbors(target))
    attack.corrupt = frozenset(nbrs[: min(cfg.corrupt_neighbors, cfg.max_corrupt, cfg.t - 1)])
    honest = [v for v in nbrs if v not in attack.corrupt]
    try:
        if how == "split":
            split_view(attack, target)
        else:
            budget = len(honest) if how == "isolate-all" else cfg.max_dropouts
            isolate(attack, target, set(honest[:budget]))
    except SecAggError:
        pass  # the round stopped; what was revealed before is still checked below
    assert not attack.recovered_input(target)


def test_the_ring_cut_within_the_budget_is_refused_by_clients() -> None:
    """A server that drops two runs of k/2 around a group (within the budget, D >= k) cuts the
    survivors apart; clients see it in the graph and reveal nothing."""
    cfg = SecAggConfig.for_secagg_plus(range(1, 101), 4, dropout=0.2, corrupt=0.05,
                                       session_id=SESSION)
    assert cfg.max_dropouts >= cfg.degree
    from protocols.secagg.graph import shuffled_ids  # noqa: PLC0415

    ring = shuffled_ids(cfg.client_ids, cfg.session_id)
    half = cfg.degree // 2
    cut = set(ring[:half]) | set(ring[2 * half : 3 * half])  # isolates ring[half:2*half]
    attack = Attack(cfg)
    attack.setup()
    alive = set(cfg.client_ids) - cut
    attack.collect_masked(sorted(alive))
    for u in sorted(alive):
        assert not attack.ask_unmask(u, alive, cut)
        assert "split the neighbour graph" in str(attack.refusals[u])
    group = ring[half : 2 * half]
    assert not attack.revealed[0] and not attack.revealed[1]
    assert all(not attack.recovered_input(u) for u in group)


# --- the second review: dealers that deal bad shares, odd degrees ----------------------------


def _bad_dealer(client, victims: set[int], how: str) -> None:
    """Make ``client`` seal something unusable to ``victims`` (everyone else is dealt honestly)."""
    honest = client._seal
    size = codec.share_blob_size()

    def seal(peer_public: bytes, v: int, payload: bytes) -> bytes:
        if v not in victims:
            return honest(peer_public, v, payload)
        if how == "garbage":
            return bytes(len(honest(peer_public, v, payload)))
        limb = bytearray(payload[size : size + 4])
        if how == "outside the field":
            limb = bytearray((2**31 - 1).to_bytes(4, "little"))  # p itself
        else:  # "not committed": another field element than the one committed to
            limb = bytearray(((int.from_bytes(limb, "little") + 1) % (2**31 - 1)).to_bytes(4, "little"))
        return honest(peer_public, v, payload[:size] + bytes(limb) + payload[size + 4 :])

    client._seal = seal


def _run_with_bad_dealer(victims: set[int], how: str) -> Round:
    cfg = SecAggConfig(client_ids=range(1, 11), vector_length=4, session_id=SESSION)
    r = Round(cfg)
    _bad_dealer(r.clients[10], victims, how)
    r.stage()
    r.stage()
    return r


@pytest.mark.parametrize("how", ["garbage", "outside the field", "not committed"])
def test_a_dealer_that_deals_bad_shares_is_left_out_and_the_sum_is_exact(how: str) -> None:
    """The second review: a dealer that sealed garbage, a share outside the field, or a share
    other than the one it committed to made its holders refuse the stage (the round aborted) or
    got them named as misbehaving. Holders now check what they were dealt against the dealer's
    commitments (forwarded by the server) and refuse the dealer; the server leaves it out."""
    r = _run_with_bad_dealer({1, 2}, how)
    r.check()
    assert 10 not in r.server.included and r.server.reported == {10: frozenset({1, 2})}
    assert r.server.misbehaving == frozenset()


def test_a_dealer_refused_by_too_many_aborts_before_anything_is_revealed() -> None:
    r = _run_with_bad_dealer({1, 2, 3, 4}, "not committed")
    r.deliver(r.replies())
    with pytest.raises(AbortError, match=r"client 10's key; refused by \[1, 2, 3, 4\]") as err:
        r.close()
    assert (err.value.needed, err.value.received) == (7, 5)
    assert r.server.stage is Stage.ABORTED


@pytest.mark.parametrize(("n", "k"), [(21, 9), (101, 13)])
def test_an_odd_degree_needs_an_even_number_of_clients(n: int, k: int) -> None:
    """The second review: with k and n both odd one client of H_{k,n} has k + 1 neighbours, and
    the default t met 2t > k + 1 + a but not 2t > |N[u]| + a for it; a split view then gave a
    server with one colluder the client's input. Such configs are refused, also from bytes."""
    with pytest.raises(ValueError, match="odd degree"):
        SecAggConfig(client_ids=range(1, n + 1), vector_length=4, neighbors=k, malicious=True,
                     max_dropouts=n // 20, max_corrupt=1)
    even = SecAggConfig(client_ids=range(1, n + 2), vector_length=4, neighbors=k,
                        malicious=True, max_dropouts=n // 20, max_corrupt=1, session_id=SESSION)
    wire = bytearray(even.to_bytes())
    ids_at = len(wire) - 4 * (n + 1)
    wire[ids_at - 4 : ids_at] = n.to_bytes(4, "big")  # drop the last id: n odd
    with pytest.raises(MalformedMessage, match="odd degree"):
        SecAggConfig.from_bytes(bytes(wire[: len(wire) - 4]))
