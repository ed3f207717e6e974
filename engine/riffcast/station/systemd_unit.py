"""The systemd unit file ``riffcast serve --systemd-unit`` prints: pure, argv in, text out. The
process's side under systemd (``sd_notify``, the journal's log format) is
:mod:`riffcast.ops.systemd`'s.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import urllib.parse
from collections.abc import Sequence

TOKEN_ENV = "RIFFCAST_CONTROL_TOKEN"
ENV_FILE = "/etc/riffcast/env"
STATE_DIR = "/var/lib/riffcast"
WATCHDOG_S = 30  # the station pings every WatchdogSec/2 at the latest (Notifier.watchdog_interval_s)
START_TIMEOUT_S = 600  # READY=1 waits for the model to load (minutes with --compile)
MIN_OPEN_FILES = 65536  # one socket per listener (--max-listeners, default 10 000) + files, with room

PATH_OPTIONS = ("playlist", "state", "record", "as_run", "tls_cert", "tls_key", "hls_window_dir")  # dests whose relative paths are made absolute
ICECAST_PASSWORD_ENV = "RIFFCAST_ICECAST_PASSWORD"
NEVER_CARRIED = ("systemd_unit",)
_PLAIN_WORD = re.compile(r"[A-Za-z0-9_./:=+,@-]+")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
            "\t": "\\t", "\v": "\\v"}

HEADER = """\
# riffcast station under systemd: starts at boot, restarts on any exit (or a silent watchdog),
# resumes its programme with --state. ExecStart= carries the options this was printed with.
#
# Install (as root), in a riffcast checkout (add [riffusion] for the model: '.[riffusion]'):
#   python3 -m venv /opt/riffcast/venv && /opt/riffcast/venv/bin/pip install ./clients/python .
#   useradd --system --home /var/lib/riffcast riffcast
#   mkdir -p /etc/riffcast && cp programme.toml /etc/riffcast/   (your playlist)
#   /opt/riffcast/venv/bin/riffcast serve --host 0.0.0.0 --playlist /etc/riffcast/programme.toml
#       --state /var/lib/riffcast/state.json --systemd-unit > /etc/systemd/system/riffcast.service
#       (one command: your serve options, then --systemd-unit; never --control-token)
#   printf 'RIFFCAST_CONTROL_TOKEN=%s\\n' "$(openssl rand -hex 24)" > /etc/riffcast/env
#   (with --icecast URLs, leave their password out and add RIFFCAST_ICECAST_PASSWORD=… there too)
#   chmod 600 /etc/riffcast/env
#   systemctl daemon-reload && systemctl enable --now riffcast
#   journalctl -u riffcast -f                   (the log; the token is never written there)
"""


# -- the unit file -----------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """The serve options, raising ValueError instead of exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ValueError(message)


def _serve_parser() -> _Parser:
    """``riffcast serve``'s options, every default suppressed: parsing yields only what was given."""
    from riffcast.generation.options import add_generator_arguments
    from riffcast.station.options import add_serve_arguments

    parser = _Parser(prog="riffcast serve", add_help=False, allow_abbrev=True)
    add_serve_arguments(parser)
    add_generator_arguments(parser)
    for action in parser._actions:  # argparse keeps no public list of its actions
        action.default = argparse.SUPPRESS
    return parser


def exec_word(word: str, *, variables: bool = True) -> str:
    """One ``ExecStart=`` word meaning exactly ``word`` after systemd unquotes it, expands its
    ``%`` specifiers (``%%`` is ``%``) and, when ``variables``, its ``$`` variables (``$$``)."""
    if "\0" in word:
        raise ValueError(f"{word!r}: a command line cannot hold a NUL character")
    try:
        word.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{word!r} is not valid UTF-8, which a unit file must be") from None
    if _PLAIN_WORD.fullmatch(word) and word != ";":
        return word
    out = []
    for char in word:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        elif char == "%":
            out.append("%%")
        elif char == "$" and variables:
            out.append("$$")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _option_words(action: argparse.Action, value: object) -> list[str]:
    name = max(action.option_strings, key=len)  # the long form, whatever abbreviation was typed
    if action.nargs == 0:
        return [name]
    values = value if isinstance(value, list) and action.nargs is None else [value]
    words: list[str] = []
    for item in values:
        text = str(item)
        words += [f"{name}={text}"] if text.startswith("-") else [name, text]
    return words


def _absolute(path: str, cwd: str) -> str:
    return os.path.normpath(os.path.join(cwd, path))


def _is_a_path(seed_image: str) -> bool:
    """As riffcast.generation.seeds.load_seed tells a file from a built-in bed name (``boom-bap-94``)."""
    return bool(os.path.splitext(seed_image)[1]) or os.sep in seed_image


