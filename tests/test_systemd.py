"""riffcast under systemd: the unit ``riffcast serve --systemd-unit`` prints (checked by the real
``systemd-analyze verify``), sd_notify against real sockets, and the log format."""

from __future__ import annotations

import configparser
import contextlib
import io
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from riffcast.cli import _parser
from riffcast.ops.systemd import Notifier, log_formatter
from riffcast.station.systemd_unit import exec_word, unit_for_this_command, unit_text

from station import start_station

PYTHON = os.path.abspath(sys.executable)
TRICKY = [
    'a "double" and \'single\' quoted prompt', "100% jazz, %n %% %i and a lone %", "$HOME ${USER} $$ and a last $",
    "back\\slash \\n \\\\ and a trailing backslash\\", "tab\there, newline\nthere", ";", "-starts like an option", "",
    "café — ♪ ünïcödé",
]


# -- reading a unit the way systemd does --------------------------------------------------------
_C_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\",
              '"': '"', "'": "'", "s": " "}


def _expand(word: str) -> str:
    """Specifiers (only ``%%`` expected), then variables (only ``$$`` expected): systemd.service(5)."""
    for sign in "%$":
        pairs = re.findall(re.escape(sign) + "(.?)", word, flags=re.S)
        assert all(after == sign for after in pairs), f"a lone {sign} (specifier or variable) in {word!r}"
        word = word.replace(sign * 2, sign)
    return word


def systemd_command_line(value: str) -> list[str]:
    """An ``ExecStart=`` value → argv, by systemd.syntax(7) "Quoting" and systemd.service(5)."""
    words, i = [], 0
    while True:
        while i < len(value) and value[i] in " \t":
            i += 1
        if i == len(value):
            return words
        quote = value[i] if value[i] in "\"'" else None
        i += quote is not None
        word: list[str] = []
        while True:
            if i == len(value):
                assert quote is None, f"unbalanced quote in {value!r}"
                break
            char = value[i]
            if quote is not None and char == quote:
                i += 1
                assert i == len(value) or value[i] in " \t", "a closing quote must end the word"
                break
            if quote is None and char in " \t":
                break
            if char == "\\":
                escape = value[i + 1]
                if escape == "x":
                    word.append(chr(int(value[i + 2:i + 4], 16)))
                    i += 4
                    continue
                assert escape in _C_ESCAPES, f"unknown escape \\{escape} in {value!r}"
                word.append(_C_ESCAPES[escape])
                i += 2
                continue
            word.append(char)
            i += 1
        assert quote is not None or "".join(word) != ";", "an unquoted ; separates commands"
        words.append(_expand("".join(word)))


def sections(unit: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)  # strict: no key twice
    parser.optionxform = str  # type: ignore[assignment]
    parser.read_string(unit)
    return parser


def exec_start(unit: str) -> list[str]:
    return systemd_command_line(sections(unit)["Service"]["ExecStart"])


def serve_args(unit: str):
    command = exec_start(unit)
    assert command[:3] == [PYTHON, "-m", "riffcast"]
    return _parser().parse_args(command[3:])  # every option it names exists


def print_unit(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "riffcast", "serve", *args], capture_output=True, text=True,
                          timeout=60, cwd=cwd)


