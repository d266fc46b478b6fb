"""Timeouts that scale with the machine: a wait for a guest under TCG is
measured in "idle-machine seconds", so a busy machine gives a slow pass,
not a flake.

speed_factor() measures how much of a CPU this process gets right now: a
short busy loop, timed by the wall clock and by the process's CPU clock.
On an idle machine the two agree (factor 1); while other programs (QEMU's
TCG threads, a build, other tests) share the cores, the wall clock runs
ahead (factor 2 = half a core).  The guests run in the same contention, so
they are slowed by about the same factor.  It is measured again every few
seconds, since the load changes during a run.

Deadline(timeout) counts the seconds of a wait divided by the factor
measured while they passed; it has passed once timeout idle-machine
seconds have gone by.
"""
import time

PROBE_CPU_S = 0.03      # CPU time one measurement burns
REMEASURE_S = 5.0       # how long a measurement holds
MAX_FACTOR = 10.0

_last = {"at": -1e9, "factor": 1.0}


def speed_factor():
    now = time.monotonic()
    if now - _last["at"] >= REMEASURE_S:
        w0, c0 = time.perf_counter(), time.process_time()
        n = 0
        while time.process_time() - c0 < PROBE_CPU_S:
            n += 1
        wall = time.perf_counter() - w0
        cpu = time.process_time() - c0
        _last["factor"] = min(MAX_FACTOR, max(1.0, wall / cpu)) if cpu > 0 else 1.0
        _last["at"] = now
    return _last["factor"]


class Deadline:
    """A timeout in idle-machine seconds (see the module's comment)."""

    def __init__(self, timeout):
        self.timeout = timeout
        self.used = 0.0
        self.last = time.monotonic()
        self.worst = 1.0

    def passed(self):
        now = time.monotonic()
        f = speed_factor()
        self.worst = max(self.worst, f)
        self.used += (now - self.last) / f
        self.last = now
        return self.used > self.timeout

    def __str__(self):
        return "%ss (machine up to %.1fx slower than idle)" % (self.timeout, self.worst)
