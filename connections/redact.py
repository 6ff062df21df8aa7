"""Mask resolved secret values wherever text leaves the process: logs, run log lines, messages.

Every secret value (4 characters or more) `connections.resolve` reads is registered here, with
the encodings it commonly travels in (base64, URL-encoded, JSON-escaped). The process-wide
registry is bounded and keeps only values, never where they came from; masking a value that is
no longer in use is harmless.
"""

import base64
import copy
import json
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_LENGTH = 4  # shorter values would mask ordinary words
MAX_VALUES = 2048


def encodings(value: str) -> set[str]:
    """The forms a secret is usually found in besides plain text."""
    raw = value.encode()
    forms = {
        value,
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
        quote(value, safe=""),
        quote_plus(value),
        json.dumps(value)[1:-1],
    }
    return {f for f in forms if len(f) >= MIN_LENGTH}


class Redactor:
    """A bounded set of values to mask; thread-safe because workers log from many threads."""

    def __init__(self, max_values: int = MAX_VALUES) -> None:
        self._values: OrderedDict[str, None] = OrderedDict()
        self._max = max_values
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: Any) -> None:
        if not isinstance(value, str) or len(value) < MIN_LENGTH:
            return
        with self._lock:
            for form in encodings(value):
                self._values[form] = None
                self._values.move_to_end(form)
            while len(self._values) > self._max:
                self._values.popitem(last=False)
            self._pattern = None

    def extend(self, values: Iterable[Any]) -> None:
        for value in values:
            self.add(value)

    def __bool__(self) -> bool:
        return bool(self._values)

    def _compiled(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and self._values:
                # Longest first, so a value is masked whole rather than around a shorter one.
                ordered = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
            return self._pattern

    def mask(self, text: str) -> str:
        pattern = self._compiled()
        if pattern is None or not isinstance(text, str):
            return text
        return pattern.sub(MASK, text)

    def mask_data(self, data: Any) -> Any:
        """Strings inside JSON-like data (run outputs, results, diffs)."""
        if isinstance(data, str):
            return self.mask(data)
        if isinstance(data, dict):
            return {self.mask_data(k): self.mask_data(v) for k, v in data.items()}
        if isinstance(data, list | tuple):
            return [self.mask_data(v) for v in data]
        return data


# The process-wide registry; runs may keep their own Redactor and feed it the same values.
REDACTOR = Redactor()


def _mask_record(record: logging.LogRecord, redactor: Redactor) -> logging.LogRecord:
    if not redactor:
        return record
    try:
        message = record.getMessage()
    except Exception:  # a broken format string must still be logged, just unformatted
        message = str(record.msg)
    masked = redactor.mask(message)
    if masked != message or record.args:
        record.msg, record.args = masked, ()
    for key, value in list(vars(record).items()):
        if key not in _STANDARD and isinstance(value, str | dict | list):
            setattr(record, key, redactor.mask_data(value))
    if record.exc_info and record.exc_info[1] is not None:
        text = logging.Formatter().formatException(record.exc_info)
        masked_text = redactor.mask(text)
        if masked_text != text:
            record.exc_text = masked_text
            record.exc_info = _masked_exc_info(record.exc_info, redactor)
    elif record.exc_text:
        record.exc_text = redactor.mask(record.exc_text)
    return record


def _masked_exc_info(exc_info: Any, redactor: Redactor) -> Any:
    """A copy of the exception with a masked message, for formatters that ignore exc_text.

    The original exception is untouched: code that handles it after logging still sees it.
    """
    _kind, exc, tb = exc_info
    message = redactor.mask(str(exc))
    try:
        clone = copy.copy(exc)
        clone.args = (message,)
    except Exception:  # exceptions that refuse copying still get logged, as a plain Exception
        clone = Exception(message)
    clone.__cause__ = clone.__context__ = None  # chained causes are in the masked exc_text
    clone.__suppress_context__ = True
    return type(clone), clone, tb


_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class RedactingFilter(logging.Filter):
    """For LOGGING handlers: `{"()": "connections.redact.RedactingFilter"}`."""

    def __init__(self, name: str = "", redactor: Redactor | None = None) -> None:
        super().__init__(name)
        self.redactor = redactor or REDACTOR

    def filter(self, record: logging.LogRecord) -> bool:
        _mask_record(record, self.redactor)
        return True


_installed = False


def install_record_factory() -> None:
    """Mask at record creation, so every handler (pytest's caplog included) sees masked text."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return _mask_record(previous(*args, **kwargs), REDACTOR)

    logging.setLogRecordFactory(factory)
    _installed = True
