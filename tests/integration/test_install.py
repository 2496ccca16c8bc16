"""`make install` gives a silo that runs as installed.

The build the suite tests is installed twice from its own build directory:
once with DESTDIR into a stage, as a package build does, and once with
prefix moved into a scratch directory, so that the units it installs name
a binary that exists and `systemd-analyze verify` can check them whole.

From the stage, the installed binary runs behind the installed Caddyfile
with the installed dashboard, against its own FerretDB and MinIO: every
route `silo help serve` lists is called through Caddy and must give its
one right answer.  The two POSTs that start jobs are followed to their
end, since a detached job re-executes silo from where it was installed.
"""

import http.client
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import stack_process as sp
import stack_services as sv
from conftest import ADMIN_TOKEN, need_minio, spaces_tool

UNITS = ["silo.service", "silo.socket", "silo-storage.service",
         "silo-storage.timer", "silo-backup.service", "silo-backup.timer",
         "silo-backup-verify.service", "silo-backup-verify.timer",
         "silo-mongo-express.service"]
WWW = ["app.js", "index.html", "signin.html", "signin.js"]
DB = "aesthetic"
BUCKET = "user-aesthetic-computer"
BACKUPS = "silo-backups"
SUB = "auth0|" + "7" * 24
PASSWORD = "install-test-password-1"

# Enough for `silo config check` to pass, and nothing from this process.
CONFIG_ENV = sv.clean_env(MONGODB_CONNECTION_STRING="mongodb://127.0.0.1:1")

# One ENDPOINTS line of `silo help serve`: "    GET /api/x/:id  (read:db)".
ENDPOINT = re.compile(r"\s+([A-Z]+) (/\S*)  \(([a-z:-]+)\)")


def builddir(stack):
    return Path(stack.silo_bin).resolve().parent


def make_env():
    """The environment without the enclosing make's flags (make check
    runs this suite), which would add its directory lines to the output."""
    return {k: v for k, v in os.environ.items()
            if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}


def make_var(stack, name):
    """A variable of the build's Makefile, as configure set it."""
    r = subprocess.run(["make", "-s", "-C", str(builddir(stack)),
                        "--no-print-directory", "-f", "Makefile", "-f", "-",
                        "print-var"], input=f"print-var:\n\t@echo $({name})\n",
                       capture_output=True, text=True, env=make_env())
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def make_install(stack, *args):
    r = subprocess.run(["make", "-s", "-C", str(builddir(stack)), "install",
                        *args], capture_output=True, text=True, timeout=600,
                       env=make_env())
    assert r.returncode == 0, r.stdout + r.stderr
    return r


@pytest.fixture(scope="module")
def stage(stack):
    if not (builddir(stack) / "Makefile").exists():
        pytest.skip(f"silo was not built by autotools here ({stack.silo_bin})")
    root = stack.root / "install"
    make_install(stack, f"DESTDIR={root}")
    dirs = {v: make_var(stack, v) for v in
            ("bindir", "datadir", "mandir", "sysconfdir", "localstatedir",
             "systemdunitdir")}
    yield root, dirs
    shutil.rmtree(root, ignore_errors=True)


def test_every_part_lands_in_its_gnu_directory(stage):
    root, d = stage
    want = {f"{d['bindir']}/silo", f"{d['mandir']}/man1/silo.1",
            f"{d['datadir']}/silo/Caddyfile",
            f"{d['datadir']}/silo/silo.env.example"}
    want |= {f"{d['datadir']}/silo/www/{f}" for f in WWW}
    want |= {f"{d['systemdunitdir']}/{u}" for u in UNITS}
    got = {"/" + str(p.relative_to(root)) for p in root.rglob("*")
           if p.is_file()}
    assert got == want
    assert (root / d["bindir"].lstrip("/") / "silo").stat().st_mode & 0o111


def test_installed_files_name_the_configured_directories(stage):
    """The sources are written for /usr and /etc; what is installed names
    the directories this build was configured with."""
    root, d = stage
    units = root / d["systemdunitdir"].lstrip("/")
    service = (units / "silo.service").read_text()
    assert f"ExecStart={d['bindir']}/silo serve\n" in service
    assert f"EnvironmentFile=-{d['sysconfdir']}/silo/silo.env\n" in service
    for u in UNITS:
        text = (units / u).read_text()
        for line in text.splitlines():
            if line.startswith("ExecStart") and "silo" in line.split()[0]:
                assert line.split("=", 1)[1].split()[0] == \
                    f"{d['bindir']}/silo", (u, line)
    caddyfile = (root / d["datadir"].lstrip("/") / "silo/Caddyfile")
    assert f"{{$SILO_WWW:{d['datadir']}/silo/www}}" in caddyfile.read_text()
    r = subprocess.run([str(root / d["bindir"].lstrip("/") / "silo"),
                        "--env-file", "/dev/null", "config", "check"],
                       capture_output=True, text=True, env=CONFIG_ENV)
    assert r.returncode == 0, r.stderr
    assert f"SILO_BACKUP_KEY={d['sysconfdir']}/silo/backup.key" in r.stdout
    assert f"SILO_CACHE_DIR={d['localstatedir']}/cache/silo" in r.stdout


