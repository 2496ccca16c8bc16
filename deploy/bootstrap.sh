#!/bin/bash
# deploy/bootstrap.sh: a fresh Debian 12 or Ubuntu 24.04 droplet to a
# running silo, beside its own mongod.
#
# Run as root from an unpacked release tarball:
#
#   tar xf silo-0.1.0.tar.gz && cd silo-0.1.0
#   deploy/bootstrap.sh --domain silo.aesthetic.computer --admin jeffrey
#
# It installs mongod from MongoDB's apt repository (bound to localhost,
# auth on, an admin user and a least-privilege `silo` user), Caddy and
# the build dependencies from the distribution, builds and installs silo
# from this tree, writes /etc/silo/silo.env and the backup key, installs
# mongo-express, creates the first admin of the dashboard, enables the
# units and timers, and lets in SSH, HTTP and HTTPS only.
#
# Idempotent: every step first looks at the machine and does nothing when
# its work is already there, so a second run changes nothing.  Secrets it
# generates (database passwords, mongo-express's) are written once, to
# files only root (and the silo group, where silo needs them) can read,
# and never printed, except the dashboard admin's first password, which
# is shown once when it is generated.
#
# --dry-run prints every command it would run and runs none (the probes
# that decide what to skip only read).  --root DIR probes DIR instead of
# / (with --dry-run only): what would a run do to that tree.
set -euo pipefail

MONGO_SERIES=7.0
ME_VERSION=1.0.0
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

DRY_RUN=0
ROOT=
DOMAIN=
ADMIN=
SPACES_ENDPOINT=https://sfo3.digitaloceanspaces.com
SPACES_KEY=${SPACES_KEY:-}
SPACES_SECRET=${SPACES_SECRET:-}
BACKUP_BUCKET=

usage() {
	cat <<'EOF'
usage: deploy/bootstrap.sh --domain NAME --admin USER [options]

  --domain NAME           the site Caddy serves (silo.aesthetic.computer)
  --admin USER            the dashboard's first admin (silo user add)
  --spaces-endpoint URL   DigitalOcean Spaces endpoint
                          (default https://sfo3.digitaloceanspaces.com)
  --spaces-key KEY        Spaces access key (or $SPACES_KEY, or a prompt)
  --spaces-secret SECRET  Spaces secret (or $SPACES_SECRET, or a prompt)
  --backup-bucket NAME    the private bucket nightly backups go to
  --dry-run               print every command, run none
  --root DIR              with --dry-run: probe DIR instead of /
  -h, --help              this text
EOF
}

die() {
	echo "bootstrap: $*" >&2
	exit 1
}

while [ $# -gt 0 ]; do
	case $1 in
	--domain) DOMAIN=${2:?--domain needs a value}; shift 2 ;;
	--admin) ADMIN=${2:?--admin needs a value}; shift 2 ;;
	--spaces-endpoint) SPACES_ENDPOINT=${2:?--spaces-endpoint needs a value}; shift 2 ;;
	--spaces-key) SPACES_KEY=${2:?--spaces-key needs a value}; shift 2 ;;
	--spaces-secret) SPACES_SECRET=${2:?--spaces-secret needs a value}; shift 2 ;;
	--backup-bucket) BACKUP_BUCKET=${2:?--backup-bucket needs a value}; shift 2 ;;
	--dry-run) DRY_RUN=1; shift ;;
	--root) ROOT=${2:?--root needs a value}; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument '$1'" ;;
	esac
done

[ -n "$DOMAIN" ] || { usage >&2; die "--domain is required"; }
[ -n "$ADMIN" ] || { usage >&2; die "--admin is required"; }
[[ $DOMAIN =~ ^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$ ]] ||
	die "--domain '$DOMAIN' is not a host name"
[[ $ADMIN =~ ^[a-z][a-z0-9_-]{1,31}$ ]] ||
	die "--admin '$ADMIN' is not a user name (a-z, 0-9, _ and -, 2-32)"
if [ -n "$ROOT" ]; then
	[ "$DRY_RUN" = 1 ] || die "--root is only for --dry-run"
	[ -d "$ROOT" ] || die "--root '$ROOT' is not a directory"
