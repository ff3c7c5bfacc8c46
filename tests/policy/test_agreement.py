"""The program and the policy pack agree on the facts they both hold (issue 10).

The pack stays independent of the program (defence in depth: it runs from policy/ with its own
requirements), so a few facts exist twice: the moving tags, what a node address looks like inside a
string, how a name splits into tokens, how an endpoint and a Go duration are read. Each pair is checked
over a generated corpus: a disagreement is a test failure, not a surprise in a preview.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.config.rules import MOVING_TAGS, node_pattern
from components.config.types import parse_endpoint
from components.durations import go_duration
from components.naming import tokens
from lab.program import go_seconds
from policy.keybuzz_policy import config as pack_config
from policy.keybuzz_policy import rules as pack_rules
from policy.keybuzz_policy.model import go_duration_seconds

pytestmark = pytest.mark.policy

ADDRESSES = ["10.0.0.12", "10.0.0.120", "10.0.0.1", "db-postgres-01", "10.0.0.10"]
NEIGHBOURS = ["", " ", "x", "a", "-", "_", ".", "0", "1", ".5", ":5432", "/", "@", "=", "db-", "1.", "Z"]


def test_moving_tags_are_one_list() -> None:
    assert frozenset(pack_config.SCHEMA["mutableTags"]["default"]) == MOVING_TAGS


@settings(max_examples=400, deadline=None)
@given(
    address=st.sampled_from(ADDRESSES),
    before=st.sampled_from(NEIGHBOURS),
    after=st.sampled_from(NEIGHBOURS),
    middle=st.text(alphabet="abc.-_:/ 0123456789", max_size=6),
)
def test_a_node_address_is_found_in_the_same_strings(address: str, before: str, after: str, middle: str) -> None:
    text = f"{middle}{before}{address}{after}{middle}"
    program = node_pattern(address).search(text) is not None
    pack = pack_rules.node_pattern(address).search(text) is not None
    assert program == pack, text


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="abcdevprodABC0123456789-_./:@ ", max_size=30))
def test_a_name_splits_into_the_same_tokens(name: str) -> None:
    assert tokens(name) == pack_rules.name_tokens(name)


DNS_NAME = r"[a-z]([a-z0-9-]{0,10}[a-z0-9])?(\.[a-z]([a-z0-9-]{0,10}[a-z0-9])?){0,3}"
_HOSTS = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.from_regex(re.compile(DNS_NAME), fullmatch=True),
)


@settings(max_examples=300, deadline=None)
@given(host=_HOSTS, port=st.integers(min_value=1, max_value=65535))
def test_an_endpoint_reads_the_same(host: str, port: int) -> None:
    text = f"{host}:{port}"
    mine = parse_endpoint(text)
    theirs = pack_config.parse_endpoint("postgresLb", text)
    assert (mine.host, mine.port) == (theirs.host, theirs.port) == (host, port)


@settings(max_examples=500, deadline=None)
@given(st.integers(min_value=1, max_value=10 * 24 * 3600))
def test_a_duration_the_program_writes_reads_back_the_same_everywhere(seconds: int) -> None:
    text = go_duration(seconds)
    assert go_duration_seconds(text) == seconds  # the pack (credentials-renew-before-expiry)
    assert go_seconds(text) == seconds  # the lab (what ESO writes back)