def test_example_env_file_names_every_setting(stage, stack):
    """Every setting `silo config` knows is in the installed example,
    set or commented out, so an operator sees all of them."""
    root, d = stage
    example = (root / d["datadir"].lstrip("/") /
               "silo/silo.env.example").read_text()
    named = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", example, re.M))
    r = subprocess.run([str(stack.silo_bin), "--env-file", "/dev/null",
                        "config", "check"], capture_output=True, text=True,
                       env=CONFIG_ENV)
    assert r.returncode == 0, r.stderr
    settings = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", r.stdout, re.M))
    assert settings, r.stdout
    assert settings - named == set()


def test_units_verify(stack, tmp_path):
    """systemd-analyze verify passes on every unit, as installed (prefix
    moved into tmp_path so that the binary they start exists)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed: run tools/stack "
                    "install")
    make_install(stack, f"prefix={tmp_path}")
    units = tmp_path / "lib/systemd/system"
    for u in UNITS:
        r = subprocess.run([analyze, "verify", "--man=no", str(units / u)],
                           capture_output=True, text=True)
        assert r.returncode == 0 and r.stderr == "" and r.stdout == "", \
            (u, r.stdout, r.stderr)


def test_services_are_hardened(stage):
    """systemd-analyze security rates every service of ours OK (exposure
    at most 2.0 of 10; it was 5.8 before the units dropped every
    capability and filtered system calls)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed: run tools/stack "
                    "install")
    root, d = stage
    units = root / d["systemdunitdir"].lstrip("/")
    for u in (u for u in UNITS if u.endswith(".service")):
        r = subprocess.run([analyze, "security", "--offline=true",
                            "--no-pager", str(units / u)],
                           capture_output=True, text=True)
        m = re.search(r"Overall exposure level for \S+: (\d+\.\d+) ",
                      r.stdout)
        assert m, (u, r.stdout[-500:], r.stderr)
        assert float(m.group(1)) <= 2.0, (u, r.stdout)


# ---------------------------------------------------------------- running

class Installed:
    def __init__(self, root, dirs, rundir):
        self.bin = root / dirs["bindir"].lstrip("/") / "silo"
        self.share = root / dirs["datadir"].lstrip("/") / "silo"
        self.rundir = rundir
        self.fdb = self.mio = self.silo = self.caddy = None

    def env(self):
        return dict(SPACES_ENDPOINT=self.mio.url, SPACES_KEY=sv.MINIO_USER,
                    SPACES_SECRET=sv.MINIO_PASSWORD, SPACES_BUCKETS=BUCKET,
                    SILO_STORAGE_LOCK=self.rundir / "storage.lock",
                    SILO_STORAGE_LOG=self.rundir / "storage.log",
                    SILO_BACKUP_BUCKET=BACKUPS,
                    SILO_BACKUP_KEY=self.rundir / "backup.key",
                    SILO_BACKUP_LOCK=self.rundir / "backup.lock",
                    SILO_BACKUP_LOG=self.rundir / "backup.log")

    def run(self, *args, stdin=None):
        env = sv.clean_env(MONGODB_CONNECTION_STRING=self.fdb.uri,
                           MONGODB_NAME=DB, **self.env())
        return subprocess.run([str(self.bin), "--env-file", "/dev/null",
                               *args], input=stdin, env=env,
                              capture_output=True, text=True, timeout=120)

    def request(self, method, path, headers=None, body=None, token=True):
        h = {"Authorization": "Bearer " + ADMIN_TOKEN} if token else {}
        h.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.caddy.port,
                                          timeout=30)
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            conn.close()