# -- the unit ------------------------------------------------------------------------------------
@pytest.mark.system
def test_the_printed_unit_runs_the_serve_command_it_was_printed_with(tmp_path):
    # (This was test_station's test_the_systemd_unit_runs_a_valid_serve_command_with_restart.)
    printed = print_unit("--host", "0.0.0.0", "--playlist", "programme.toml", "--state", "state.json",
                         "--systemd-unit", cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    unit = printed.stdout
    assert unit.startswith("# riffcast station under systemd") and "systemctl enable --now riffcast" in unit
    service = sections(unit)["Service"]
    assert service["Restart"] == "always" and service["KillSignal"] == "SIGTERM"
    assert os.path.isabs(exec_start(unit)[0])
    args = serve_args(unit)
    assert args.command == "serve" and args.state is not None and args.playlist is not None
    assert args.host == "0.0.0.0" and args.port == 8000 and not args.systemd_unit
    assert args.playlist == tmp_path / "programme.toml" and args.state == tmp_path / "state.json"


@pytest.mark.system
def test_the_unit_carries_the_options_given():
    printed = print_unit("--prompt", "jazz", "--port", "9000", "--systemd-unit")
    assert printed.returncode == 0, printed.stderr
    assert exec_start(printed.stdout)[3:] == ["serve", "--prompt", "jazz", "--port", "9000"]
    args = serve_args(printed.stdout)
    assert args.prompt == ["jazz"] and args.port == 9000


def test_the_unit_sets_up_restarts_the_watchdog_and_limits():
    unit = sections(unit_text(["--station", "night"], PYTHON))
    assert dict(unit["Unit"]) == {
        "Description": "riffcast: generated music station",
        "After": "network-online.target sound.target",
        "Wants": "network-online.target",
        "StartLimitIntervalSec": "0",
    }
    service = unit["Service"]
    assert "StartLimitIntervalSec" not in service  # ignored there: the mistake this unit once had
    assert service["Type"] == "notify" and service["NotifyAccess"] == "main"
    assert 10 <= int(service["WatchdogSec"]) <= 120
    assert service["Restart"] == "always" and service["RestartSec"] == "2"
    assert int(service["LimitNOFILE"]) >= 65536
    assert service["EnvironmentFile"] == "-/etc/riffcast/env" and service["Environment"] == "HF_HUB_OFFLINE=1"
    assert service["User"] == "riffcast" and service["StateDirectory"] == "riffcast"
    assert service["WorkingDirectory"] == "/var/lib/riffcast"
    assert "SupplementaryGroups" not in service
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    played = sections(unit_text(["--play"], PYTHON))["Service"]
    assert played["SupplementaryGroups"] == "audio"
    many = sections(unit_text(["--max-listeners", "100000"], PYTHON))["Service"]
    assert int(many["LimitNOFILE"]) > 100000


@pytest.mark.parametrize("prompt", TRICKY)
def test_any_prompt_round_trips_through_execstart(prompt):
    unit = unit_text(["--prompt", prompt, "--negative-prompt", prompt + " no", "--station", prompt], PYTHON)
    args = serve_args(unit)
    assert args.prompt == [prompt] and args.negative_prompt == prompt + " no" and args.station == prompt


def test_every_kind_of_option_round_trips_in_long_form(tmp_path):
    argv = ["--prompt=a", "--prompt", "b", "--seed", "-5", "--denoising", "0.6", "--play", "--verbose",
            "--generator", "synth", "--max-l", "300", "--inject-faults", "raise@2", "--frame-ms", "50",
            "--attention-slicing", "--systemd-unit"]
    expected = _parser().parse_args(["serve", *argv])
    words = exec_start(unit_text(argv, PYTHON, cwd=str(tmp_path)))[4:]
    assert "--max-listeners" in words and "--systemd-unit" not in words
    assert vars(_parser().parse_args(["serve", *words])) == vars(expected) | {"systemd_unit": False}


def test_relative_paths_become_absolute_and_a_bed_name_stays(tmp_path):
    argv = ["--playlist", "p.toml", "--state", "../s.json", "--record", "out/r.wav", "--seed-image", "bed.png",
            "--as-run", "log/as-run.jsonl"]
    args = serve_args(unit_text(argv, PYTHON, cwd=str(tmp_path)))
    assert args.playlist == tmp_path / "p.toml" and args.state == tmp_path.parent / "s.json"
    assert args.as_run == tmp_path / "log" / "as-run.jsonl"
    assert args.record == tmp_path / "out" / "r.wav" and args.seed_image == str(tmp_path / "bed.png")
    assert serve_args(unit_text(["--seed-image", "dnb-188"], PYTHON)).seed_image == "dnb-188"
    assert serve_args(unit_text(["--state", "/abs/s.json"], PYTHON)).state == Path("/abs/s.json")


@pytest.mark.system
@pytest.mark.parametrize("argv", [["--control-token", "secret-0123456789"], ["--control=secret-0123456789"]])
def test_the_control_token_never_goes_into_a_unit(argv):
    with pytest.raises(ValueError, match="RIFFCAST_CONTROL_TOKEN.*EnvironmentFile"):
        unit_text(argv, PYTHON)
    printed = print_unit(*argv, "--systemd-unit")
    assert printed.returncode == 1 and printed.stdout == ""
    assert len(printed.stderr.strip().splitlines()) == 1 and "RIFFCAST_CONTROL_TOKEN" in printed.stderr
    assert "secret" not in printed.stderr


def test_icecast_passwords_never_go_into_a_unit_and_tls_paths_become_absolute(tmp_path):
    with pytest.raises(ValueError, match="RIFFCAST_ICECAST_PASSWORD"):
        unit_text(["--icecast", "icecast://source:hunter2@radio.example:8000/live.mp3"], PYTHON)
    args = serve_args(unit_text(["--icecast", "icecast://source@radio.example:8000/live.mp3", "--tls-cert", "c.pem",
                                 "--tls-key", "k.pem"], PYTHON, cwd=str(tmp_path)))
    assert args.icecast == ["icecast://source@radio.example:8000/live.mp3"]
    assert args.tls_cert == tmp_path / "c.pem" and args.tls_key == tmp_path / "k.pem"


def test_a_unit_refuses_what_cannot_run():
    with pytest.raises(ValueError, match="absolute"):
        unit_text([], "python3")
    with pytest.raises(ValueError):
        unit_text(["--no-such-option"], PYTHON)


def test_the_unit_is_for_the_command_line_this_process_was_given(monkeypatch):
    argv = ["serve", "--port", "9000", "--systemd-unit"]
    monkeypatch.setattr(sys, "argv", ["/opt/riffcast/venv/bin/riffcast", *argv])
    assert exec_start(unit_for_this_command(_parser().parse_args(argv)))[3:] == ["serve", "--port", "9000"]
    monkeypatch.setattr(sys, "argv", ["pytest", "-q"])  # called from code: no command line to read
    with pytest.raises(ValueError, match="--systemd-unit"):
        unit_for_this_command(_parser().parse_args(argv))


# -- systemd-analyze verify ------------------------------------------------------------------------
def verify(unit: str, folder: Path) -> list[str]:
    """What ``systemd-analyze verify`` says about ``unit`` as riffcast.service; [] when all is well.

    No riffcast user is needed: verify does not look User= up (systemd 252 says nothing about a
    missing user; it is resolved when the service starts), so any output at all is a problem.
    """
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: install Debian's systemd package (as .ci/run does)"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "riffcast.service"
    path.write_text(unit)
    result = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True, timeout=120)
    said = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    return said + ([f"exit status {result.returncode}"] if result.returncode else [])


