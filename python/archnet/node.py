"""A compute node over the marketplace's HTTP API (docs/api.md), with the standard library only.

    node = Node("http://127.0.0.1:8750", token)
    lease = node.lease()                      # None when no task fits
    with node.heartbeats(lease):              # keeps the lease alive meanwhile
        folder = node.download(lease, "work")  # the training split, resumable and verified
        ...                                   # train, write model.onnx
        upload_id = node.upload("work/model.onnx")
    submission = node.submit(lease, upload_id, download_ms=..., train_ms=..., upload_ms=...)
    verdict = node.wait(lease)                # accepted, rejected, or scored (a contest)
"""

import hashlib
import json
import os
import pathlib
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

SHA256_HEADER = "x-archnet-sha256"


class ApiError(Exception):
    """An error answer of the server: its HTTP status and its ``{"error": ...}`` message."""

    def __init__(self, status, message, path):
        super().__init__(f"{path}: {status} {message}")
        self.status = status
        self.message = message
        self.path = path


@dataclass
class Lease:
    """A granted lease (the server's ``LeaseGrant``)."""

    lease_id: str
    task_id: str
    task_name: str
    fee: int
    min_accuracy: float
    sample_shape: list
    class_names: list
    heartbeat_ms: int
    grant: dict


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


class Node:
    """A node account's calls. ``retries``: how often a request the server did not answer, or
    answered 5xx/429, is tried again (with backoff), so a server restart is ridden out."""

    def __init__(self, server, token, retries=8, timeout=60):
        self.server = server.rstrip("/")
        self.token = token
        self.retries = retries
        self.timeout = timeout

    # -- HTTP ------------------------------------------------------------------------------
    def _request(self, method, path, body=None, headers=None, raw=False):
        data = None
        headers = dict(headers or {})
        headers["Authorization"] = f"Bearer {self.token}"
        if body is not None and not isinstance(body, (bytes, bytearray)):
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif body is not None:
            data = bytes(body)
            headers["Content-Type"] = "application/octet-stream"
        delay = 0.2
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(
                self.server + path, data=data, method=method, headers=headers
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                    payload = answer.read()
                    if answer.status == 204:
                        return None
                    return payload if raw else json.loads(payload)
            except urllib.error.HTTPError as e:
                text = e.read().decode(errors="replace")
                try:
                    message = json.loads(text)["error"]
                except (ValueError, KeyError, TypeError):
                    message = text
                if (e.code >= 500 or e.code == 429) and attempt < self.retries:
                    time.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                raise ApiError(e.code, message, path) from None
            except urllib.error.URLError:
                if attempt == self.retries:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    # -- leases ----------------------------------------------------------------------------
    def lease(self, cores=None, memory_mb=1024, backends=("python",)):
        """Asks for a task; returns a :class:`Lease`, or None when none fits."""
        capabilities = {
            "cores": cores or os.cpu_count() or 1,
            "memory_mb": memory_mb,
            "backends": list(backends),
        }
        grant = self._request("POST", "/api/v1/leases", {"capabilities": capabilities})
        if grant is None:
            return None
        return Lease(
            lease_id=grant["lease_id"],
            task_id=grant["task_id"],
            task_name=grant["task_name"],
            fee=grant["fee"],
            min_accuracy=grant["min_accuracy"],
            sample_shape=grant["sample_shape"],
            class_names=grant["class_names"],
            heartbeat_ms=grant["heartbeat_ms"],
            grant=grant,
        )

    def heartbeat(self, lease):
        """Renews the lease; raises :class:`ApiError` (409) once it has expired."""
        return self._request("POST", f"/api/v1/leases/{lease.lease_id}/heartbeat")

    def heartbeats(self, lease):
        """A context manager that renews ``lease`` from a background thread while it is open."""
        return _Heartbeats(self, lease)

    # -- the training split ------------------------------------------------------------------
    def download(self, lease, work_dir):
        """Downloads the leased task's training split into ``work_dir/<task id>`` and returns the
        folder. Chunks already there with the right checksum are kept (a download resumes), and
        every file's sha256 is checked."""
        folder = pathlib.Path(work_dir) / lease.task_id
        folder.mkdir(parents=True, exist_ok=True)
        listing = self._request("GET", f"/api/v1/leases/{lease.lease_id}/files")
        for f in listing["files"]:
            name = f["name"]
            if pathlib.Path(name).name != name:
                raise ValueError(f"{name!r}: the server named a file that is not a plain name")
            target = folder / name
            if target.exists() and _sha256(target.read_bytes()) == f["sha256"]:
                continue
            parts = folder / f".{name}.chunks"
            parts.mkdir(exist_ok=True)
            for chunk in f["chunks"]:
                part = parts / str(chunk["index"])
                if part.exists() and _sha256(part.read_bytes()) == chunk["sha256"]:
                    continue
                path = f"/api/v1/leases/{lease.lease_id}/files/{name}/chunks/{chunk['index']}"
                data = self._request("GET", path, raw=True)
                if _sha256(data) != chunk["sha256"]:
                    raise ValueError(f"{name} chunk {chunk['index']}: checksum mismatch")
                part.write_bytes(data)
            whole = b"".join((parts / str(c["index"])).read_bytes() for c in f["chunks"])
            if _sha256(whole) != f["sha256"] or len(whole) != f["size"]:
                raise ValueError(f"{name}: checksum mismatch after download")
            target.write_bytes(whole)
            for c in f["chunks"]:
                (parts / str(c["index"])).unlink()
            parts.rmdir()
        return folder

    # -- the model -------------------------------------------------------------------------
    def upload(self, path, name="model.onnx"):
        """Uploads a file in checksummed chunks; returns the completed upload's id."""
        data = pathlib.Path(path).read_bytes()
        status = self._request(
            "POST", "/api/v1/uploads", {"name": name, "size": len(data), "sha256": _sha256(data)}
        )
        size = status["chunk_size"]
        for index in range(status["chunks"]):
            if index in status["received"]:
                continue
            chunk = data[index * size : (index + 1) * size]
            self._request(
                "PUT",
                f"/api/v1/uploads/{status['id']}/chunks/{index}",
                chunk,
                headers={SHA256_HEADER: _sha256(chunk)},
            )
        return self._request("POST", f"/api/v1/uploads/{status['id']}/complete")["id"]

    def submit(self, lease, upload_id, download_ms=0, train_ms=0, upload_ms=0):
        """Hands in the uploaded model under ``lease`` (once: a replay is refused with 409)."""
        body = {
            "upload_id": upload_id,
            "download_ms": int(download_ms),
            "train_ms": int(train_ms),
            "upload_ms": int(upload_ms),
        }
        return self._request("POST", f"/api/v1/leases/{lease.lease_id}/submission", body)

    def submission(self, lease):
        """The submission made under ``lease``, with its validation report once there is one."""
        return self._request("GET", f"/api/v1/leases/{lease.lease_id}/submission")

    def wait(self, lease, timeout=600, poll=0.5):
        """Waits for the verdict: the submission once it is accepted, rejected or scored."""
        deadline = time.monotonic() + timeout
        while True:
            s = self.submission(lease)
            if s["state"] in ("accepted", "rejected", "scored"):
                return s
            if time.monotonic() > deadline:
                raise TimeoutError(f"no verdict for lease {lease.lease_id} in {timeout} s")
            time.sleep(poll)

    def balance(self):
        """The account's balance in credits."""
        return self._request("GET", "/api/v1/balance")["balance"]


class _Heartbeats:
    def __init__(self, node, lease):
        self.node, self.lease = node, lease
        self.stop = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        every = max(self.lease.heartbeat_ms / 1000.0, 0.2)
        while not self.stop.wait(every):
            try:
                self.node.heartbeat(self.lease)
            except Exception as e:  # the lease is lost: the caller sees it when it submits
                self.error = e
                return

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        return False