@pytest.fixture(scope="module")
def installed(stack, stage):
    need_minio()
    root, dirs = stage
    rundir = stack.root / "installed"
    rundir.mkdir()
    it = Installed(root, dirs, rundir)
    try:
        it.fdb = sv.ferretdb(rundir / "ferretdb",
                             log_path=rundir / "ferretdb.log").start()
        from pymongo import MongoClient
        with MongoClient(it.fdb.uri) as c:
            c[DB].users.insert_one({"_id": SUB, "code": "ac25inst"})
            c[DB]["@handles"].insert_one({"_id": SUB, "handle": "inst"})
            c[DB].paintings.insert_one({"code": "pinst", "user": SUB})
        it.mio = sv.minio(rundir / "minio",
                          log_path=rundir / "minio.log").start()
        objdir = rundir / "objects"
        rows = [{"bucket": BUCKET, "key": f"{SUB}/painting/{n}.png",
                 "size": 1000 * n} for n in (1, 2, 3)]
        for row in rows:
            p = objdir / BUCKET / row["key"]
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(b"p" * row["size"])
        sv.upload_spaces(spaces_tool(), it.mio.url, rows, objdir,
                         [BUCKET, BACKUPS])
        r = it.run("backup", "keygen", str(rundir / "backup.key"))
        assert r.returncode == 0, r.stderr
        r = it.run("user", "add", "installer", "--role", "admin",
                   stdin=PASSWORD + "\n")
        assert r.returncode == 0, r.stderr
        sock = sv.socket_path(rundir, "silo.sock")
        it.silo = sv.silo(it.bin, it.fdb.uri, sock,
                          stack.silo_log(rundir / "silo.log"), workers=2,
                          db_name=DB, rundir=rundir,
                          SILO_ADMIN_TOKEN=ADMIN_TOKEN,
                          OVEN_URL=stack.fakes["oven"].url,
                          SESSION_URL=stack.fakes["session"].url,
                          PDS_URL=stack.fakes["pds"].url,
                          **it.env()).start()
        it.caddy = sv.caddy(sp.free_port(), sock, rundir,
                            rundir / "caddy.log", www=it.share / "www",
                            caddyfile=it.share / "Caddyfile").start()
        yield it
    finally:
        for s in (it.caddy, it.silo, it.mio, it.fdb):
            if s is not None:
                s.stop()


def endpoints(binary):
    r = subprocess.run([str(binary), "help", "serve"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    found = [m.groups()[:2] for line in r.stdout.splitlines()
             if (m := ENDPOINT.fullmatch(line))]
    assert len(found) > 20, r.stdout
    return found


def wait_for(what, check, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen in {timeout} s")


def test_installed_dashboard_is_served(installed):
    for name in WWW:
        status, headers, body = installed.request("GET", "/" + name)
        assert status == 200, name
        assert body == (installed.share / "www" / name).read_bytes()


def test_installed_silo_answers_every_route(installed):
    """Every route, through the installed Caddyfile: the job starters
    first (their jobs re-execute the installed binary), then each GET
    with the one status it must give."""
    it = installed
    called = set()

    status, _, body = it.request("POST", "/api/storage/refresh")
    assert status == 202, body
    called.add(("POST", "/api/storage/refresh"))
    wait_for("the storage refresh", lambda: it.request(
        "GET", "/api/storage/usage")[0] == 200)
    usage = json.loads(it.request("GET", "/api/storage/usage")[2])
    assert usage["objects"] == 3 and usage["bytes"] == 6000, usage

    status, _, body = it.request("POST", "/api/backups/run")
    assert status == 202, body
    called.add(("POST", "/api/backups/run"))
    wait_for("the backup run", lambda: json.loads(it.request(
        "GET", "/api/backups")[2])["status"] == "ok")

    origin = f"http://127.0.0.1:{it.caddy.port}"
    status, headers, body = it.request(
        "POST", "/api/auth/login", body=json.dumps(
            {"user": "installer", "password": PASSWORD}),
        headers={"Content-Type": "application/json", "Origin": origin},
        token=False)
    assert status == 200, body
    cookie = headers["Set-Cookie"].split(";")[0]
    called.add(("POST", "/api/auth/login"))
    status, _, body = it.request("POST", "/api/auth/logout", headers={
        "Cookie": cookie, "Origin": origin}, token=False)
    assert status == 204, body
    called.add(("POST", "/api/auth/logout"))

    for method, path in endpoints(it.bin):
        if (method, path) in called:
            continue
        assert method == "GET", (method, path, "has no call here")
        uri = path.replace(":id", "inst")
        status, _, body = it.request("GET", uri)
        want = 204 if path == "/api/auth/db" else 200
        assert status == want, (uri, status, body[:300])
        called.add((method, path))
    assert set(endpoints(it.bin)) == called
