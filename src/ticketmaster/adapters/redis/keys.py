"""Every Redis key the service uses, built in one place.

All keys of one event share the hash tag ``{evt:<id>}`` so each script touches a single
Cluster slot; venue layouts are tagged per venue. The namespace prefix lets several
deployments (or test runs) share one Redis without touching each other's keys.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RedisKeys:
    namespace: str = "tm"

    def event_tag(self, event_id: str) -> str:
        return f"{self.namespace}:{{evt:{event_id}}}"

    def venue_layout(self, venue_id: str) -> str:
        """JSON layout of a venue (sections, rows, seat ids); immutable once imported."""
        return f"{self.namespace}:{{ven:{venue_id}}}:layout"

    def event_pricing(self, event_id: str) -> str:
        """JSON map section id -> price tier id of an event."""
        return f"{self.event_tag(event_id)}:pricing"

    def all_keys_pattern(self) -> str:
        """SCAN pattern matching every key of this namespace (operators and tests)."""
        return f"{self.namespace}:*"
