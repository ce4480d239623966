"""One warm container and the attached stream to the supervisor living in it.

The supervisor is the container's main process (under Docker's init), started once with
`python3 -c <supervisor source>`; we talk to it over the container's attached stdin/stdout, so
an execution costs no `docker exec` round trip. The container is created with `stdin_once` and
`auto_remove`: when this process dies its end of the stream closes, the supervisor sees EOF and
exits, and Docker deletes the container.
"""
from __future__ import annotations

import json
import select
import socket
import struct
import time
from pathlib import Path

from pipeline.core.types import Limits
from sandbox.limits import SANDBOX_UID, WORKSPACE, host_config_kwargs

SUPERVISOR_SOURCE = (Path(__file__).parent / "supervisor.py").read_text()
ZYGOTE_SOURCE = (Path(__file__).parent / "zygote.py").read_text()
STDOUT, STDERR = 1, 2
START_TIMEOUT_S = 60.0


class SupervisorGone(RuntimeError):
    """The stream to the supervisor closed or hung: the container is dead or unusable."""


class SupervisorLink:
    """The supervisor's side of the protocol, over whatever stream a runtime gives: subclasses
    send bytes (`_send`) and hand over what arrives (`_receive`, b"" at EOF) into `self._out`."""

    _out: bytearray

    def request(self, header: dict, payload: bytes, timeout_s: float) -> tuple[dict, bytes, bytes, bytes]:
        raw = json.dumps({**header, "payload": len(payload)}).encode()
        self._deadline = time.monotonic() + timeout_s
        try:
            self._send(struct.pack(">I", len(raw)) + raw + payload)
            (length,) = struct.unpack(">I", self._read(4))
            reply = json.loads(self._read(length))
            out = self._read(reply.get("stdout_len", 0))
            err = self._read(reply.get("stderr_len", 0))
            peer_out = self._read(reply.get("peer_output_len", 0))
        except (OSError, socket.timeout) as exc:
            raise SupervisorGone(f"no answer from the sandbox supervisor in {self.name}: {exc!r}") from exc
        except (ValueError, struct.error) as exc:
            raise SupervisorGone(f"garbled reply from the supervisor in {self.name}: {exc!r}") from exc
        return reply, out, err, peer_out

    def _read(self, n: int) -> bytes:
        while len(self._out) < n:
            if not self._receive():
                raise SupervisorGone(f"sandbox supervisor in {self.name} exited: {self.diagnostics()}")
        data = bytes(self._out[:n])
        del self._out[:n]
        return data

    def _time_left(self) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out")
        return left

    def limit_hit(self) -> str | None:
        """Which limit ended the whole sandbox ('memory', 'processes'), where a runtime can tell."""
        return None


class WarmContainer(SupervisorLink):
    def __init__(self, api, image: str, limits: Limits, labels: dict[str, str]):
        self.api, self.id, self.sock = api, None, None
        self._raw, self._out, self._diag = bytearray(), bytearray(), bytearray()
        self.id = create_container(api, image, limits, labels)
        try:
            params = {"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
            self.sock = raw_socket(api.attach_socket(self.id, params=params))
            api.start(self.id)
            self.request({"op": "ping"}, b"", START_TIMEOUT_S)
        except BaseException:
            self.destroy()
            raise

    @property
    def name(self) -> str:
        return f"container {self.id[:12]}"

    def _send(self, data: bytes) -> None:
        self.sock.settimeout(self._time_left())
        self.sock.sendall(data)

    def _receive(self) -> bool:
        had = len(self._out)
        self._parse_frames()  # whole frames may be waiting already
        if len(self._out) > had:
            return True
        self.sock.settimeout(self._time_left())
        chunk = self.sock.recv(1 << 20)
        self._raw += chunk
        self._parse_frames()
        return bool(chunk)

    def _parse_frames(self) -> None:
        """Docker multiplexes stdout/stderr: 8-byte header (stream, 0, 0, 0, u32 size) + payload."""
        raw = self._raw
        while len(raw) >= 8:
            size = int.from_bytes(raw[4:8], "big")
            if len(raw) < 8 + size:
                return
            target = self._out if raw[0] == STDOUT else self._diag
            target += raw[8:8 + size]
            del raw[:8 + size]
        del self._diag[:-4096]

    def alive(self) -> bool:
        """False when the supervisor's stream has already closed (container killed while idle)."""
        readable, _, _ = select.select([self.sock], [], [], 0)
        if not readable:
            return True
        try:
            return self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
        except BlockingIOError:
            return True
        except OSError:
            return False

    def diagnostics(self) -> str:
        return self._diag.decode("utf-8", "replace").strip()[-1000:] or "no output"

    # -------------------------------------------------------------- lifecycle
    def oom_killed(self) -> bool:
        """Whether Docker saw this container hit its memory limit (False if already gone)."""
        import docker

        try:
            return bool(self.api.inspect_container(self.id)["State"].get("OOMKilled"))
        except docker.errors.NotFound:
            return False

    def destroy(self) -> None:
        import docker

        if self.sock is not None:
            close_quietly(self.sock)
        if self.id is not None:
            try:
                self.api.remove_container(self.id, force=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError:  # auto-remove is in progress: let it finish
                wait_until_removed(self.api, self.id)


def create_container(api, image: str, limits: Limits, labels: dict[str, str]) -> str:
    host_config = api.create_host_config(**host_config_kwargs(limits))
    command = ["python3", "-I", "-S", "-c", SUPERVISOR_SOURCE, str(SANDBOX_UID), ZYGOTE_SOURCE]
    # stdin_open without detach makes docker-py set StdinOnce: EOF reaches the supervisor when we go.
    created = api.create_container(
        image, command=command, user="0", working_dir=WORKSPACE, labels=labels,
        stdin_open=True, network_disabled=not limits.network,
        host_config=host_config)
    return created["Id"]


def wait_until_removed(api, container_id: str, timeout_s: float = 10.0) -> None:
    import docker
    import requests

    try:
        api.wait(container_id, timeout=timeout_s, condition="removed")
    except (docker.errors.APIError, requests.exceptions.RequestException):
        pass  # gone before we asked, or still going: `ttc sandbox gc` catches stragglers


def raw_socket(attached) -> socket.socket:
    """docker-py hands back a SocketIO over the hijacked HTTP connection; use the socket."""
    return getattr(attached, "_sock", attached)


def close_quietly(sock) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
