"""The registry of served API versions. Handlers register their own range at import; ApiVersions is
built from this registry, so advertised and accepted ranges cannot drift (kfake's ``regKey``)."""

from __future__ import annotations

from dataclasses import dataclass

from pykafka_broker.protocol.api_keys import ApiKey


@dataclass(frozen=True, slots=True)
class VersionRange:
    api_key: ApiKey
    min_version: int  # lowest version accepted
    max_version: int
    advertised_min: int  # lowest version advertised (Produce advertises 0 but rejects 0-2)

    def accepts(self, version: int) -> bool:
        return self.min_version <= version <= self.max_version

    def advertises(self, version: int) -> bool:
        return self.advertised_min <= version <= self.max_version


class VersionRegistry:
    def __init__(self) -> None:
        self._ranges: dict[ApiKey, VersionRange] = {}

    def register(self, api_key: ApiKey, min_version: int, max_version: int,
                 advertised_min: int | None = None) -> VersionRange:
        if api_key in self._ranges:
            raise RuntimeError(f"{api_key.name} registered twice")
        if not 0 <= min_version <= max_version:
            raise ValueError(f"bad range {min_version}-{max_version} for {api_key.name}")
        vr = VersionRange(api_key, min_version, max_version,
                          min_version if advertised_min is None else advertised_min)
        self._ranges[api_key] = vr
        return vr

    def get(self, api_key: int) -> VersionRange | None:
        try:
            return self._ranges.get(ApiKey(api_key))
        except ValueError:
            return None

    def ranges(self) -> list[VersionRange]:
        return [self._ranges[k] for k in sorted(self._ranges)]
