"""``FileOutbound``: one JSON file per message in a folder another system picks up.

Each file is written under a temporary name in the same folder, flushed to disk, then
renamed into place, so a reader never sees half a message. The name is derived from the
lot, its sequence and the idempotency key: names sort in send order per lot, and writing
the same message twice replaces the file instead of adding a duplicate.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from tracebridge.dispatch.outbound import Delivery, OutboundMessage


def file_name(message: OutboundMessage) -> str:
    safe_lot = "".join(c if c.isalnum() or c in "-_" else "_" for c in message.lot)
    return (f"{message.gtin}_{safe_lot}_{message.sequence:06d}_"
            f"{message.idempotency_key[:16]}.json")


class FileOutbound:
    """Writes ``{"headers": …, "message": payload}`` documents into ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, message: OutboundMessage) -> Delivery:
        document = {"headers": message.headers(), "message": message.payload}
        data = json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")
        target = self.folder / file_name(message)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
            try:
                with os.fdopen(handle, "wb") as stream:
                    stream.write(data)
                    stream.flush()
                    os.fsync(stream.fileno())
                os.replace(temporary, target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as error:  # disk full, share unmounted: may pass
            return Delivery.retry(f"cannot write {target}: {error}")
        return Delivery.done(str(target))

    def close(self) -> None:
        """Nothing to release: each send opens and closes its own file."""
