"""silo's local stack: install, start and stop the pieces around silo.

Standard library only, so that `tools/stack` runs on a fresh machine and the
integration tests (tests/integration/conftest.py) start the very same
processes the demo does.

Everything downloaded or built is cached outside the repository, in
~/.cache/silo-stack/<name>-<version>/ (or $SILO_STACK_CACHE), so a fresh
clone reuses it.  Every server listens on 127.0.0.1 on a port found by
binding port 0, every wait is bounded, and every process is started in its
own process group and killed with it on exit.
"""

import atexit
import contextlib
import fcntl
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("SILO_STACK_CACHE")
             or Path.home() / ".cache" / "silo-stack")

FERRETDB_VERSION = "v1.24.2"
FERRETDB_PKG = "github.com/FerretDB/FerretDB/cmd/ferretdb"
MINIO_VERSION = "v0.0.0-20260212201848-7aac2a2c5b7c"
MINIO_PKG = "github.com/minio/minio"
# The Go that builds them when the machine's own is missing or older than
# 1.24 (Debian 12 ships 1.19): the toolchain as published on the Go module
# proxy, the same module GOTOOLCHAIN switching downloads.
GO_MIN = (1, 24)
GO_TOOLCHAIN_VERSION = "1.24.11"
# 1.0.1 and later fail to install from the npm registry.
MONGO_EXPRESS_VERSION = "1.0.0"

APT_PACKAGES = [
    "build-essential", "autoconf", "automake", "libtool", "pkg-config",
    "libfcgi-dev", "libmongoc-dev", "libbson-dev", "libcurl4-openssl-dev",
    "libcjson-dev", "libssl-dev", "libexpat1-dev", "libcmocka-dev",
    "caddy", "wrk", "curl", "chromium",
]

# The test venv, fully pinned (transitive dependencies included).
PY_REQUIREMENTS = [
    "pytest==8.3.5",
    "pytest-tap==3.5",
    "tap.py==3.2.1",
    "pymongo==4.10.1",
    "dnspython==2.9.2",
    "iniconfig==2.3.1",
    "packaging==26.3",
    "pluggy==1.7.0",
    # docs/openapi.yaml, read by the contract test
    "PyYAML==6.0.3",
    # ... and the answers validated against it (OAS 3.0)
    "openapi-schema-validator==0.7.3",
    "jsonschema==4.26.0",
    "jsonschema-specifications==2025.9.1",
    "referencing==0.37.0",
    "rpds-py==2026.9.1",
    "attrs==26.1.0",
    "rfc3339-validator==0.1.4",
    "six==1.17.0",
    "typing_extensions==4.16.0",
]

MINIO_USER = "silo-dev"
MINIO_PASSWORD = "silo-dev-secret"


