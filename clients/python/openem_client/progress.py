"""Progress of a transfer, reported to a :class:`TransferReporter`."""

from __future__ import annotations


class TransferReporter:
    """Receives progress; the CLI draws progress bars from it. Methods may be called from any
    thread; the default does nothing."""

    def stage(self, name: str, total: int, unit: str = "B", files: int = 0) -> None:
        """A new phase starts (``checksum``, ``upload``, ``download``, ``ingest``...) with
        ``total`` units to go, over ``files`` files."""

    def advance(self, amount: int) -> None:
        """``amount`` more units of the current phase are done."""

    def file_done(self, path: str) -> None:
        """One file of the current phase is finished."""

    def note(self, message: str) -> None:
        """Something a person should know (a resumed file, a retry...)."""

    def close(self) -> None:
        """The phase is over."""
