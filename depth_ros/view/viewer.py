"""Where a recording goes: an .rrd file, the web viewer served on localhost, or the native viewer."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from depth_ros.core.errors import DepthRosError
from depth_ros.view.sdk import rerun

HOST = "127.0.0.1"
SERVER_MEMORY_LIMIT = "4GiB"  # what the web viewer's server keeps for browsers that connect later


def free_port() -> int:
    """A TCP port on localhost that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((HOST, port)) == 0


def rerun_cli() -> list[str]:
    """The command of the Rerun viewer/server binary that rerun-sdk installs (beside this interpreter; not any
    other `rerun` on PATH)."""
    rerun()
    exe = Path(sys.executable).parent / "rerun"
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "rerun"]


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or sys.platform in ("darwin", "win32")


class WebViewer:
    """Rerun's web viewer and its gRPC server as a child process bound to localhost only.

    `rrd`: serve that recording file; without it, the server waits for a stream (`grpc_url`).
    """

    def __init__(self, web_port: int = 9090, grpc_port: int | None = None, rrd: Path | None = None,
                 log_path: Path | None = None) -> None:
        self.web_port = int(web_port) or free_port()
        self.grpc_port = int(grpc_port or free_port())
        for port in (self.web_port, self.grpc_port):
            if _listening(port):
                raise DepthRosError(f"port {port} on localhost is in use; pass another --web-port")
        cmd = rerun_cli() + ["--serve-web", "--bind", HOST, "--port", str(self.grpc_port), "--web-viewer-port",
                             str(self.web_port), "--server-memory-limit", SERVER_MEMORY_LIMIT]
        if rrd is not None:
            cmd.append(str(rrd))
        self._log = open(log_path, "w") if log_path else subprocess.DEVNULL  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    @property
    def grpc_url(self) -> str:
        return f"rerun+http://{HOST}:{self.grpc_port}/proxy"

    @property
    def url(self) -> str:
        """The page to open in a browser (it connects to this server's recording)."""
        return f"http://localhost:{self.web_port}/?url={quote(self.grpc_url, safe='')}"

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        """Until both ports accept connections; DepthRosError if the server exits or takes longer."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise DepthRosError(f"the Rerun web viewer exited with code {self.proc.returncode}")
            if _listening(self.web_port) and _listening(self.grpc_port):
                return
            time.sleep(0.1)
        raise DepthRosError(f"the Rerun web viewer did not listen on ports {self.web_port}/{self.grpc_port} "
                            f"within {timeout_s:.0f} s")

    def wait(self) -> None:
        """Until the server exits (Ctrl-C ends it with this process)."""
        self.proc.wait()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log is not subprocess.DEVNULL:
            self._log.close()

    def __enter__(self) -> WebViewer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(stream: Any, blueprint: Any, save: Path | None = None, web: WebViewer | None = None,
            native: bool = False) -> None:
    """Send `stream` to the file, the web viewer and/or a new native viewer, with the default layout."""
    rr = rerun()
    sinks = []
    if save is not None:
        save.parent.mkdir(parents=True, exist_ok=True)
        sinks.append(rr.FileSink(str(save)))
    if web is not None:
        sinks.append(rr.GrpcSink(web.grpc_url))
    if native:
        if not has_display():
            raise DepthRosError("no display for the native viewer (DISPLAY is not set): use --web (prints a URL "
                                "to open) or --save FILE.rrd")
        port = free_port()
        rr.spawn(port=port, connect=False, recording=stream)
        sinks.append(rr.GrpcSink(f"rerun+http://{HOST}:{port}/proxy"))
    if not sinks:
        raise DepthRosError("nowhere to send the recording")
    stream.set_sinks(*sinks, default_blueprint=blueprint)


def open_native(rrd: Path) -> None:
    """The native viewer on a recording file, detached from this process."""
    if not has_display():
        raise DepthRosError("no display for the native viewer (DISPLAY is not set): use --web")
    subprocess.Popen(rerun_cli() + [str(rrd)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True)
