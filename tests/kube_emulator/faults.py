"""Fault injection for the Kubernetes emulator: the failures reliability tests need (F5, F7)."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

# Reasons a real apiserver puts into the Status body for each code.
STATUS_REASONS: dict[int, str] = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


@dataclass
class Fault:
    """One injected failure; matches requests by method, path and watch-ness, `times` times."""

    method: str | None = None
    path_regex: str | None = None
    watch: bool | None = None
    status: int | None = None
    times: int | None = None
    delay: float = 0.0
    drop_after: int | None = None
    abort: bool = False
    gone: bool = False
    retry_after: int = 1
    message: str | None = None
    hits: int = 0
    _pattern: re.Pattern[str] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.status is not None and not 400 <= self.status <= 599:
            raise ValueError(f"fault status must be an HTTP error code, got {self.status}")
        if self.times is not None and self.times < 1:
            raise ValueError("fault times must be at least 1 (or None for every request)")
        self.method = self.method.upper() if self.method else None
        self._pattern = re.compile(self.path_regex) if self.path_regex else None

    @property
    def exhausted(self) -> bool:
        """Whether the fault has fired as many times as it was asked to."""
        return self.times is not None and self.hits >= self.times

    def matches(self, method: str, path: str, is_watch: bool) -> bool:
        """Whether this fault applies to a request (ignoring how often it already fired)."""
        if self.method is not None and self.method != method.upper():
            return False
        if self.watch is not None and self.watch != is_watch:
            return False
        return self._pattern is None or self._pattern.search(path) is not None


class FaultInjector:
    """Thread-safe: tests add faults on their thread while the server claims them on its loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.injected = 0

    def add(
        self,
        *,
        method: str | None = None,
        path_regex: str | None = None,
        watch: bool | None = None,
        status: int | None = None,
        times: int | None = None,
        delay: float = 0.0,
        drop_after: int | None = None,
        abort: bool = False,
        gone: bool = False,
        retry_after: int = 1,
        message: str | None = None,
    ) -> Fault:
        """Inject a failure into matching requests; `times=None` fires until removed.

        `status` answers with a Kubernetes Status body (429 carries Retry-After); `delay` holds the
        request that many seconds first; on watches, `drop_after=N` ends the stream after N events
        (`abort=True` resets the connection instead of ending it cleanly) and `gone=True` answers
        with a 410 ERROR event, as an apiserver does for a compacted resourceVersion.
        """
        fault = Fault(
            method=method,
            path_regex=path_regex,
            watch=watch,
            status=status,
            times=times,
            delay=delay,
            drop_after=drop_after,
            abort=abort,
            gone=gone,
            retry_after=retry_after,
            message=message,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def remove(self, fault: Fault) -> None:
        """Stop injecting one fault."""
        with self._lock:
            self._faults = [f for f in self._faults if f is not fault]

    def clear(self) -> None:
        """Stop injecting every fault."""
        with self._lock:
            self._faults = []

    def __len__(self) -> int:
        with self._lock:
            return sum(1 for f in self._faults if not f.exhausted)

    def take(self, method: str, path: str, is_watch: bool) -> Fault | None:
        """Claim the first live fault matching a request, counting it as fired."""
        with self._lock:
            for fault in self._faults:
                if not fault.exhausted and fault.matches(method, path, is_watch):
                    fault.hits += 1
                    self.injected += 1
                    return fault
        return None
