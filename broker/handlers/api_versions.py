"""ApiVersions (key 18), versions 0-4.

Built from the handler registry, so what we advertise is exactly what we accept. A request above
our maximum is answered at v0 with UNSUPPORTED_VERSION and our ranges (KIP-511), so the client can
retry with a version we speak. Produce is advertised from v0 although v0-2 are rejected per request:
librdkafka <= 2.11 disables compression when Produce's minimum is above 0 (KAFKA-18659).
From v3 the features (KIP-584): ``transaction.version`` is supported 0-1 and finalized at 1 — the
transaction protocol implemented here (no epoch bump per EndTxn, partitions added explicitly); level 2
(KIP-890 part 2) is not advertised, so clients that check it keep to version 1.
Ignored: client software name/version (v3+).
"""

from __future__ import annotations

from pykafka_broker.broker.dispatch import REGISTRY, RequestContext, handler
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.errors import ErrorCode

MIN_VERSION, MAX_VERSION = 0, 4
SUPPORTED_FEATURES = {"transaction.version": (0, 1)}
FINALIZED_FEATURES = {"transaction.version": 1}
FINALIZED_FEATURES_EPOCH = 0


@handler(ApiKey.API_VERSIONS, MIN_VERSION, MAX_VERSION, raw=True)
def handle_api_versions(ctx: RequestContext, body: memoryview) -> list[bytes]:
    version = ctx.api_version
    error = ErrorCode.NONE
    if not MIN_VERSION <= version <= MAX_VERSION:
        version, error = 0, ErrorCode.UNSUPPORTED_VERSION
    else:
        # Decode only to reject garbage; nothing in the request changes our answer.
        messages.decode_request(ApiKey.API_VERSIONS, version, body)
    cls = messages.response_type(ApiKey.API_VERSIONS)
    keys = [cls.ApiVersion(api_key=int(r.api_key), min_version=r.advertised_min, max_version=r.max_version)
            for r in REGISTRY.ranges()]
    fields: dict[str, object] = {}
    if version >= 3 and error == ErrorCode.NONE:
        fields = {
            "supported_features": [cls.SupportedFeatureKey(name=name, min_version=lo, max_version=hi)
                                   for name, (lo, hi) in SUPPORTED_FEATURES.items()],
            "finalized_features_epoch": FINALIZED_FEATURES_EPOCH,
            "finalized_features": [cls.FinalizedFeatureKey(name=name, max_version_level=level,
                                                           min_version_level=level)
                                   for name, level in FINALIZED_FEATURES.items()],
        }
    resp = messages.new_response(ApiKey.API_VERSIONS, version, error_code=int(error), api_keys=keys,
                                 throttle_time_ms=0, **fields)
    return [messages.encode_response(ApiKey.API_VERSIONS, version, resp)]
