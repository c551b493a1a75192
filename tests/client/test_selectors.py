"""The built-in selectors on their own (sans-IO): weights, round-trip mapping, geo, hashing, sticky."""

from __future__ import annotations

from collections import Counter

import pytest

from rpcx import NoServerAvailableError
from rpcx.client import Call, Outcome, RoundRobinSelector
from rpcx.client.consistent_hash import ConsistentHashSelector, go_sprint
from rpcx.client.geo import ClosestSelector, distance
from rpcx.client.selector import StickySelector
from rpcx.client.weighted import WeightedICMPSelector, WeightedRoundRobinSelector, rtt_weight, weight_from_metadata

CALL = Call("Arith", "Mul")


def test_smooth_weighted_round_robin_spreads_within_a_cycle() -> None:
    s = WeightedRoundRobinSelector({"a": "weight=5", "b": "weight=1", "c": "weight=1"})
    seq = "".join(s.select(CALL) for _ in range(7))
    assert seq == "aabacaa"  # nginx's smooth order, not "aaaaabc"
    assert Counter(s.select(CALL) for _ in range(700)) == {"a": 500, "b": 100, "c": 100}


def test_weight_metadata_parsing() -> None:
    assert weight_from_metadata("group=x&weight=7") == 7
    assert weight_from_metadata("weight=-3") == 0
    assert weight_from_metadata("weight=") == 1
    s = WeightedRoundRobinSelector({"a": "weight=0", "b": "weight=2"})
    assert {s.select(CALL) for _ in range(10)} == {"b"}  # weight 0: out of the rotation


def test_all_zero_weights_are_a_clear_error_and_no_servers_is_none() -> None:
    with pytest.raises(NoServerAvailableError, match="every server has weight 0"):
        WeightedRoundRobinSelector({"a": "weight=0", "b": "weight=0"}).select(CALL)
    assert WeightedRoundRobinSelector({}).select(CALL) is None


def test_update_restarts_the_rotation_with_new_weights() -> None:
    s = WeightedRoundRobinSelector({"a": "weight=1"})
    s.update_server({"a": "weight=1", "b": "weight=3"})
    assert Counter(s.select(CALL) for _ in range(8)) == {"a": 2, "b": 6}


def test_rtt_to_weight_is_gos_mapping() -> None:
    assert [rtt_weight(t) for t in (0, 5, 10, 11, 50, 200, 201, 500, 999, 1000, 5000, -1)] == \
        [191, 191, 191, 190, 151, 1, 1, 1, 1, 0, 0, 0]


def test_weighted_icmp_from_measured_round_trips() -> None:
    now = [0.0]
    s = WeightedICMPSelector({"a": "", "b": "", "c": ""}, recheck=30.0, clock=lambda: now[0])
    assert s.weights == {"a": 191, "b": 191, "c": 191}  # not measured yet
    s.record_rtt("a", 0.002)  # 2 ms -> 191
    s.record_rtt("b", 0.150)  # 150 ms -> 51
    s.record_rtt("c", None)  # no ping answered: Go's 1000 ms -> 0
    s.record_rtt("zz", 0.001)  # not listed: ignored
    assert s.weights == {"a": 191, "b": 51, "c": 0}
    assert Counter(s.select(CALL) for _ in range(242)) == {"a": 191, "b": 51}
    s.report("b", Outcome.SUCCESS, 5.0)  # a call's latency is not a round trip: unchanged
    s.report("b", Outcome.TIMEOUT, 5.0)
    assert s.weights["b"] == 51
    s.report("a", Outcome.DIAL_ERROR, 0.0)  # a failed dial is a failed ping, until measured again
    assert s.weights["a"] == 0
    now[0] = 30.0  # after the recheck time a failed server gets a trial weight
    assert s.weights["a"] == 1 and s.weights["c"] == 1
    s.record_rtt("a", 0.012)
    assert s.weights["a"] == 189
    for k in "abc":
        s.report(k, Outcome.CONNECTION_ERROR, 0.0)
    assert {s.select(CALL) for _ in range(30)} == {"a", "b", "c"}  # all failed: all tried alike
    s.update_server({"a": ""})
    assert s.weights == {"a": 0} and s.rtts == {"a": 0.012} and s.servers == ["a"]


def test_haversine_distance_with_gos_radius() -> None:
    assert distance(0, 0, 0, 0) == 0
    # a quarter of the equator on a sphere of radius 6378100 m
    assert distance(0, 0, 0, 90) == pytest.approx(6378100 * 3.141592653589793 / 2)


def test_closest_ties_are_random_and_bad_coordinates_skipped() -> None:
    s = ClosestSelector({"a": "latitude=1&longitude=1", "b": "latitude=1&longitude=1",
                         "c": "latitude=x&longitude=1", "d": "latitude=1"}, 0.0, 0.0)
    assert {s.select(CALL) for _ in range(200)} == {"a", "b"}
    assert ClosestSelector({"c": "latitude=x&longitude=1"}, 0.0, 0.0).select(CALL) is None


def test_consistent_hash_moves_about_one_nth_of_keys_when_a_server_leaves() -> None:
    servers = {f"tcp@127.0.0.1:{9000 + i}": "" for i in range(10)}
    s = ConsistentHashSelector(servers)
    keys = [f"user-{i}" for i in range(5000)]
    before = {k: s.select(Call("Arith", "Mul", k)) for k in keys}
    assert len(set(before.values())) == 10
    gone = "tcp@127.0.0.1:9003"
    s.update_server({k: v for k, v in servers.items() if k != gone})
    after = {k: s.select(Call("Arith", "Mul", k)) for k in keys}
    moved = [k for k in keys if before[k] != after[k]]
    assert set(moved) == {k for k in keys if before[k] == gone}
    assert len(moved) < 5000 * 0.15  # about 1/10 of the keys
    s.update_server(servers)  # it comes back: it takes its hole, and its keys
    assert {k: s.select(Call("Arith", "Mul", k)) for k in keys} == before


def test_go_sprint_of_values_go_cannot_share() -> None:
    class Opaque:
        def __str__(self) -> str:
            return "opaque"

    assert go_sprint(Opaque()) == "opaque"  # documented: Python's str, not Go's
    assert go_sprint(float("inf")) == "+Inf" and go_sprint(-0.0) == "-0" and go_sprint(1234567.0) == "1.234567e+06"
    assert go_sprint(0.0001) == "0.0001" and go_sprint(0.00001) == "1e-05" and go_sprint(123456.0) == "123456"


def test_sticky_keeps_a_server_through_service_errors_and_drops_it_on_failure() -> None:
    s = StickySelector(RoundRobinSelector())
    s.update_server({"a": "", "b": "", "c": ""})
    s.report("b", Outcome.SUCCESS, 0.0)
    assert {s.select(CALL) for _ in range(5)} == {"b"}
    s.report("b", Outcome.SERVICE_ERROR, 0.0)
    assert s.select(CALL) == "b"
    s.report("b", Outcome.BREAKER_OPEN, 0.0)
    assert s.sticky is None
    s.report("c", Outcome.SUCCESS, 0.0)
    s.update_server({"a": "", "b": ""})  # the sticky server left
    assert s.sticky is None