fi
if [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then
	die "run it as root (or with --dry-run)"
fi
[ -f "$SRC/configure" ] || die "$SRC is not an unpacked silo release"
VERSION=$(sed -n 's/^PACKAGE_VERSION=.\(.*\).$/\1/p' "$SRC/configure")
[ -n "$VERSION" ] || die "$SRC/configure names no version"

# ------------------------------------------------------------------ steps

exec 3>&1

# Print a command (shell-quoted) and run it, unless --dry-run.
run() {
	printf '+'
	printf ' %q' "$@"
	printf '\n'
	[ "$DRY_RUN" = 1 ] || "$@"
}

# Write stdin to a file with a mode and owner, through run's output.
put() {
	local path=$1 mode=$2 owner=$3 tmp
	if [ "$DRY_RUN" = 1 ]; then
		echo "+ write $path (mode $mode, owner $owner)"
		cat >/dev/null
		return
	fi
	tmp=$(mktemp "$path.XXXXXX")
	cat >"$tmp"
	chmod "$mode" "$tmp"
	chown "$owner" "$tmp"
	mv "$tmp" "$path"
	echo "+ write $path (mode $mode, owner $owner)"
}

ok() {
	echo "ok: $*"
}

step() {
	echo
	echo "== $*"
}

have() {
	[ -e "$ROOT$1" ]
}

have_pkg() {
	dpkg-query --admindir="$ROOT/var/lib/dpkg" -W -f '${Status}' "$1" \
		2>/dev/null | grep -q 'install ok installed'
}

# Is path's content exactly stdin's?
same() {
	have "$1" && cmp -s - "$ROOT$1"
}

# A step's own record that it is done, for work no file shows.
STAMPS=/var/lib/silo-bootstrap
STAMPS_MADE=0
stamped() {
	have "$STAMPS/$1"
}
stamp() {
	have "$STAMPS" || [ "$STAMPS_MADE" = 1 ] ||
		run install -d -m 0700 "$STAMPS"
	STAMPS_MADE=1
	echo "${2:-done}" | put "$STAMPS/$1" 0600 root:root
}

# A generated secret, kept in a root-only file so that a second run
# reuses it.  Prints the secret (for $(...)), and what it did on fd 3,
# the script's own stdout; in a dry run, a placeholder.
secret() {
	local path=$1
	if have "$path"; then
		cat "$ROOT$path"
	elif [ "$DRY_RUN" = 1 ]; then
		echo "+ write $path (mode 0600, owner root:root)" >&3
		echo "GENERATED"
	else
		openssl rand -hex 24 | put "$path" 0600 root:root >&3
		cat "$path"
	fi
}

apt_install() {
	local missing=() p
	for p in "$@"; do
		have_pkg "$p" || missing+=("$p")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		ok "installed: $*"
		return
	fi
	run apt-get update
	run env DEBIAN_FRONTEND=noninteractive apt-get install -y \
		--no-install-recommends "${missing[@]}"
}

# ------------------------------------------------------------------ system

step "the system"
have /etc/os-release || die "no /etc/os-release: not Debian or Ubuntu"
OS_ID=$(. "$ROOT/etc/os-release" && echo "$ID")
OS_VERSION=$(. "$ROOT/etc/os-release" && echo "$VERSION_ID")
OS_CODENAME=$(. "$ROOT/etc/os-release" && echo "$VERSION_CODENAME")
case "$OS_ID $OS_VERSION" in
"debian 12") MONGO_REPO="https://repo.mongodb.org/apt/debian $OS_CODENAME/mongodb-org/$MONGO_SERIES main" ;;
"ubuntu 24.04") MONGO_REPO="https://repo.mongodb.org/apt/ubuntu $OS_CODENAME/mongodb-org/$MONGO_SERIES multiverse" ;;
*) die "$OS_ID $OS_VERSION: silo's bootstrap knows Debian 12 and Ubuntu 24.04" ;;
esac
ok "$OS_ID $OS_VERSION ($OS_CODENAME); silo $VERSION from $SRC"

BUILD_DEPS=(build-essential pkg-config libfcgi-dev libmongoc-dev
	libbson-dev libcurl4-openssl-dev libcjson-dev libssl-dev
	libexpat1-dev zlib1g-dev groff-base)
apt_install ca-certificates curl gnupg openssl ufw caddy nodejs npm \
	"${BUILD_DEPS[@]}"

if grep -q '^silo:' "$ROOT/etc/passwd" 2>/dev/null; then
	ok "user silo"
else
	run useradd --system --home-dir /var/lib/silo --no-create-home \
		--shell /usr/sbin/nologin silo
fi
# silo.service gives its socket to Caddy's group.
if grep -q '^caddy:.*[:,]silo\(,.*\)\?$' "$ROOT/etc/group" 2>/dev/null; then
	ok "silo is in the caddy group"
else
	run usermod -a -G caddy silo
fi
# silo's settings and secrets: root writes them, silo's group reads.
if have /etc/silo; then
	ok "/etc/silo"
else
	run install -d -m 0750 -o root -g silo /etc/silo
fi

# ------------------------------------------------------------------ mongod

