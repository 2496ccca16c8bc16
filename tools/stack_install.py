"""silo's local stack: installing what it needs, and building silo.

Debian packages through apt; FerretDB and MinIO built from source with a
Go >= 1.24 (the machine's, or the pinned toolchain fetched from the Go
module proxy); mongo-express through npm; the tests' Python venv, fully
pinned.  Everything downloaded or built is cached outside the repository,
in ~/.cache/silo-stack/<name>-<version>/ (or $SILO_STACK_CACHE), so a
fresh clone reuses it.  Each install is idempotent, takes a lock in the
cache so that concurrent stack commands build a thing once, and never
looks finished when it was interrupted: it writes to a temporary name
renamed when complete (the venv, which cannot move, gets a completion
marker instead).

`python3 tools/stack_install.py paths` prints what is installed, as
KEY=VALUE lines (tests/integration/run.sh reads them).

Standard library only.
"""

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from stack_process import run, say

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("SILO_STACK_CACHE")
             or Path.home() / ".cache" / "silo-stack")

FERRETDB_VERSION = "v1.24.2"
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
    "groff-base",       # renders docs/silo.1 into silo's help
    "caddy", "wrk", "curl", "chromium",
    "systemd",          # systemd-analyze checks the installed units
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
    # /api/metrics, parsed by Prometheus's own client library
    "prometheus-client==0.21.1",
]


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


def build_bench():
    """The benchmarks' silo: optimized, unsanitized, in build/bench."""
    return build_silo(REPO / "build" / "bench", ["CFLAGS=-O2 -g"],
                      target="")


if __name__ == "__main__":
    if sys.argv[1:] == ["paths"]:
        for k, v in found_paths().items():
            print(f"{k}={v}")
    else:
        print("usage: stack_install.py paths", file=sys.stderr)
        sys.exit(2)