@pytest.mark.system
def test_systemd_analyze_verify_accepts_the_unit(tmp_path):
    assert verify(unit_text(["--host", "0.0.0.0", "--state", "/var/lib/riffcast/state.json"], PYTHON),
                  tmp_path / "plain") == []
    assert verify(unit_text(["--play", "--prompt", " | ".join(TRICKY)], PYTHON), tmp_path / "tricky") == []


@pytest.mark.system
def test_systemd_analyze_verify_catches_what_was_wrong_before(tmp_path):
    # The unit this replaces had StartLimitIntervalSec= in [Service], where systemd ignores it.
    good = unit_text([], PYTHON)
    moved = good.replace("StartLimitIntervalSec=0\n", "").replace("[Service]\n", "[Service]\nStartLimitIntervalSec=0\n")
    assert any("Unknown key 'StartLimitIntervalSec' in section [Service]" in line
               for line in verify(moved, tmp_path / "moved"))
    missing = good.replace(exec_word(PYTHON, variables=False), "/opt/riffcast/venv/bin/python")
    assert any("is not executable" in line for line in verify(missing, tmp_path / "missing"))


@pytest.mark.system
def test_systemd_itself_runs_a_program_whose_path_needs_quoting(tmp_path):
    # systemd-analyze checks that ExecStart='s program exists: a program whose name holds spaces,
    # %, a semicolon and UTF-8 proves the quoting on systemd's own parser.
    program = tmp_path / "bin" / "riff cast 100%n ;c ♪"
    program.parent.mkdir()
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    assert verify(unit_text([], str(program)), tmp_path / "quoted") == []
    naive = unit_text([], str(program)).replace(exec_word(str(program), variables=False), str(program))
    assert verify(naive, tmp_path / "naive") != []  # without the quoting systemd reads another path
    with pytest.raises(ValueError, match="quote, backslash"):  # systemd refuses them in a program path
        unit_text([], str(tmp_path / "bin" / "riff\"cast"))


