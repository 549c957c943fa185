"""The relay's partitioner places every key exactly where aiokafka's default (murmur2) does.

A user's events must stay on one partition whichever version of the relay sent them, so the
remembered hashes may only ever repeat the default's answer.
"""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from web.outbox.publishers.kafka import RememberingPartitioner

PARTITION_LISTS = st.integers(min_value=1, max_value=64).map(lambda n: list(range(n)))


@given(keys=st.lists(st.binary(max_size=40), min_size=1, max_size=20), partitions=PARTITION_LISTS)
def test_every_key_goes_where_the_default_partitioner_sends_it(
    keys: list[bytes], partitions: list[int]
) -> None:
    remembering = RememberingPartitioner(size=8)
    for key in keys * 2:  # the second time from the cache
        assert remembering(key, partitions, partitions) == DefaultPartitioner()(key, partitions, partitions)


def test_a_key_is_hashed_once_however_often_it_is_sent() -> None:
    remembering = RememberingPartitioner()
    for _ in range(3):
        remembering(b"user-a", [0, 1, 2], [0, 1, 2])
    info = remembering._hash.cache_info()
    assert (info.misses, info.hits) == (1, 2)


def test_no_key_picks_an_available_partition() -> None:
    assert RememberingPartitioner()(None, [0, 1, 2, 3], [2]) == 2