def say(*args):
    print("stack:", *args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- paths

def ferretdb_bin():
    return CACHE / f"ferretdb-{FERRETDB_VERSION}" / "bin" / "ferretdb"


def minio_bin():
    return CACHE / f"minio-{MINIO_VERSION}" / "bin" / "minio"


def mongo_express_dir():
    """The directory mongo-express's app.js is in."""
    return (CACHE / f"mongo-express-{MONGO_EXPRESS_VERSION}" / "node_modules"
            / "mongo-express")


def _pyenv_hash():
    base = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    text = "\n".join(PY_REQUIREMENTS + [base, "%d.%d" % sys.version_info[:2]])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def pyenv_dir():
    return CACHE / f"pyenv-{_pyenv_hash()}"


def pyenv_python():
    return pyenv_dir() / "bin" / "python"


def _pyenv_ok():
    return (pyenv_dir() / ".silo-stack-complete").exists() and \
        pyenv_python().exists()


def caddy_bin():
    return shutil.which("caddy") or "/usr/bin/caddy"


def found_paths():
    """What is installed, without installing anything (for run.sh)."""
    out = {}
    if _pyenv_ok():
        out["SILO_STACK_PYTHON"] = str(pyenv_python())
    if ferretdb_bin().exists():
        out["SILO_FERRETDB"] = str(ferretdb_bin())
    if shutil.which("caddy"):
        out["SILO_CADDY"] = shutil.which("caddy")
    if minio_bin().exists():
        out["SILO_MINIO"] = str(minio_bin())
    if (mongo_express_dir() / "app.js").exists():
        out["SILO_MONGO_EXPRESS_DIR"] = str(mongo_express_dir())
    return out


# ---------------------------------------------------------------- install

def run(argv, **kw):
    """Run a command, echoing it; raise on failure."""
    say("+", " ".join(str(a) for a in argv))
    subprocess.run([str(a) for a in argv], check=True, **kw)


@contextlib.contextmanager
def _lock(name):
    """Serialise installs of one thing across concurrent stack commands."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f".{name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _dpkg_installed(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg],
                       capture_output=True, text=True)
    return r.returncode == 0 and r.stdout.strip().endswith(" installed")


def install_apt():
    want = list(APT_PACKAGES)
    # A Debian python3 needs python3-venv for `python -m venv` (pyenv's
    # Pythons bring ensurepip themselves).
    if subprocess.run([sys.executable, "-c", "import ensurepip"],
                      capture_output=True).returncode != 0:
        want.append("python3-venv")
    if not shutil.which("npm"):
        want += ["nodejs", "npm"]
    missing = [p for p in want if not _dpkg_installed(p)]
    if not missing:
        return
    say("apt packages missing:", " ".join(missing))
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(sudo + ["apt-get", "update"], env=env)
    run(sudo + ["apt-get", "install", "-y", "--no-install-recommends"]
        + missing, env=env)


def _go_version(go):
    """(major, minor) of the go binary, or None if it does not run."""
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True,
                         text=True, env=dict(os.environ, GOTOOLCHAIN="local"))
    m = re.match(r"go(\d+)\.(\d+)", out.stdout.strip())
    return (int(m.group(1)), int(m.group(2))) if m else None


def _go_toolchain():
    """A Go >= GO_MIN in the cache, fetched with whatever go is at hand.

    The toolchain module's zip does not keep file modes, so the binaries
    are made executable after the copy, as cmd/go itself does."""
    root = CACHE / f"go-{GO_TOOLCHAIN_VERSION}"
    go = root / "bin" / "go"
    if go.exists():
        return go
    module = (f"golang.org/toolchain@v0.0.1-go{GO_TOOLCHAIN_VERSION}"
              ".linux-amd64")
    say(f"fetching the Go {GO_TOOLCHAIN_VERSION} toolchain ({module})")
    out = subprocess.run(["go", "mod", "download", "-json", module],
                         check=True, capture_output=True, text=True,
                         env=dict(os.environ, GOTOOLCHAIN="local",
                                  GOFLAGS="-mod=mod"), cwd=CACHE)
    tmp = root.with_name(root.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(json.loads(out.stdout)["Dir"], tmp)
    for d, _, files in os.walk(tmp):
        os.chmod(d, 0o755)
        for f in files:
            os.chmod(os.path.join(d, f), 0o644)
    for sub in ("bin", "pkg/tool/linux_amd64"):
        for f in (tmp / sub).iterdir():
            os.chmod(f, 0o755)
    os.replace(tmp, root)
    return go


def _go_env():
    """The environment for Go builds, with a go >= GO_MIN first on PATH."""
    if not shutil.which("go"):
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        run(sudo + ["apt-get", "install", "-y", "--no-install-recommends",
                    "golang-go"],
            env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    path = os.environ.get("PATH", "")
    version = _go_version("go")
    if version is None or version < GO_MIN:
        CACHE.mkdir(parents=True, exist_ok=True)
        path = f"{_go_toolchain().parent}{os.pathsep}{path}"
    # Never let go fetch a different toolchain on its own.
    return dict(os.environ, PATH=path, GOTOOLCHAIN="local", GOFLAGS="-mod=mod")


def _go_fetch(what, module, version, root, env):
    """Download module@version into the module cache through a throwaway
    main module; return the module's directory in the cache.

    `go install pkg@version` fails for some modules here (the proxy answers
    403 to the @v/list lookup it makes for deprecation notices); `go get`
    from a main module of our own does not make that lookup.
    """
    mod = root / "mod"
    mod.mkdir(parents=True, exist_ok=True)
    (mod / "go.mod").write_text("module silo.local/%s-build\n\ngo 1.24\n"
                                % what)
    (mod / "go.sum").unlink(missing_ok=True)
    run(["go", "get", f"{module}@{version}"], cwd=mod, env=env)
    out = subprocess.run(["go", "list", "-m", "-f", "{{.Dir}}", module],
                         cwd=mod, env=env, check=True, capture_output=True,
                         text=True).stdout.strip()
    return mod, Path(out)


def _build_once(what, version, dest, build):
    """Run build(tmp) under a lock unless dest exists; the binary is
    written to a temporary name and renamed, so an interrupted build never
    looks finished."""
    if dest.exists():
        return
    with _lock(dest.parent.parent.name):
        if dest.exists():
            return
        env = _go_env()
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".tmp")
        tmp.unlink(missing_ok=True)
        say(f"building {what} {version} from source with go "
            "(several minutes of CPU on 2 cores)")
        t0 = time.monotonic()
        build(tmp, env)
        os.replace(tmp, dest)
        say(f"built {dest} in {time.monotonic() - t0:.0f}s")


def install_ferretdb():
    dest = ferretdb_bin()
    root = dest.parent.parent

    def build(tmp, env):
        _, srcdir = _go_fetch("ferretdb", "github.com/FerretDB/FerretDB",
                              FERRETDB_VERSION, root, env)
        # FerretDB reads its version from an embedded build/version/
        # version.txt that the module zip leaves out, and panics at start
        # without it; so build from a writable copy of the source with the
        # file written, as its own main module.
        src = root / "src"
        shutil.rmtree(src, ignore_errors=True)
        shutil.copytree(srcdir, src)
        for d, _, files in os.walk(src):
            os.chmod(d, 0o755)
            for f in files:
                os.chmod(os.path.join(d, f), 0o644)
        (src / "build" / "version" / "version.txt").write_text(
            FERRETDB_VERSION + "\n")
        run(["go", "build", "-o", tmp, "./cmd/ferretdb"], cwd=src, env=env)
        out = subprocess.run([str(tmp), "--version"], capture_output=True,
                             text=True)
        if out.returncode != 0 or FERRETDB_VERSION not in out.stdout:
            raise RuntimeError("the FerretDB build does not run:\n"
                               + out.stdout + out.stderr)

    _build_once("FerretDB", FERRETDB_VERSION, dest, build)


def install_minio():
    dest = minio_bin()
    root = dest.parent.parent

    def build(tmp, env):
        mod, _ = _go_fetch("minio", MINIO_PKG, MINIO_VERSION, root, env)
        run(["go", "build", "-o", tmp, MINIO_PKG], cwd=mod, env=env)

    _build_once("MinIO", MINIO_VERSION, dest, build)


def install_mongo_express():
    final = CACHE / f"mongo-express-{MONGO_EXPRESS_VERSION}"
    if (mongo_express_dir() / "app.js").exists():
        return
    with _lock(final.name):
        if (mongo_express_dir() / "app.js").exists():
            return
        tmp = final.with_name(final.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        say(f"installing mongo-express {MONGO_EXPRESS_VERSION} with npm")
        run(["npm", "install", "--prefix", tmp, "--no-audit", "--no-fund",
             "--loglevel=error", f"mongo-express@{MONGO_EXPRESS_VERSION}"])
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)


def install_pyenv():
    # A venv cannot be renamed (its scripts hold absolute paths), so it is
    # built in place and only counts once its completion marker exists.
    if _pyenv_ok():
        return
    d = pyenv_dir()
    with _lock(d.name):
        if _pyenv_ok():
            return
        shutil.rmtree(d, ignore_errors=True)
        say(f"creating the test venv {d}")
        run([sys.executable, "-m", "venv", d])
        req = d / "requirements.txt"
        req.write_text("\n".join(PY_REQUIREMENTS) + "\n")
        run([d / "bin" / "python", "-m", "pip", "install", "-q",
             "--disable-pip-version-check", "-r", req])
        (d / ".silo-stack-complete").write_text("ok\n")


def install(minio=True, mongo_express=True):
    install_apt()
    install_pyenv()
    if mongo_express:
        install_mongo_express()
    install_ferretdb()
    if minio:
        install_minio()


# ---------------------------------------------------------------- build

def _newer(a, b):
    """True if any path in a is newer than path b (or b is missing)."""
    if not b.exists():
        return True
    t = b.stat().st_mtime
    return any(p.exists() and p.stat().st_mtime > t for p in a)


def build_silo(builddir, configure_args=(), target=None, jobs=2):
    """autoreconf (when needed), configure out of tree, make."""
    builddir = Path(builddir)
    inputs = [REPO / "configure.ac", REPO / "Makefile.am"] + \
        list((REPO / "m4").glob("*.m4"))
    if _newer(inputs, REPO / "configure") or \
            not (REPO / "build-aux" / "tap-driver.sh").exists():
        run(["autoreconf", "-fi"], cwd=REPO)
    builddir.mkdir(parents=True, exist_ok=True)
    stamp = builddir / ".silo-configure-args"
    args = list(configure_args)
    if not (builddir / "config.status").exists() or \
            not stamp.exists() or stamp.read_text() != " ".join(args) or \
            _newer([REPO / "configure"], builddir / "config.status"):
        stamp.unlink(missing_ok=True)
        run([REPO / "configure"] + args, cwd=builddir)
        stamp.write_text(" ".join(args))
    if target is not None:
        run(["make", f"-j{jobs}"] + ([target] if target else []), cwd=builddir)
    return builddir


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


def clean_env(**extra):
    """The environment for a child: ours, minus silo/mongo settings."""
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("SILO_") or k.startswith("MONGODB_")
                   or k.startswith("ME_CONFIG_") or k.startswith("MINIO_"))}
    env.update({k: str(v) for k, v in extra.items()})
    return env


# ---------------------------------------------------------------- services

def ferretdb(datadir, port=None, log_path=None, binary=None):
    """FerretDB (SQLite backend) on 127.0.0.1:port with its data in datadir."""
    datadir = Path(datadir)
    datadir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    binary = binary or os.environ.get("SILO_FERRETDB") or ferretdb_bin()
    s = Service(
        "ferretdb",
        [binary, "--handler=sqlite", f"--sqlite-url=file:{datadir}/",
         f"--listen-addr=127.0.0.1:{port}", f"--state-dir={datadir}",
         "--telemetry=disable", "--debug-addr=-", "--log-level=warn"],
        log_path or datadir.parent / "ferretdb.log",
        env=clean_env(), ready=lambda: tcp_open("127.0.0.1", port))
    s.port = port
    s.uri = f"mongodb://127.0.0.1:{port}/"
    return s


def minio(datadir, log_path=None, binary=None, domain=None):
    """MinIO on free loopback ports.  With domain (e.g. "localhost") it
    also answers virtual-hosted requests, bucket.<domain>:port."""
    datadir = Path(datadir)
    datadir.mkdir(parents=True, exist_ok=True)
    port, console = free_port(), free_port()
    binary = binary or os.environ.get("SILO_MINIO") or minio_bin()
    s = Service(
        "minio",
        [binary, "server", "--quiet", "--address", f"127.0.0.1:{port}",
         "--console-address", f"127.0.0.1:{console}", datadir],
        log_path or datadir.parent / "minio.log",
        env=clean_env(MINIO_ROOT_USER=MINIO_USER,
                      MINIO_ROOT_PASSWORD=MINIO_PASSWORD,
                      MINIO_BROWSER_REDIRECT="off",
                      HOME=str(datadir.parent),
                      **({"MINIO_DOMAIN": domain} if domain else {})),
        ready=lambda: http_status(
            f"http://127.0.0.1:{port}/minio/health/ready") == 200)
    s.port, s.console_port = port, console
    s.url = f"http://127.0.0.1:{port}"
    s.console_url = f"http://127.0.0.1:{console}"
    return s


def mongo_express(mongo_uri, log_path, user, password, db_name="aesthetic",
                  appdir=None):
    """mongo-express on a free port, base URL /db/, showing db_name (it
    shows the database named in its connection string)."""
    appdir = Path(appdir or os.environ.get("SILO_MONGO_EXPRESS_DIR")
                  or mongo_express_dir())
    port = free_port()
    s = SupervisedService(
        "mongo-express", ["node", "app.js"], log_path, cwd=appdir,
        env=clean_env(NODE_ENV="production",
                      ME_CONFIG_MONGODB_URL=mongo_uri.rstrip("/") + "/"
                      + db_name,
                      ME_CONFIG_SITE_BASEURL="/db/",
                      ME_CONFIG_BASICAUTH_USERNAME=user,
                      ME_CONFIG_BASICAUTH_PASSWORD=password,
                      ME_CONFIG_SITE_COOKIESECRET=os.urandom(16).hex(),
                      ME_CONFIG_SITE_SESSIONSECRET=os.urandom(16).hex(),
                      VCAP_APP_HOST="127.0.0.1", PORT=port),
        ready=lambda: http_status(f"http://127.0.0.1:{port}/db/")
        in (200, 401))
    s.port = port
    return s


def socket_path(rundir, name="silo.sock"):
    """A unix socket path in rundir, or a short temp dir if that is too long
    for sun_path (108 bytes)."""
    p = Path(rundir) / name
    if len(str(p).encode()) < 100:
        return p
    return Path(tempfile.mkdtemp(prefix="silo-")) / name


def silo(binary, mongo_uri, sock, log_path, workers=2, db_name="aesthetic",
         rundir=None, **extra_env):
    """`silo serve` on a unix socket."""
    sock = Path(sock)
    rundir = Path(rundir or sock.parent)
    envfile = rundir / "silo.env"      # empty: keep /etc/silo/silo.env out
    envfile.parent.mkdir(parents=True, exist_ok=True)
    if not envfile.exists():
        envfile.write_text("# silo local stack: settings come from the "
                           "environment\n")
    # The shared cache lives in the run directory, not in /var/cache.
    extra_env.setdefault("SILO_CACHE_DIR", rundir / "cache")
    env = clean_env(MONGODB_CONNECTION_STRING=mongo_uri,
                    MONGODB_NAME=db_name, SILO_LISTEN=f"unix:{sock}",
                    SILO_WORKERS=workers, SILO_SOCKET_MODE="0600",
                    SILO_ENV_FILE=envfile, **extra_env)
    s = Service("silo", [binary, "--env-file", envfile, "serve"], log_path,
                env=env, ready=lambda: unix_open(sock), stop_timeout=35.0)
    s.sock = sock
    s.cache_dir = Path(extra_env["SILO_CACHE_DIR"])
    return s


def caddy(site_port, fastcgi_sock, rundir, log_path, www=None,
          mongo_express_addr="127.0.0.1:1", caddyfile=None, binary=None):
    """Caddy serving the dev site http://127.0.0.1:site_port, admin off."""
    rundir = Path(rundir)
    home = rundir / "caddy-home"
    for d in ("data", "config"):
        (home / d).mkdir(parents=True, exist_ok=True)
    caddyfile = caddyfile or os.environ.get("SILO_CADDYFILE") or \
        REPO / "Caddyfile"
    env = clean_env(
        HOME=home, XDG_DATA_HOME=home / "data",
        XDG_CONFIG_HOME=home / "config",
        SILO_SITE=f"http://127.0.0.1:{site_port}",
        SILO_FASTCGI=f"unix/{fastcgi_sock}",
        SILO_MONGO_EXPRESS=mongo_express_addr,
        SILO_WWW=www or REPO / "www",
        SILO_CADDY_ADMIN="off")
    s = Service("caddy",
                [binary or os.environ.get("SILO_CADDY") or caddy_bin(),
                 "run", "--config", caddyfile, "--adapter", "caddyfile"],
                log_path, env=env, cwd=rundir,
                ready=lambda: tcp_open("127.0.0.1", site_port))
    s.port = site_port
    s.url = f"http://127.0.0.1:{site_port}"
    return s


# ---------------------------------------------------------------- data

DEMO_SCALE = 0.05       # the demo's dataset: about 6,500 documents


def load_ac_dataset(silo_bin, mongo_uri, workdir, db_name="aesthetic",
                    scale=DEMO_SCALE, seed=1):
    """Generate AC's backup (tools/acgen.py) into workdir/backup and load
    all of it, drop and archive lists included, with `silo import --all`:
    the migration path itself, not a side door."""
    sys.path.insert(0, str(REPO / "tools"))
    import acgen
    backup = Path(workdir) / "backup"
    shutil.rmtree(backup, ignore_errors=True)
    manifest = acgen.generate_backup(str(backup), scale=scale, seed=seed)
    env = clean_env(MONGODB_CONNECTION_STRING=mongo_uri,
                    SILO_ENV_FILE="/dev/null")
    run([silo_bin, "import", "--all", "--drop", "--database", db_name,
         backup], env=env, stdout=subprocess.DEVNULL)
    return manifest


def upload_spaces(probe, url, rows, objdir, buckets, **env):
    """Create buckets and upload acgen's Spaces objects (rows, files under
    objdir/<bucket>/<key>) through silo's own S3 client: one
    `spaces_probe putlist` (multipart above its threshold)."""
    env = clean_env(SPACES_ENDPOINT=url, SPACES_KEY=MINIO_USER,
                    SPACES_SECRET=MINIO_PASSWORD, **env)
    for b in buckets:
        subprocess.run([str(probe), "mb", b], env=env, check=True,
                       capture_output=True)
    lines = "".join(
        f"{r['bucket']}\t{r['key']}\t"
        f"{os.path.join(objdir, r['bucket'], *r['key'].split('/'))}\n"
        for r in rows)
    r = subprocess.run([str(probe), "putlist"], env=env, input=lines.encode(),
                       capture_output=True, timeout=1800)
    if r.returncode != 0:
        raise RuntimeError("uploading the Spaces objects failed: "
                           + r.stderr.decode(errors="replace"))


# ---------------------------------------------------------------- helpers

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
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


if __name__ == "__main__":
    if sys.argv[1:] == ["paths"]:
        for k, v in found_paths().items():
            print(f"{k}={v}")
    else:
        print("usage: stacklib.py paths", file=sys.stderr)
        sys.exit(2)
