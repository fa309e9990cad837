"""broker/error_response.py: UNKNOWN_SERVER_ERROR in each API's own response shape."""

from __future__ import annotations


def test_an_error_response_can_be_built_for_every_served_api_and_version() -> None:
    """The handler-bug path (dispatch._bug_response) never fails to answer for want of a shape."""
    from pykafka_broker.broker import handlers  # noqa: F401  (registers every handler)
    from pykafka_broker.broker.dispatch import _HANDLERS, REGISTRY
    from pykafka_broker.broker.error_response import build_error_response
    from pykafka_broker.protocol import messages

    built = 0
    for api_key in _HANDLERS:
        served, schema = REGISTRY.get(api_key), messages.schema_versions(api_key)
        assert served is not None
        if schema is None:
            continue
        for version in range(max(served.min_version, schema[0]), min(served.max_version, schema[1]) + 1):
            assert isinstance(build_error_response(api_key, version, None), bytes)
            built += 1
    assert built > 100