step "mongod $MONGO_SERIES from MongoDB's repository"
KEYRING=/usr/share/keyrings/mongodb-server-$MONGO_SERIES.gpg
if have "$KEYRING"; then
	ok "$KEYRING"
else
	run sh -c "curl -fsSL https://www.mongodb.org/static/pgp/server-$MONGO_SERIES.asc | gpg --dearmor -o $KEYRING"
fi
LIST=/etc/apt/sources.list.d/mongodb-org-$MONGO_SERIES.list
LIST_LINE="deb [ signed-by=$KEYRING ] $MONGO_REPO"
if echo "$LIST_LINE" | same "$LIST"; then
	ok "$LIST"
else
	echo "$LIST_LINE" | put "$LIST" 0644 root:root
fi
apt_install mongodb-org

MONGOD_CONF=$(cat <<'EOF'
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
EOF
)
if echo "$MONGOD_CONF" | same /etc/mongod.conf; then
	ok "/etc/mongod.conf: localhost, auth on"
else
	echo "$MONGOD_CONF" | put /etc/mongod.conf 0644 root:root
	run systemctl restart mongod
fi
if have /etc/systemd/system/multi-user.target.wants/mongod.service; then
	ok "mongod enabled"
else
	run systemctl enable --now mongod
fi

# The first user goes in through the localhost exception (auth is on and
# no user exists yet); the silo user reads AC's database, owns its own,
# and may read the server's state (clusterMonitor: serverStatus for
# /api/db/health, $currentOp for /api/db/clients), nothing more.
# The passwords reach mongosh through its environment, never its command
# line (which run prints, and ps shows).
MONGO_ADMIN_PW=$(secret /etc/silo/mongodb-admin.password)
MONGO_SILO_PW=$(secret /etc/silo/mongodb-silo.password)
export MONGO_ADMIN_PW MONGO_SILO_PW
if stamped mongodb-users; then
	ok "mongod users admin and silo"
else
	run mongosh --quiet --eval "db.getSiblingDB('admin').createUser({user: 'admin', pwd: process.env.MONGO_ADMIN_PW, roles: ['root']})"
	run mongosh --quiet --eval "const a = db.getSiblingDB('admin'); a.auth('admin', process.env.MONGO_ADMIN_PW); a.createUser({user: 'silo', pwd: process.env.MONGO_SILO_PW, roles: [{role: 'read', db: 'aesthetic'}, {role: 'readWrite', db: 'silo'}, {role: 'clusterMonitor', db: 'admin'}]})"
	stamp mongodb-users
fi

# ------------------------------------------------------------------ silo

step "silo $VERSION"
if have "$STAMPS/installed-version" &&
	[ "$(cat "$ROOT$STAMPS/installed-version")" = "$VERSION" ]; then
	ok "silo $VERSION installed"
else
	BUILD=/usr/local/src/silo-$VERSION-build
	run install -d "$BUILD"
	run sh -c "cd $BUILD && $SRC/configure --prefix=/usr --sysconfdir=/etc --localstatedir=/var"
	run make -C "$BUILD" -j"$(nproc 2>/dev/null || echo 1)"
	run make -C "$BUILD" install
	stamp installed-version "$VERSION"
fi

if have /etc/silo/silo.env; then
	ok "/etc/silo/silo.env (kept as it is)"
else
	if [ -z "$SPACES_KEY" ] && [ "$DRY_RUN" = 0 ] && [ -t 0 ]; then
		read -r -p "Spaces access key: " SPACES_KEY
	fi
	if [ -z "$SPACES_SECRET" ] && [ "$DRY_RUN" = 0 ] && [ -t 0 ]; then
		read -r -s -p "Spaces secret: " SPACES_SECRET
		echo
	fi
	# The values go through awk's environment, off every command line.
	MONGODB_CONNECTION_STRING="mongodb://silo:$MONGO_SILO_PW@127.0.0.1:27017/?authSource=admin" \
	SPACES_ENDPOINT=$SPACES_ENDPOINT SPACES_KEY=$SPACES_KEY \
	SPACES_SECRET=$SPACES_SECRET SILO_BACKUP_BUCKET=$BACKUP_BUCKET \
	awk -F= '
		/^(MONGODB_CONNECTION_STRING|SPACES_ENDPOINT|SPACES_KEY|SPACES_SECRET|SILO_BACKUP_BUCKET)=/ {
			print $1 "=" ENVIRON[$1]; next
		}
		{ print }' "$SRC/deploy/silo.env.example" |
		put /etc/silo/silo.env 0640 root:silo
fi
if have /etc/silo/backup.key; then
	ok "/etc/silo/backup.key (kept; copy it off this droplet)"
else
	run /usr/bin/silo backup keygen /etc/silo/backup.key
	run chown silo:silo /etc/silo/backup.key
