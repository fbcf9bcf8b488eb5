"""``file``: each digest as a new pair of HTML and JSON files, never overwriting one."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from pydantic import Field

from mention_monitor.notifiers import (
    ConfigPath,
    DeliveryError,
    DeliveryResult,
    Digest,
    Notifier,
    NotifierOptions,
    Preview,
    clean_digest,
)
from mention_monitor.notifiers.render import render_html, subject


class FileOptions(NotifierOptions):
    directory: ConfigPath = Field(min_length=1)
    #: A file is an archive, not a reader: it keeps far more mentions per digest by default.
    max_mentions: int = Field(10000, ge=1, le=10000)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:60] or "watch"


def _exclusive_write(path: Path, data: str) -> None:
    raw = data.encode("utf-8")  # before the file exists: a failure leaves no empty file
    with path.open("xb") as fh:  # "x": fail rather than overwrite
        fh.write(raw)


class FileNotifier(Notifier[FileOptions]):
    type_name = "file"

    def _payload(self, digest: Digest) -> str:
        digest = clean_digest(digest)
        data: dict[str, Any] = {
            "watch": digest.watch,
            "kind": digest.kind,
            "subject": subject(digest),
            "count": digest.count,
            "mentions": [json.loads(m.to_json()) for m in digest.mentions],
        }
        if digest.period is not None:
            period = dataclasses.asdict(digest.period)
            period["top_posts"] = [str(m.id) for m in digest.period.top_posts]
            data["period"] = period
        if digest.spike is not None:
            data["spike"] = dataclasses.asdict(digest.spike)
        return json.dumps(data, ensure_ascii=False, indent=2)

    def _deliver(self, digest: Digest) -> DeliveryResult:
        directory = Path(self.options.directory)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DeliveryError(f"cannot create {directory}: {exc.strerror}") from None
        stamp = self.services.clock.utcnow().strftime("%Y%m%dT%H%M%SZ")  # the run's clock
        if digest.is_alert:
            base = f"{_safe(digest.watch)}-{stamp}-spike"
        elif not digest.mentions:
            base = f"{_safe(digest.watch)}-{stamp}-empty"
        else:
            first, last = digest.mentions[0].id, digest.mentions[-1].id
            base = f"{_safe(digest.watch)}-{stamp}-{first}-{last}"
        html_doc = render_html(digest, self.options.max_mentions)
        payload = self._payload(digest)
        for attempt in range(1000):
            stem = base if attempt == 0 else f"{base}-{attempt}"
            html_path, json_path = directory / f"{stem}.html", directory / f"{stem}.json"
            try:
                _exclusive_write(html_path, html_doc)
            except FileExistsError:
                continue
            except OSError as exc:
                raise DeliveryError(f"cannot write {html_path}: {exc.strerror}") from None
            try:
                _exclusive_write(json_path, payload)
            except OSError as exc:
                os.unlink(html_path)
                if isinstance(exc, FileExistsError):
                    continue
                raise DeliveryError(f"cannot write {json_path}: {exc.strerror}") from None
            result = self.accepted(digest.mentions)
            result.details = {"html": str(html_path), "json": str(json_path)}
            return result
        raise DeliveryError(f"no free file name for {base} in {directory}")

    def preview(self, digest: Digest) -> Preview:
        return Preview(render_html(digest, self.options.max_mentions), "text/html", subject(digest))
