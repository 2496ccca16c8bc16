"""deploy/bootstrap.sh, planned against throwaway roots.

`--dry-run --root DIR` prints every command the bootstrap would run on
the machine whose files DIR holds, and runs none.  On a fresh Debian 12
tree that is the whole list below, in order; on a tree that already holds
everything a finished bootstrap leaves, it is nothing at all (a second
run changes nothing).  No secret the bootstrap generates or is given
appears in what it prints.
"""

import os
import subprocess

import pytest

from conftest import SRCDIR

SCRIPT = SRCDIR / "deploy" / "bootstrap.sh"
ARGS = ["--domain", "silo.example.org", "--admin", "jeffrey"]
BOOKWORM = 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'
NOBLE = 'ID=ubuntu\nVERSION_ID="24.04"\nVERSION_CODENAME=noble\n'

PACKAGES = ["ca-certificates", "curl", "gnupg", "openssl", "ufw", "caddy",
            "nodejs", "npm", "build-essential", "pkg-config", "libfcgi-dev",
            "libmongoc-dev", "libbson-dev", "libcurl4-openssl-dev",
            "libcjson-dev", "libssl-dev", "libexpat1-dev", "zlib1g-dev",
            "groff-base"]
KEYRING = "/usr/share/keyrings/mongodb-server-7.0.gpg"
BUILD = "/usr/local/src/silo-{v}-build"

FRESH = [
    "apt-get update",
    "env DEBIAN_FRONTEND=noninteractive apt-get install -y "
    "--no-install-recommends " + " ".join(PACKAGES),
    "useradd --system --home-dir /var/lib/silo --no-create-home "
    "--shell /usr/sbin/nologin silo",
    "usermod -a -G caddy silo",
    "install -d -m 0750 -o root -g silo /etc/silo",
    "sh -c curl\\ -fsSL\\ https://www.mongodb.org/static/pgp/server-7.0.asc"
    "\\ \\|\\ gpg\\ --dearmor\\ -o\\ " + KEYRING,
    "write /etc/apt/sources.list.d/mongodb-org-7.0.list (mode 0644, owner "
    "root:root)",
    "apt-get update",
    "env DEBIAN_FRONTEND=noninteractive apt-get install -y "
    "--no-install-recommends mongodb-org",
    "write /etc/mongod.conf (mode 0644, owner root:root)",
    "systemctl restart mongod",
    "systemctl enable --now mongod",
    "write /etc/silo/mongodb-admin.password (mode 0600, owner root:root)",
    "write /etc/silo/mongodb-silo.password (mode 0600, owner root:root)",
    "mongosh --quiet --eval db.getSiblingDB\\(\\'admin\\'\\).createUser\\("
    "\\{user:\\ \\'admin\\'\\,\\ pwd:\\ process.env.MONGO_ADMIN_PW\\,\\ "
    "roles:\\ \\[\\'root\\'\\]\\}\\)",
    "mongosh --quiet --eval const\\ a\\ =\\ db.getSiblingDB\\(\\'admin\\'\\)"
    "\\;\\ a.auth\\(\\'admin\\'\\,\\ process.env.MONGO_ADMIN_PW\\)\\;\\ "
    "a.createUser\\(\\{user:\\ \\'silo\\'\\,\\ pwd:\\ process.env."
    "MONGO_SILO_PW\\,\\ roles:\\ \\[\\{role:\\ \\'read\\'\\,\\ db:\\ "
    "\\'aesthetic\\'\\}\\,\\ \\{role:\\ \\'readWrite\\'\\,\\ db:\\ "
    "\\'silo\\'\\}\\,\\ \\{role:\\ \\'clusterMonitor\\'\\,\\ db:\\ "
    "\\'admin\\'\\}\\]\\}\\)",
    "install -d -m 0700 /var/lib/silo-bootstrap",
    "write /var/lib/silo-bootstrap/mongodb-users (mode 0600, owner "
    "root:root)",
    "install -d " + BUILD,
    "sh -c cd\\ " + BUILD + "\\ \\&\\&\\ {src}/configure\\ --prefix=/usr"
    "\\ --sysconfdir=/etc\\ --localstatedir=/var",
    "make -C " + BUILD + " -j{nproc}",
    "make -C " + BUILD + " install",
    "write /var/lib/silo-bootstrap/installed-version (mode 0600, owner "
    "root:root)",
    "write /etc/silo/silo.env (mode 0640, owner root:silo)",
    "/usr/bin/silo backup keygen /etc/silo/backup.key",
    "chown silo:silo /etc/silo/backup.key",
    "npm install --prefix /opt/mongo-express --omit=dev "
    "mongo-express@1.0.0",
    "write /etc/silo/mongo-express.password (mode 0600, owner root:root)",
    "write /etc/silo/mongo-express.cookie (mode 0600, owner root:root)",
    "write /etc/silo/mongo-express.session (mode 0600, owner root:root)",
    "write /etc/silo/mongo-express.env (mode 0640, owner root:silo)",
    "install -m 0644 /usr/share/silo/Caddyfile /etc/caddy/Caddyfile",
    "install -d /etc/systemd/system/caddy.service.d",
    "write /etc/systemd/system/caddy.service.d/silo.conf (mode 0644, owner "
    "root:root)",
    "systemctl daemon-reload",
    "systemctl restart caddy",
    "systemctl enable --now silo.service",
    "systemctl enable --now silo-mongo-express.service",
    "systemctl enable --now silo-storage.timer",
    "systemctl enable --now silo-backup.timer",
    "systemctl enable --now silo-backup-verify.timer",
    "/usr/bin/silo user add jeffrey --role admin --totp",
    "write /var/lib/silo-bootstrap/admin-jeffrey (mode 0600, owner "
    "root:root)",
    "ufw default deny incoming",
    "ufw default allow outgoing",
    "ufw allow 22/tcp",
    "ufw allow 80/tcp",
    "ufw allow 443/tcp",
    "ufw --force enable",
]

