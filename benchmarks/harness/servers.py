"""Real servers for the delivery benchmark and tests — Debian's ``icecast2`` and ``nginx`` — started
on 127.0.0.1 with a configuration written under a given folder and stopped by PID."""

from __future__ import annotations

import base64
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Iterator
from xml.etree import ElementTree

from .station import free_port

SOURCE_PASSWORD = "test-source-password"
ADMIN_PASSWORD = "test-admin-password"


class MissingServer(RuntimeError):
    """A server program that is not installed."""


def executable(name: str, package: str) -> str:
    """The path of ``name`` (PATH or /usr/sbin); MissingServer naming the Debian package otherwise."""
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if path is None:
        raise MissingServer(f"Debian's `{name}` is not installed (apt-get install {package})")
    return path


def wait_for_port(port: int, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {timeout_s:g} s")


def mount_title(port: int, mount: str) -> str | None:
    """The mount's title from the Icecast on ``port`` (its admin statistics); None while the mount
    is not up."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/admin/stats")
    token = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        stats = ElementTree.fromstring(response.read())
    for source in stats.iter("source"):
        if source.get("mount") == mount:
            return source.findtext("title") or ""
    return None


def wait_for_mount(port: int, mount: str, timeout_s: float) -> None:
    """Until the Icecast on ``port`` has ``mount`` up (a source connected or a relay pulling)."""
    deadline = time.monotonic() + timeout_s
    while mount_title(port, mount) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"the Icecast on 127.0.0.1:{port} has no {mount} after {timeout_s:g} s")
        time.sleep(0.25)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def icecast_config(folder: Path, port: int, relay_from: int | None = None) -> Path:
    """An icecast.xml for 127.0.0.1:``port``; with ``relay_from``, it relays that Icecast's /live.mp3."""
    logs = folder / f"icecast-{port}"
    logs.mkdir(parents=True, exist_ok=True)
    owner = ""
    if os.geteuid() == 0:  # Icecast refuses to run as root unless it changes owner …
        logs = Path(tempfile.mkdtemp(prefix=f"riffcast-icecast-{port}-"))  # … to one that cannot enter tmp_path
        nobody = pwd.getpwnam("nobody")
        os.chown(logs, nobody.pw_uid, nobody.pw_gid)
        owner = "<changeowner><user>nobody</user><group>nogroup</group></changeowner>"
    relay = "" if relay_from is None else (
        f"<relay><server>127.0.0.1</server><port>{relay_from}</port><mount>/live.mp3</mount>"
        "<local-mount>/live.mp3</local-mount><on-demand>0</on-demand><relay-shoutcast-metadata>1</relay-shoutcast-metadata></relay>"
        "<master-update-interval>1</master-update-interval>"
    )
    path = folder / f"icecast-{port}.xml"
    path.write_text(f"""<icecast>
  <location>test</location><admin>test@localhost</admin>
  <limits><clients>2000</clients><sources>4</sources><queue-size>524288</queue-size>
    <client-timeout>30</client-timeout><header-timeout>15</header-timeout><source-timeout>10</source-timeout>
    <burst-size>65535</burst-size></limits>
  <authentication><source-password>{SOURCE_PASSWORD}</source-password><relay-password>{SOURCE_PASSWORD}</relay-password>
    <admin-user>admin</admin-user><admin-password>{ADMIN_PASSWORD}</admin-password></authentication>
  <hostname>127.0.0.1</hostname>
  <listen-socket><port>{port}</port><bind-address>127.0.0.1</bind-address></listen-socket>
  {relay}
  <fileserve>1</fileserve>
  <paths><basedir>/usr/share/icecast2</basedir><logdir>{logs}</logdir><webroot>/usr/share/icecast2/web</webroot>
    <adminroot>/usr/share/icecast2/admin</adminroot></paths>
  <logging><accesslog>access.log</accesslog><errorlog>error.log</errorlog><loglevel>3</loglevel></logging>
  <security><chroot>0</chroot>{owner}</security>
</icecast>
""")
    return path


@contextlib.contextmanager
def running_icecast(folder: Path, port: int | None = None, relay_from: int | None = None) -> Iterator[int]:
    """Icecast on 127.0.0.1 → its port (stopped by PID on exit)."""
    port = port or free_port()
    yield from _serving(["icecast2", "-c", str(icecast_config(folder, port, relay_from))], port)


def start_icecast(folder: Path, port: int) -> subprocess.Popen:
    """Icecast on ``port``, left running: the caller stops it (to test a restart)."""
    return _start(["icecast2", "-c", str(icecast_config(folder, port))], port)


def _start(command: list[str], port: int) -> subprocess.Popen:
    """Start a Debian server program and wait until it listens on ``port``."""
    package = {"icecast2": "icecast2", "nginx": "nginx-light"}[command[0]]
    process = subprocess.Popen([executable(command[0], package), *command[1:]],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
    except BaseException:
        _stop(process)
        raise
    return process


def _serving(command: list[str], port: int) -> Iterator[int]:
    """The body of a context manager: the server runs while the port is yielded."""
    process = _start(command, port)
    try:
        yield port
    finally:
        _stop(process)


stop_process = _stop


@contextlib.contextmanager
def running_nginx(folder: Path, upstream_port: int) -> Iterator[int]:
    """nginx on 127.0.0.1 caching the station's HLS (the README's recipe) → its port."""
    port = free_port()
    work = folder / f"nginx-{port}"
    (work / "cache").mkdir(parents=True, exist_ok=True)
    config = work / "nginx.conf"
    recipe = (Path(__file__).resolve().parents[2] / "docs" / "examples" / "nginx-hls.conf").read_text()
    recipe = recipe.replace("127.0.0.1:8000", f"127.0.0.1:{upstream_port}").replace("listen 80;", f"listen 127.0.0.1:{port};")
    recipe = recipe.replace("/var/cache/nginx/riffcast", str(work / "cache"))
    user = "user root;\n" if os.geteuid() == 0 else ""
    config.write_text(f"""{user}daemon off;
worker_processes 1;
pid {work / 'nginx.pid'};
error_log {work / 'error.log'};
events {{ worker_connections 4096; }}
http {{
  access_log {work / 'access.log'};
  client_body_temp_path {work / 'body'};
  proxy_temp_path {work / 'proxy'};
  fastcgi_temp_path {work / 'fastcgi'};
  uwsgi_temp_path {work / 'uwsgi'};
  scgi_temp_path {work / 'scgi'};
{recipe}
}}
""")
    yield from _serving(["nginx", "-c", str(config), "-p", str(work)], port)
