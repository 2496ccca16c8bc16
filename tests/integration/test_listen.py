"""Where silo's FastCGI socket comes from: a TCP port, a listener passed as
fd 0 (the FastCGI convention), or systemd socket activation (fd 3); and
the unix socket's mode.  Plus raw FastCGI input Caddy would never send."""

import contextlib
import os
import socket
import stat
import subprocess

import fcgi
import stack_process as sp
import stack_services as sv
from conftest import ADMIN_TOKEN, DB_NAME


def spawn(stack, name, env_extra, **popen):
    """Start `silo serve` by hand (not via sv.silo()), logging to a file."""
    log = stack.silo_log(stack.root / f"{name}.log")
    env = sp.clean_env(MONGODB_CONNECTION_STRING=stack.fdb.uri,
                       MONGODB_NAME=DB_NAME, SILO_WORKERS="2",
                       SILO_ENV_FILE="/dev/null", SILO_ADMIN_TOKEN=ADMIN_TOKEN,
                       **env_extra)
    with open(log, "wb") as f:
        proc = subprocess.Popen(popen.pop("argv", [stack.silo_bin, "serve"]),
                                env=env, stdout=f, stderr=subprocess.STDOUT,
                                **popen)
    return proc, log


def stop(proc):
    proc.terminate()
    assert proc.wait(40) == 0


def wait_served(address, log):
    return sp.wait_until(
        lambda: _try(address), 15,
        f"silo to answer on {address}; log:\n{log.read_text()}")


def _try(address):
    try:
        return fcgi.get(address, "/api/ping")
    except OSError:
        return None


@contextlib.contextmanager
def inherited_listener(stack, name, env, popen):
    """A listening unix socket made here and handed to a silo started with
    spawn(...); popen(fd) gives the Popen arguments that pass fd on.
    Yields (path, log) once silo answers on it."""
    path = sv.socket_path(stack.root, f"{name}.sock")
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(str(path))
    lsock.listen(16)
    try:
        proc, log = spawn(stack, name, env, **popen(lsock.fileno()))
        try:
            wait_served(str(path), log)
            yield path, log
        finally:
            stop(proc)
    finally:
        lsock.close()


def test_tcp_listen(stack):
    port = sp.free_port()
    proc, log = spawn(stack, "tcp", {"SILO_LISTEN": f"tcp:127.0.0.1:{port}"})
    try:
        r = wait_served(("127.0.0.1", port), log)
        assert r.status == 200 and r.json() == {"ok": True}
        assert f"serving on tcp:127.0.0.1:{port}" in log.read_text()
        r = fcgi.get(("127.0.0.1", port), "/api/db/health")
        assert r.status == 200 and r.json()["status"] == "ok"
    finally:
        stop(proc)


def test_fastcgi_fd0_convention_is_detected(stack):
    # No SILO_LISTEN: auto finds the listener on fd 0.
    with inherited_listener(stack, "fd0", {},
                            lambda fd: {"stdin": fd}) as (path, log):
        assert fcgi.get(str(path), "/api/ping").status == 200
        assert "serving on stdin (fd 0)" in log.read_text()
    assert path.exists(), "silo must not remove a socket it did not bind"


def test_systemd_socket_activation(stack):
    # As systemd does: the socket on fd 3, LISTEN_PID = the service's pid
    # (the shell's, which exec keeps).
    def popen(fd):
        return {"argv": ["/bin/sh", "-c",
                         'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" serve',
                         str(stack.silo_bin)],
                "pass_fds": (3,), "preexec_fn": lambda: os.dup2(fd, 3)}
    with inherited_listener(stack, "systemd", {"SILO_LISTEN": "systemd"},
                            popen) as (path, log):
        assert fcgi.get(str(path), "/api/ping").status == 200
        assert "serving on systemd (fd 3)" in log.read_text()


def test_systemd_without_socket_is_a_clear_error(stack):
    proc, log = spawn(stack, "nosystemd", {"SILO_LISTEN": "systemd"})
    assert proc.wait(20) == 1
    assert "SILO_LISTEN=systemd but no socket was passed" in log.read_text()


def test_unix_socket_mode(stack):
    mode = stat.S_IMODE(os.stat(stack.silo.sock).st_mode)
    assert mode == 0o600, oct(mode)     # SILO_SOCKET_MODE in sv.silo()


def test_second_silo_on_a_live_socket_refuses(stack):
    proc, log = spawn(stack, "dup", {"SILO_LISTEN": f"unix:{stack.silo.sock}"})
    assert proc.wait(20) == 1
    assert "is in use by a running server" in log.read_text()
    assert fcgi.get(str(stack.silo.sock), "/api/ping").status == 200


def test_raw_malformed_content_length(stack):
    r = fcgi.request(str(stack.silo.sock), {
        "REQUEST_METHOD": "POST", "REQUEST_URI": "/api/ping",
        "CONTENT_LENGTH": "12abc"}, b"x" * 12)
    assert r.status == 400
    assert "Content-Length '12abc' is not a byte count" in \
        r.json()["error"]["message"]


def test_raw_chunked_body_is_read_to_the_end(stack):
    # Caddy passes a chunked body as CONTENT_LENGTH=-1.
    r = fcgi.request(str(stack.silo.sock), {
        "REQUEST_METHOD": "POST", "REQUEST_URI": "/api/ping",
        "CONTENT_LENGTH": "-1"}, b"y" * 300000)
    assert r.status == 405 and r.headers["allow"] == "GET, HEAD"


def test_raw_chunked_body_over_the_limit(stack):
    r = fcgi.request(str(stack.silo.sock), {
        "REQUEST_METHOD": "POST", "REQUEST_URI": "/api/ping",
        "CONTENT_LENGTH": "-1"}, b"z" * (1024 * 1024 + 1))
    assert r.status == 413
    assert r.json()["error"]["code"] == "payload_too_large"


def test_raw_body_shorter_than_declared(stack):
    r = fcgi.request(str(stack.silo.sock), {
        "REQUEST_METHOD": "POST", "REQUEST_URI": "/api/ping",
        "CONTENT_LENGTH": "100"}, b"short")
    assert r.status == 400
    assert "ended after 5 of 100 bytes" in r.json()["error"]["message"]


def test_raw_missing_request_uri(stack):
    r = fcgi.request(str(stack.silo.sock), {"REQUEST_METHOD": "GET"})
    assert r.status == 400
    assert r.json()["error"]["code"] == "bad_request"


def test_raw_head_has_no_body(stack):
    r = fcgi.request(str(stack.silo.sock), {
        "REQUEST_METHOD": "HEAD", "REQUEST_URI": "/api/ping"})
    assert r.status == 200
    assert r.body == b"" and r.headers["content-length"] == "11"