MONGOD_CONF = """\
# mongod for silo and AC: localhost only, every client authenticated.
storage:
  dbPath: /var/lib/mongodb
systemLog:
  destination: file
  logAppend: true
  path: /var/log/mongodb/mongod.log
net:
  port: 27017
  bindIp: 127.0.0.1
processManagement:
  timeZoneInfo: /usr/share/zoneinfo
security:
  authorization: enabled
"""


def version():
    for line in (SRCDIR / "configure").read_text().splitlines():
        if line.startswith("PACKAGE_VERSION="):
            return line.split("=", 1)[1].strip("'\"")
    raise AssertionError("configure names no version")


def plan(root, *extra, env=None):
    r = subprocess.run([str(SCRIPT), "--dry-run", "--root", str(root),
                        *ARGS, *extra], capture_output=True, text=True,
                       timeout=60, env=env)
    commands = [line[2:] for line in r.stdout.splitlines()
                if line.startswith("+ ")]
    return r, commands


def fresh_root(tmp_path, os_release=BOOKWORM):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text(os_release)
    return root


@pytest.fixture(autouse=True)
def needs_configure():
    if not (SRCDIR / "configure").exists():
        pytest.skip("no configure: run autoreconf (tools/stack does)")


def test_fresh_debian_gets_every_step_in_order(tmp_path):
    r, commands = plan(fresh_root(tmp_path))
    assert r.returncode == 0, r.stderr
    # the script names its tree as `pwd` does: without ../ in it
    src = str(SRCDIR.resolve())
    nproc = str(len(os.sched_getaffinity(0)))
    want = [c.replace("{v}", version()).replace("{src}", src)
            .replace("{nproc}", nproc) for c in FRESH]
    assert commands == want


def test_ubuntu_noble_gets_the_same_steps(tmp_path):
    r, commands = plan(fresh_root(tmp_path, NOBLE))
    assert r.returncode == 0, r.stderr
    assert "ok: ubuntu 24.04 (noble)" in r.stdout
    assert len(commands) == len(FRESH)


def test_other_systems_are_refused(tmp_path):
    r, commands = plan(fresh_root(
        tmp_path, 'ID=debian\nVERSION_ID="11"\nVERSION_CODENAME=bullseye\n'))
    assert r.returncode == 1
    assert r.stderr == ("bootstrap: debian 11: silo's bootstrap knows "
                        "Debian 12 and Ubuntu 24.04\n")
    assert commands == []


