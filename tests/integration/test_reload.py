"""SIGHUP: a valid new configuration replaces the worker pool without
dropping requests; an invalid one is refused and the old pool keeps
serving.  Each test runs its own silo beside the shared stack's, on an env
file it rewrites, so the shared stack is left as it was."""

import os
import signal
import time

import stack_process as sp
import stack_services as sv
from conftest import DB_NAME


def start_silo(stack, name, env_text):
    rundir = stack.root / name
    rundir.mkdir(parents=True, exist_ok=True)
    (rundir / "silo.env").write_text(env_text)
    sock = sv.socket_path(rundir, "silo.sock")
    # The env file is read by silo itself, so SILO_WORKERS must not also
    # come from the environment (which takes precedence).
    s = sv.silo(stack.silo_bin, stack.fdb.uri, sock,
                stack.silo_log(rundir / "silo.log"),
                workers=1, db_name=DB_NAME, rundir=rundir)
    s.env.pop("SILO_WORKERS")
    s.start()
    return s, rundir / "silo.env"


def worker_count(pid, want):
    return sp.wait_until(lambda: len(sp.children_of(pid)) == want and
                         sp.children_of(pid), 15, f"{want} workers")


def new_generation(pid, want, old):
    """The master's children once the old generation has left them and
    `want` new workers run.  The generations overlap by design (the new
    one is forked at once, the old one exits after its requests), so a
    plain count of children can be met half-way: old workers not yet
    exited plus new ones not all forked.  Only the disjoint set is the
    new generation."""
    def ready():
        kids = sp.children_of(pid)
        return len(kids) == want and not set(kids) & set(old) and kids
    return sp.wait_until(ready, 15, f"{want} workers, none of the old "
                         f"generation {old}")


def test_sighup_applies_a_valid_config(stack):
    s, envfile = start_silo(stack, "reload-ok", "SILO_WORKERS=2\n")
    try:
        old = worker_count(s.pid, 2)
        envfile.write_text("SILO_WORKERS=3\n")
        os.kill(s.pid, signal.SIGHUP)
        # Fails (TimeoutError) if an old worker outlives the reload.
        new_generation(s.pid, 3, old)
        assert s.alive()
        text = s.log_path.read_text()
        assert "reloaded configuration: 2 workers retiring, 3 starting" in text
    finally:
        s.stop()


def test_sighup_refuses_an_invalid_config_and_keeps_serving(stack):
    s, envfile = start_silo(stack, "reload-bad", "SILO_WORKERS=2\n")
    try:
        old = worker_count(s.pid, 2)
        envfile.write_text("SILO_WORKERS=lots\n")
        os.kill(s.pid, signal.SIGHUP)
        sp.wait_until(lambda: "reload refused" in s.log_path.read_text(), 10,
                      "the refusal in the log")
        line = [ln for ln in s.log_path.read_text().splitlines()
                if "reload refused" in ln][0]
        assert "SILO_WORKERS='lots'" in line, line
        assert "silo.env:1" in line, line
        time.sleep(0.5)
        assert sp.children_of(s.pid) == old, "workers changed on a bad config"
        assert s.alive()
    finally:
        s.stop()
