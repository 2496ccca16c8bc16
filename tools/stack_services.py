"""silo's local stack: the services, as the demo and the tests run them.

FerretDB, MinIO, mongo-express, `silo serve` and Caddy, each a Service
(stack_process.py) configured the one way the demo (tools/stack), the
integration tests (tests/integration/conftest.py) and the benchmarks
(bench/) all use, on loopback and free ports, with the binaries
stack_install.py put in the cache (or those the SILO_* variables name).
Also the data the stack is seeded with: AC's generated dataset loaded with
`silo import --all`, and its Spaces objects uploaded with silo's own S3
client (tools/spaces-tool).

Standard library only.
"""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from stack_install import (REPO, caddy_bin, ferretdb_bin, minio_bin,
                           mongo_express_dir)
from stack_process import (Service, SupervisedService, clean_env, free_port,
                           http_status, run, tcp_open, unix_open)

MINIO_USER = "silo-dev"
MINIO_PASSWORD = "silo-dev-secret"


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
          mongo_express_addr="127.0.0.1:1", caddyfile=None, binary=None,
          **extra_env):
    """Caddy serving the dev site http://127.0.0.1:site_port, listening on
    127.0.0.1 only, with no admin endpoint (the Caddyfile's default);
    extra_env sets more of the Caddyfile's variables (e.g.
    SILO_READ_HEADER_TIMEOUT)."""
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
        SILO_BIND="127.0.0.1", **extra_env)
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


def bench_silo(build, mongo_uri, root, workers, fakes, **extra_env):
    """The benchmarks' `silo serve`: the optimized build in build, on a
    unix socket in root, logging warnings only, probing the stand-ins in
    fakes (tools/ac_standins.py); started."""
    return silo(Path(build) / "silo", mongo_uri, socket_path(root),
                Path(root) / "silo.log", workers=workers, rundir=root,
                SILO_LOG_LEVEL="warning", OVEN_URL=fakes["oven"].url,
                SESSION_URL=fakes["session"].url, PDS_URL=fakes["pds"].url,
                **extra_env).start()


def load_ac_dataset(silo_bin, mongo_uri, workdir, db_name="aesthetic",
                    scale=DEMO_SCALE, seed=1, log_path=None):
    """Generate AC's backup (tools/acgen.py) into workdir/backup and load
    all of it, drop and archive lists included, with `silo import --all`:
    the migration path itself, not a side door.  The import's stderr goes
    to log_path when given (where the tests' sanitizer check reads it),
    else to ours."""
    import acgen        # tools/acgen.py, next to this file
    backup = Path(workdir) / "backup"
    shutil.rmtree(backup, ignore_errors=True)
    manifest = acgen.generate_backup(str(backup), scale=scale, seed=seed)
    env = clean_env(MONGODB_CONNECTION_STRING=mongo_uri,
                    SILO_ENV_FILE="/dev/null")
    argv = [silo_bin, "import", "--all", "--drop", "--database", db_name,
            backup]
    if log_path is None:
        run(argv, env=env, stdout=subprocess.DEVNULL)
    else:
        with open(log_path, "ab") as log:
            run(argv, env=env, stdout=subprocess.DEVNULL, stderr=log)
    return manifest


def upload_spaces(tool, url, rows, objdir, buckets, **env):
    """Create buckets and upload acgen's Spaces objects (rows, files under
    objdir/<bucket>/<key>) through silo's own S3 client: one
    `tools/spaces-tool putlist` (multipart above its threshold); tool is
    the built program."""
    env = clean_env(SPACES_ENDPOINT=url, SPACES_KEY=MINIO_USER,
                    SPACES_SECRET=MINIO_PASSWORD, **env)
    for b in buckets:
        subprocess.run([str(tool), "mb", b], env=env, check=True,
                       capture_output=True)
    lines = "".join(
        f"{r['bucket']}\t{r['key']}\t"
        f"{os.path.join(objdir, r['bucket'], *r['key'].split('/'))}\n"
        for r in rows)
    r = subprocess.run([str(tool), "putlist"], env=env, input=lines.encode(),
                       capture_output=True, timeout=1800)
    if r.returncode != 0:
        raise RuntimeError("uploading the Spaces objects failed: "
                           + r.stderr.decode(errors="replace"))