@pytest.mark.system
@pytest.mark.parametrize("text", [text for text in TRICKY if text and text.isprintable()])
def test_systemd_itself_reads_the_quoting_back(text, tmp_path):
    # verify names the program it could not find as systemd read it: an oracle for the quoting
    # and the specifiers (variables are not expanded in the program path: see the $$ decoder above).
    path = "/nonexistent/" + text
    said = verify(f"[Service]\nExecStart={exec_word(path, variables=False)} serve\n", tmp_path)
    read = [match.group(1) for line in said for match in [
        re.search(r"Command (.*) is not executable: No such file", line),
        re.search(r"Executable name contains special characters: (.*)$", line)] if match]
    assert read == [path], said


# -- sd_notify -------------------------------------------------------------------------------------
def _receiver(name: str = "") -> tuple[str, socket.socket]:
    """A socket bound at ``name`` (a path), or at a fresh abstract name → (NOTIFY_SOCKET, socket)."""
    name = name or f"@riffcast-test-{os.getpid()}-{time.monotonic_ns()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name[1:] if name.startswith("@") else name)
    sock.settimeout(5)
    return name, sock


def _pending(sock: socket.socket) -> list[bytes]:
    sock.setblocking(False)
    got = []
    with contextlib.suppress(BlockingIOError):
        while True:
            got.append(sock.recv(4096))
    sock.settimeout(5)
    return got


@pytest.mark.parametrize("kind", ["path", "abstract"])
def test_the_notifier_sends_exact_datagrams(kind):
    with tempfile.TemporaryDirectory(dir="/tmp") as folder:  # short: a socket path has ≤ 107 bytes
        name, receiver = _receiver("" if kind == "abstract" else f"{folder}/n.sock")
        notifier = Notifier({"NOTIFY_SOCKET": name, "WATCHDOG_USEC": "30000000"})
        try:
            assert notifier.enabled and notifier.watchdog_interval_s == 15.0
            assert notifier.ready() and notifier.status("playing\n2 listeners") and notifier.stopping()
            notifier.watchdog()
            notifier.watchdog()  # within interval/2 of the first: not sent again
            assert [receiver.recv(4096) for _ in range(4)] == [
                b"READY=1", b"STATUS=playing 2 listeners", b"STOPPING=1", b"WATCHDOG=1"]
            assert _pending(receiver) == []
        finally:
            notifier.close()
            receiver.close()


def test_the_watchdog_pings_again_after_half_its_interval():
    name, receiver = _receiver()
    notifier = Notifier({"NOTIFY_SOCKET": name, "WATCHDOG_USEC": "200000"})  # ping every 0.1 s
    try:
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            notifier.watchdog()
            time.sleep(0.005)
        pings = _pending(receiver)
        assert set(pings) == {b"WATCHDOG=1"} and 6 <= len(pings) <= 12  # every 0.05 s, not every call
    finally:
        notifier.close()
        receiver.close()