def done_root(tmp_path):
    """What a finished bootstrap leaves, as the probes see it."""
    root = fresh_root(tmp_path)

    def put(path, text=""):
        p = root / path.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)

    status = "".join(f"Package: {p}\nStatus: install ok installed\n"
                     "Architecture: amd64\nVersion: 1\n\n"
                     for p in PACKAGES + ["mongodb-org"])
    put("/var/lib/dpkg/status", status)
    put("/etc/passwd", "root:x:0:0::/root:/bin/bash\n"
        "silo:x:999:999::/var/lib/silo:/usr/sbin/nologin\n")
    put("/etc/group", "root:x:0:\ncaddy:x:998:silo\nsilo:x:999:\n")
    put(KEYRING, "key")
    put("/etc/apt/sources.list.d/mongodb-org-7.0.list",
        f"deb [ signed-by={KEYRING} ] https://repo.mongodb.org/apt/debian "
        "bookworm/mongodb-org/7.0 main\n")
    put("/etc/mongod.conf", MONGOD_CONF)
    for unit in ("mongod.service", "silo.service",
                 "silo-mongo-express.service"):
        put(f"/etc/systemd/system/multi-user.target.wants/{unit}")
    for unit in ("silo-storage.timer", "silo-backup.timer",
                 "silo-backup-verify.timer"):
        put(f"/etc/systemd/system/timers.target.wants/{unit}")
    for name in ("mongodb-admin.password", "mongodb-silo.password",
                 "mongo-express.password", "mongo-express.cookie",
                 "mongo-express.session", "silo.env", "backup.key",
                 "mongo-express.env"):
        put(f"/etc/silo/{name}", "s3cr3t-" + name)
    put("/var/lib/silo-bootstrap/mongodb-users", "done\n")
    put("/var/lib/silo-bootstrap/installed-version", version() + "\n")
    put("/var/lib/silo-bootstrap/admin-jeffrey", "done\n")
    put("/opt/mongo-express/node_modules/mongo-express/package.json", "{}")
    put("/usr/share/silo/Caddyfile", "silo's Caddyfile\n")
    put("/etc/caddy/Caddyfile", "silo's Caddyfile\n")
    put("/etc/systemd/system/caddy.service.d/silo.conf",
        "[Service]\nEnvironment=SILO_SITE=silo.example.org\n")
    put("/etc/ufw/ufw.conf", "ENABLED=yes\n")
    put("/etc/ufw/user.rules", "".join(
        f"-A ufw-user-input -p tcp --dport {p} -j ACCEPT\n"
        for p in (22, 80, 443)))
    return root


def test_second_run_changes_nothing(tmp_path):
    r, commands = plan(done_root(tmp_path))
    assert r.returncode == 0, r.stderr
    assert commands == []
    assert "s3cr3t" not in r.stdout + r.stderr


def test_one_missing_piece_is_the_only_step(tmp_path):
    root = done_root(tmp_path)
    (root / "etc/systemd/system/timers.target.wants/silo-backup.timer"
     ).unlink()
    (root / "etc/mongod.conf").write_text(MONGOD_CONF.replace(
        "127.0.0.1", "0.0.0.0"))
    r, commands = plan(root)
    assert r.returncode == 0, r.stderr
    assert commands == ["write /etc/mongod.conf (mode 0644, owner root:root)",
                        "systemctl restart mongod",
                        "systemctl enable --now silo-backup.timer"]


def test_given_secrets_are_never_printed(tmp_path):
    env = dict(os.environ, SPACES_KEY="DO00KEYVALUE",
               SPACES_SECRET="spaces-secret-value")
    r, _ = plan(fresh_root(tmp_path), env=env)
    assert r.returncode == 0, r.stderr
    for secret in ("DO00KEYVALUE", "spaces-secret-value"):
        assert secret not in r.stdout + r.stderr


@pytest.mark.parametrize("args, says", [
    (["--admin", "x1"], "bootstrap: --domain is required"),
    (["--domain", "a.example"], "bootstrap: --admin is required"),
    (["--domain", "a example", "--admin", "jeffrey"],
     "bootstrap: --domain 'a example' is not a host name"),
    (["--domain", "a.example", "--admin", "Jeff!"],
     "bootstrap: --admin 'Jeff!' is not a user name (a-z, 0-9, _ and -, "
     "2-32)"),
    (["--domain", "a.example", "--admin", "jeffrey", "--root", "/"],
     "bootstrap: --root is only for --dry-run"),
    (["--frobnicate"], "bootstrap: unknown argument '--frobnicate'"),
])
def test_bad_arguments_are_named(args, says):
    r = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 1
    assert r.stderr.splitlines()[-1] == says