fi

# ------------------------------------------------------------------ mongo-express

step "mongo-express $ME_VERSION"
if have "/opt/mongo-express/node_modules/mongo-express/package.json"; then
	ok "/opt/mongo-express"
else
	run npm install --prefix /opt/mongo-express --omit=dev \
		"mongo-express@$ME_VERSION"
fi
if have /etc/silo/mongo-express.env; then
	ok "/etc/silo/mongo-express.env"
else
	ME_PW=$(secret /etc/silo/mongo-express.password)
	put /etc/silo/mongo-express.env 0640 root:silo <<EOF
# mongo-express behind silo's /db gate (silo-mongo-express.service).
ME_CONFIG_MONGODB_URL=mongodb://silo:$MONGO_SILO_PW@127.0.0.1:27017/aesthetic?authSource=admin
ME_CONFIG_BASICAUTH_USERNAME=silo
ME_CONFIG_BASICAUTH_PASSWORD=$ME_PW
ME_CONFIG_SITE_COOKIESECRET=$(secret /etc/silo/mongo-express.cookie)
ME_CONFIG_SITE_SESSIONSECRET=$(secret /etc/silo/mongo-express.session)
EOF
fi

# ------------------------------------------------------------------ caddy

step "Caddy for $DOMAIN"
if /usr/bin/cmp -s "$ROOT/usr/share/silo/Caddyfile" "$ROOT/etc/caddy/Caddyfile"; then
	ok "/etc/caddy/Caddyfile is silo's"
else
	run install -m 0644 /usr/share/silo/Caddyfile /etc/caddy/Caddyfile
fi
DROPIN=/etc/systemd/system/caddy.service.d/silo.conf
DROPIN_TEXT="[Service]
Environment=SILO_SITE=$DOMAIN"
if echo "$DROPIN_TEXT" | same "$DROPIN"; then
	ok "$DROPIN"
else
	run install -d /etc/systemd/system/caddy.service.d
	echo "$DROPIN_TEXT" | put "$DROPIN" 0644 root:root
	run systemctl daemon-reload
	run systemctl restart caddy
fi

# ------------------------------------------------------------------ units

step "units and timers"
for unit in silo.service silo-mongo-express.service; do
	if have "/etc/systemd/system/multi-user.target.wants/$unit"; then
		ok "$unit enabled"
	else
		run systemctl enable --now "$unit"
	fi
done
for unit in silo-storage.timer silo-backup.timer silo-backup-verify.timer; do
	if have "/etc/systemd/system/timers.target.wants/$unit"; then
		ok "$unit enabled"
	else
		run systemctl enable --now "$unit"
	fi
done

# ------------------------------------------------------------------ people

step "the dashboard's first admin, $ADMIN"
if stamped "admin-$ADMIN"; then
	ok "admin $ADMIN"
else
	if [ "$DRY_RUN" = 1 ] || [ -t 0 ]; then
		run /usr/bin/silo user add "$ADMIN" --role admin --totp
	else
		ADMIN_PW=$(openssl rand -base64 18)
		echo "+ /usr/bin/silo user add $ADMIN --role admin --totp (password on stdin)"
		echo "$ADMIN_PW" | /usr/bin/silo user add "$ADMIN" --role admin --totp
		echo "first password of $ADMIN (shown once; change it): $ADMIN_PW"
	fi
	stamp "admin-$ADMIN"
fi

# ------------------------------------------------------------------ firewall

step "firewall: 22, 80 and 443 only"
ufw_ready() {
	local port
	grep -q '^ENABLED=yes' "$ROOT/etc/ufw/ufw.conf" 2>/dev/null || return 1
	for port in 22 80 443; do
		grep -q -- "--dport $port " "$ROOT/etc/ufw/user.rules" \
			2>/dev/null || return 1
	done
}
if ufw_ready; then
	ok "ufw active with 22, 80, 443"
else
	run ufw default deny incoming
	run ufw default allow outgoing
	run ufw allow 22/tcp
	run ufw allow 80/tcp
	run ufw allow 443/tcp
	run ufw --force enable
fi

# ------------------------------------------------------------------ next

step "next steps"
cat <<EOF
- Point $DOMAIN's DNS at this droplet; Caddy fetches its certificate.
- Load AC's JSON backup:  silo import --dry-run DIR, then silo import DIR
- Catch up from Atlas until the cutover:  silo sync --from 'mongodb+srv://...'
- After the write freeze:  silo sync --verify-only --from 'mongodb+srv://...'
- Then point AC's services at this mongod and watch GET /api/db/clients.
- Copy /etc/silo/backup.key somewhere off this droplet.
- docs/operations.md is the runbook.
EOF
