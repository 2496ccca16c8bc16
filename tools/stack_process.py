"""silo's local stack: process supervision.

Every server the demo, the tests and the benchmarks run is a Service: one
process in its own process group, its output appended to a log file,
started with a bounded wait until it is ready, and stopped with SIGTERM,
then SIGKILL, with its whole group.  A live Service is stopped when the
Python process exits (atexit), also on SIGTERM or SIGHUP once
install_signal_handlers() has run; if that process dies without cleaning
up, even by SIGKILL, the kernel sends its servers SIGTERM
(PR_SET_PDEATHSIG).  Every server listens on 127.0.0.1 on a port found by
binding port 0 (free_port), and every wait is bounded.

Standard library only; the lowest layer of tools/: stack_install.py and
stack_services.py build on it.
"""

import atexit
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path


def say(*args):
    """One line of the stack's own narration, on stderr."""
    print("stack:", *args, file=sys.stderr, flush=True)


def run(argv, **kw):
    """Run a command, echoing it; raise on failure."""
    say("+", " ".join(str(a) for a in argv))
    subprocess.run([str(a) for a in argv], check=True, **kw)


def clean_env(**extra):
    """The environment for a child: ours, minus silo/mongo settings, and
    without libmongoc's shared-memory counters (MONGOC_DISABLE_SHM, as
    deploy/silo.service sets it: a killed process leaves its
    /dev/shm/mongoc-<pid> behind, and the next process given that pid
    warns on stderr before silo's logging starts)."""
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("SILO_") or k.startswith("MONGODB_")
                   or k.startswith("ME_CONFIG_") or k.startswith("MINIO_"))}
    env["MONGOC_DISABLE_SHM"] = "1"
    env.update({k: str(v) for k, v in extra.items()})
    return env


# ---------------------------------------------------------------- processes

_LIVE = []              # every Service started and not yet stopped
_LIVE_LOCK = threading.Lock()
try:
    import ctypes
    _LIBC = ctypes.CDLL(None, use_errno=True)
except Exception:       # pragma: no cover
    _LIBC = None


def _child_setup():
    # If the stack process dies without cleaning up (even by SIGKILL), the
    # kernel sends its direct children SIGTERM.
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Service:
    """One server process in its own process group, logging to a file."""

    def __init__(self, name, argv, log_path, env=None, cwd=None,
                 ready=None, ready_timeout=60.0, stop_timeout=15.0,
                 pdeathsig=True):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = Path(log_path)
        self.env = env
        self.cwd = cwd
        self.ready = ready
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self.pdeathsig = pdeathsig
        self.proc = None
        self.url = None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def _spawn(self):
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"--- {time.strftime('%H:%M:%S')} starting: "
                      f"{' '.join(self.argv)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, env=self.env, cwd=self.cwd,
                start_new_session=True,
                preexec_fn=_child_setup if self.pdeathsig else None)

    def start(self):
        self._spawn()
        with _LIVE_LOCK:
            if self not in _LIVE:
                _LIVE.append(self)
        if self.ready is not None:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=None):
        timeout = self.ready_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with status {self.proc.returncode} "
                    f"while starting; last lines of {self.log_path}:\n"
                    + self.tail())
            if self.ready():
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{self.name} was not ready after {timeout:.0f}s; last "
                    f"lines of {self.log_path}:\n" + self.tail())
            time.sleep(0.1)

    def _kill_group(self, sig):
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, timeout=None):
        """SIGTERM the process group, SIGKILL it after timeout."""
        timeout = self.stop_timeout if timeout is None else timeout
        if self.proc is not None:
            if self.proc.poll() is None:
                self._kill_group(signal.SIGTERM)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    say(f"{self.name} ignored SIGTERM for {timeout:.0f}s; "
                        "killing it")
                    self._kill_group(signal.SIGKILL)
                    self.proc.wait(5)
            # Sweep anything left in the group (e.g. orphaned workers).
            self._kill_group(signal.SIGKILL)
        with _LIVE_LOCK:
            if self in _LIVE:
                _LIVE.remove(self)
        return self.proc.returncode if self.proc else None

    def tail(self, n=40):
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-n:])


class SupervisedService(Service):
    """A Service restarted when it exits, a bounded number of times.

    mongo-express exits about 30 s after losing its database; it is
    restarted with a backoff doubling from 1 s to 30 s, at most
    max_restarts times.
    """

    def __init__(self, *a, max_restarts=10, **kw):
        super().__init__(*a, **kw)
        self.max_restarts = max_restarts
        self.restarts = 0
        self._stopping = threading.Event()
        self._thread = None

    def start(self):
        super().start()
        self._thread = threading.Thread(target=self._watch, daemon=True,
                                        name=f"supervise-{self.name}")
        self._thread.start()
        return self

    def _watch(self):
        backoff = 1.0
        while not self._stopping.is_set():
            if self.proc.poll() is None:
                self._stopping.wait(0.5)
                continue
            if self.restarts >= self.max_restarts:
                say(f"{self.name} exited {self.restarts + 1} times; "
                    "not restarting it again")
                return
            if self._stopping.wait(backoff):
                return
            self.restarts += 1
            backoff = min(backoff * 2, 30.0)
            say(f"{self.name} exited (status {self.proc.returncode}); "
                f"restart {self.restarts}/{self.max_restarts}")
            self._spawn()

    def stop(self, timeout=None):
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)
        return super().stop(timeout)


def stop_all():
    """Stop every live Service, newest first."""
    with _LIVE_LOCK:
        live = list(reversed(_LIVE))
    for s in live:
        try:
            s.stop()
        except Exception as e:  # keep tearing down the rest
            say(f"stopping {s.name}: {e}")


atexit.register(stop_all)


def install_signal_handlers():
    """Turn SIGTERM/SIGHUP into a normal exit, so atexit tears down."""
    def handler(signum, frame):
        raise SystemExit(128 + signum)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


# -------------------------------------------------------- ports and waits

def free_port():
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tcp_open(host, port, timeout=0.5):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def unix_open(path, timeout=0.5):
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(path))
            return True
    except OSError:
        return False


def http_status(url, timeout=2.0):
    """The HTTP status of GET url, or None if there was no answer."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except (OSError, http.client.HTTPException):
        return None


def children_of(pid):
    """Pids of pid's live children (from /proc)."""
    kids = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids.update(int(x) for x in
                        (task / "children").read_text().split())
        except OSError:
            pass
    return sorted(kids)


def wait_until(pred, timeout, what, interval=0.1):
    """Poll pred until it is truthy; raise TimeoutError after timeout s."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for "
                               f"{what}")
        time.sleep(interval)