def test_without_systemd_the_notifier_does_nothing_and_never_raises():
    for environ in ({}, {"NOTIFY_SOCKET": ""}, {"NOTIFY_SOCKET": "vsock:2:9"}, {"WATCHDOG_USEC": "1000000"}):
        notifier = Notifier(environ)
        assert not notifier.enabled and notifier.watchdog_interval_s is None
        assert not notifier.ready() and not notifier.stopping() and not notifier.status("x")
        notifier.watchdog()
    gone = Notifier({"NOTIFY_SOCKET": "/tmp/riffcast-no-such-socket", "WATCHDOG_USEC": "1000000"})
    assert gone.enabled and gone.watchdog_interval_s == 0.5
    assert not gone.ready()  # nobody listens: False, no exception
    gone.watchdog()
    other = Notifier({"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid() + 1)})
    assert other.watchdog_interval_s is None  # the watchdog is for another process
    assert Notifier({"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "soon"}).watchdog_interval_s is None


# -- logs ------------------------------------------------------------------------------------------
def _formatted(stream, environ: dict[str, str], level: int = logging.WARNING) -> str:
    record = logging.LogRecord("riffcast.station", level, __file__, 1, "generator late: %d", (3,), None)
    return log_formatter(stream, environ).format(record)


def test_logs_carry_time_and_level_and_under_journald_the_level_only(tmp_path):
    with open(tmp_path / "stderr", "w") as stream:
        status = os.fstat(stream.fileno())
        journal = {"JOURNAL_STREAM": f"{status.st_dev}:{status.st_ino}"}
        assert _formatted(stream, journal) == "<4>WARNING riffcast.station: generator late: 3"
        assert _formatted(stream, journal, logging.INFO) == "<6>INFO riffcast.station: generator late: 3"
        plain = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING riffcast.station: generator late: 3"
        assert re.fullmatch(plain, _formatted(stream, {}))
        # Inherited by a process whose stderr went elsewhere: not the journal.
        assert re.fullmatch(plain, _formatted(stream, {"JOURNAL_STREAM": f"{status.st_dev}:{status.st_ino + 1}"}))
    assert re.fullmatch(plain, _formatted(io.StringIO(), journal))


# -- a real station ----------------------------------------------------------------------------------
def _notified_station(tmp_path: Path, *args: str):
    name, receiver = _receiver()
    env = {"NOTIFY_SOCKET": name, "WATCHDOG_USEC": "2000000"}
    return receiver, start_station(tmp_path, *args, env=env)


@pytest.mark.system
def test_a_station_tells_systemd_it_is_ready_and_logs_with_time_and_level(tmp_path):
    receiver, running = _notified_station(tmp_path, "--inject-faults", "raise@2")
    try:
        assert receiver.recv(4096) == b"READY=1"  # sent once it listens; it plays by now
        deadline = time.monotonic() + 30
        while "attempt 2" not in running.log():
            assert time.monotonic() < deadline, running.log()
            time.sleep(0.2)
    finally:
        assert running.stop() == 0
        receiver.close()
    stamped = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (ERROR|WARNING) riffcast\.pipeline\.producer: image 2, attempt 1"
    assert re.search(stamped, running.log(), re.M), running.log()


@pytest.mark.system
def test_a_playing_station_pings_the_watchdog(tmp_path):
    receiver, running = _notified_station(tmp_path)
    try:
        assert receiver.recv(4096) == b"READY=1"
        # The watchdog part: WATCHDOG_USEC=2 s, so the pacing clock must ping at least every 1 s.
        # (Fails until the clock calls riffcast.ops.systemd.notifier().watchdog().)
        pings, deadline = [], time.monotonic() + 4.0
        while time.monotonic() < deadline:
            try:
                pings.append(receiver.recv(4096))
            except TimeoutError:
                break
            if len(pings) >= 4:
                break
        assert running.health()["playing"]
    finally:
        assert running.stop() == 0
        receiver.close()
    assert pings.count(b"WATCHDOG=1") >= 3, f"got {pings}: does the clock call notifier().watchdog()?"