def serve_command(argv: Sequence[str], cwd: str) -> tuple[list[str], argparse.Namespace]:
    """The serve arguments a unit runs (``--systemd-unit`` left out, relative paths made
    absolute, long option names) and what was given; ValueError for what cannot go in a unit."""
    parser = _serve_parser()
    given = parser.parse_args(list(argv))
    if hasattr(given, "control_token"):
        raise ValueError(f"--control-token does not go into a unit file (anyone can read it there): "
                         f"put {TOKEN_ENV}=… in {ENV_FILE}, the unit's EnvironmentFile, instead")
    for url in getattr(given, "icecast", ()):
        if urllib.parse.urlsplit(url).password is not None:
            raise ValueError(f"an --icecast password does not go into a unit file (anyone can read it there): "
                             f"leave it out of the URL and put {ICECAST_PASSWORD_ENV}=… in {ENV_FILE} instead")
    for dest in PATH_OPTIONS:
        if hasattr(given, dest):
            setattr(given, dest, _absolute(str(getattr(given, dest)), cwd))
    if hasattr(given, "seed_image") and _is_a_path(given.seed_image):
        given.seed_image = _absolute(given.seed_image, cwd)
    actions = {action.dest: action for action in parser._actions}
    words: list[str] = []
    for dest, value in vars(given).items():  # in the order they were first given
        if dest not in NEVER_CARRIED:
            words += _option_words(actions[dest], value)
    return words, given


def unit_text(argv: list[str], executable: str, *, cwd: str | None = None) -> str:
    """The systemd unit running ``executable -m riffcast serve`` with the serve options ``argv``
    (as typed, ``--systemd-unit`` among them or not). ``executable`` is an absolute path to the
    Python that has riffcast; relative paths in ``argv`` are taken from ``cwd`` (default: here)."""
    if not os.path.isabs(executable):
        raise ValueError(f"{executable}: the interpreter must be an absolute path for ExecStart=")
    if any(c in "$\"'\\" or ord(c) < 0x20 or ord(c) == 0x7F for c in executable):
        raise ValueError(f"{executable!r}: systemd takes no quote, backslash, '$' or control character "
                         "in the program path")
    words, given = serve_command(argv, os.getcwd() if cwd is None else cwd)
    command = " ".join([exec_word(executable, variables=False), "-m", "riffcast", "serve",
                        *(exec_word(word) for word in words)])
    open_files = max(MIN_OPEN_FILES, getattr(given, "max_listeners", 0) + 4096)
    audio = "# --play: the sound card\nSupplementaryGroups=audio\n" if getattr(given, "play", False) else ""
    return f"""{HEADER}
[Unit]
Description=riffcast: generated music station
After=network-online.target sound.target
Wants=network-online.target
# Never give up after a burst of failures: an installation keeps trying, RestartSec= apart.
StartLimitIntervalSec=0

[Service]
# READY=1 when the station listens; then WATCHDOG=1 from its clock at least every WatchdogSec/2.
# A station silent for WatchdogSec (a hung clock or producer) is killed and restarted.
Type=notify
NotifyAccess=main
TimeoutStartSec={START_TIMEOUT_S}
WatchdogSec={WATCHDOG_S}
User=riffcast
{audio}StateDirectory=riffcast
WorkingDirectory={STATE_DIR}
Environment=HF_HUB_OFFLINE=1
EnvironmentFile=-{ENV_FILE}
# One file descriptor per listener: the default soft limit (1024) is below --max-listeners.
LimitNOFILE={open_files}
ExecStart={command}
# SIGTERM: listeners get close code 1001, the state and any recording are saved; exit < 2 s.
KillSignal=SIGTERM
TimeoutStopSec=10
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
"""


def unit_for_this_command(args: argparse.Namespace) -> str:
    """The unit for the ``riffcast serve … --systemd-unit`` this process was started with."""
    from riffcast.generation.options import add_generator_arguments
    from riffcast.station.options import add_serve_arguments

    parser = argparse.ArgumentParser(prog="riffcast serve")
    add_serve_arguments(parser)
    add_generator_arguments(parser)
    argv = sys.argv[2:] if sys.argv[1:2] == ["serve"] else None
    try:
        reparsed = vars(parser.parse_args(argv)) if argv is not None else None
    except SystemExit:
        reparsed = None
    same = reparsed is not None and all(vars(args).get(key) == value for key, value in reparsed.items())
    if not same or argv is None:
        raise ValueError("--systemd-unit reads the command line: run `riffcast serve [options] --systemd-unit`")
    return unit_text(argv, os.path.abspath(sys.executable))
