"""The local cluster's layout and a broker's kill, without starting Kafka."""

from __future__ import annotations

import pytest

from driftline.broker import LocalBroker, LocalCluster
from driftline.exceptions import BrokerError


def test_every_node_has_its_folder_id_and_ports_and_they_share_the_quorum_and_cluster_id(tmp_path):
    c = LocalCluster(tmp_path, size=3)
    assert [n.data_dir.name for n in c.nodes] == ["node1", "node2", "node3"]
    assert [n.node_id for n in c.nodes] == [1, 2, 3]
    assert len({n.port for n in c.nodes} | {n.controller_port for n in c.nodes}) == 6
    assert len({n.voters for n in c.nodes}) == 1 and len({n.cluster_id for n in c.nodes}) == 1
    assert c.nodes[0].voters.split(",")[1] == f"2@127.0.0.1:{c.nodes[1].controller_port}"
    assert {n.replicas for n in c.nodes} == {3}
    assert {n.replicas for n in LocalCluster(tmp_path / "pair", size=2).nodes} == {2}


def test_ports_must_match_the_size(tmp_path):
    with pytest.raises(BrokerError, match="a cluster of 3 needs 3 client and 3 controller ports"):
        LocalCluster(tmp_path, size=3, ports=[1, 2])


def test_kill_of_a_broker_that_does_not_run_says_so(tmp_path):
    assert LocalBroker(tmp_path, port=1).kill() is False
