"""Processes and sockets read from ``/proc`` (Linux, proc(5)): CPU seconds, memory, descriptors."""

from __future__ import annotations

import os
from dataclasses import dataclass

CLK_TCK = os.sysconf("SC_CLK_TCK")  # clock ticks per second in /proc/*/stat
TCP_STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2", 6: "TIME_WAIT",
              7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING"}


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """utime + stime in seconds of a process (all its threads) or of one of its threads (fields 14, 15)."""
    path = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    with open(path) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """:func:`cpu_seconds` of each thread of a process, by thread id (threads that end while
    they are read are left out)."""
    seconds = {}
    for name in os.listdir(f"/proc/{pid}/task"):
        try:
            seconds[int(name)] = cpu_seconds(pid, int(name))
        except FileNotFoundError:
            pass
    return seconds


def runqueue_seconds(pid: int, thread: int) -> float:
    """Seconds a thread spent runnable but waiting for a core (schedstat, second field)."""
    with open(f"/proc/{pid}/task/{thread}/schedstat") as stat:
        return int(stat.read().split()[1]) / 1e9


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent not idle (all cores together)."""
    with open("/proc/stat") as stat:
        user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in stat.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def _status(pid: int) -> dict[str, list[str]]:
    status = {}
    with open(f"/proc/{pid}/status") as lines:
        for line in lines:
            key, _, value = line.partition(":")
            status[key] = value.split()
    return status


def rss_kib(pid: int) -> int:
    """Resident memory (``VmRSS``) of a process, KiB."""
    with open(f"/proc/{pid}/status") as lines:
        for line in lines:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


@dataclass
class ProcSample:
    """One process at one moment."""

    rss_kib: int  # resident memory, KiB
    fds: int  # open file descriptors
    threads: int
    cpu_s: float  # CPU seconds used so far, all threads

    @classmethod
    def take(cls, pid: int) -> ProcSample:
        status = _status(pid)
        return cls(int(status["VmRSS"][0]), len(os.listdir(f"/proc/{pid}/fd")), int(status["Threads"][0]),
                   cpu_seconds(pid))


def tcp_connection(local_port: int, remote_port: int) -> tuple[str, int] | None:
    """A loopback connection's end at ``local_port`` (from /proc/net/tcp): (state, unsent bytes in
    the kernel), or None if there is none."""
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            local, remote, state, queues = line.split()[1:5]
            if int(local.rsplit(":", 1)[1], 16) == local_port and int(remote.rsplit(":", 1)[1], 16) == remote_port:
                code = int(state, 16)
                return TCP_STATES.get(code, str(code)), int(queues.split(":")[0], 16)
    return None
