#!/usr/bin/env bash
# Installs what `make demo` and `make test` need, checking before each step so a second run does nothing.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: bash scripts/setup.sh [--help]

Gets this checkout ready to run; `make demo` and `make test` call it first.
Every step checks before it acts, so a second run installs nothing and takes
a second or two.

Steps
  1. System packages (Debian/Ubuntu), in one `apt-get update` + `apt-get install`
     and only when something is missing: PostgreSQL and PostGIS for the
     detected major version, chromium (browser tests), and make, npm or
     python3-venv if they are missing.
     Not root: uses sudo if it can; otherwise prints the apt-get command
     line to run and stops with a non-zero exit. When chromium is all that
     is missing, it prints that command as a warning and carries on: no
     test opens a browser yet.
  2. Python: .venv, then `pip install -e '.[test]'`, redone only when
     setup.cfg or pyproject.toml change (stamp file .venv/.installed-<hash>).
  3. Front-end: when package.json exists, `npm ci` (`npm install` without a
     lock file) if node_modules is missing or older than the lock file.
  4. Database, unless DATABASE_URL is set: create the PostgreSQL cluster if
     there is none, start it (pg_ctlcluster), wait for it, then as postgres
     create role minqing (password minqing, CREATEDB), database minqing and
     template database minqing_template, both with postgis and ltree, and the
     append-only personal-data access log (schema pii_audit, owned by the
     NOLOGIN role minqing_audit).
  5. Check the server in DATABASE_URL (default
     postgresql://minqing:minqing@127.0.0.1:5432/minqing) answers and has PostGIS.

Environment
  DATABASE_URL        use this PostgreSQL server; install and start no database
  PYTHON              interpreter for .venv (default: newest python3.X >= 3.11)
  MINQING_PG_VERSION  PostgreSQL major version (default: the running cluster on
                      port 5432, else the newest installed, else Debian's default)
EOF
}

case "${1:-}" in
    -h | --help) usage; exit 0 ;;
    "") ;;
    *) usage >&2; exit 2 ;;
esac

cd "$(dirname "$0")/.."

PG_PORT=5432
DB_ROLE=minqing
DB_NAME=minqing
DB_TEMPLATE=minqing_template
DEFAULT_URL="postgresql://$DB_ROLE:$DB_ROLE@127.0.0.1:$PG_PORT/$DB_NAME"

stamp() { date +%H:%M:%S; }
log() { printf '%s ==> %s\n' "$(stamp)" "$*"; }
ok() { printf '%s ✓ %s\n' "$(stamp)" "$*"; }
die() { printf '%s ✗ %s\n' "$(stamp)" "$*" >&2; exit 1; }
warn() { printf '%s ! %s\n' "$(stamp)" "$*" >&2; }

# Installers' chatter goes to a file, shown only when the command fails.
chatter=$(mktemp "${TMPDIR:-/tmp}/minqing-setup.XXXXXX")
trap 'rm -f "$chatter"' EXIT
quietly() {
    "$@" >"$chatter" 2>&1 && return 0
    local rc=$?
    tail -n 40 "$chatter" >&2
    die "failed (exit $rc): $*"
}

# Two `make test` runs in one checkout would otherwise race on pip and apt.
# Daemons started below get `9>&-` so they don't inherit (and keep holding) the lock.
lock="${TMPDIR:-/tmp}/minqing-setup-$(id -u)-$(printf %s "$PWD" | sha256sum | cut -c1-8).lock"
if command -v flock >/dev/null && { exec 9>>"$lock"; } 2>/dev/null; then
    flock -n 9 || { log "waiting for another setup run in this checkout"; flock 9; }
fi

# --- privileges: root, sudo, or nothing (then we print what to run) -------------------------
if [[ $EUID -eq 0 ]]; then
    priv=root
elif command -v sudo >/dev/null && { sudo -n true 2>/dev/null || [[ -t 0 && -z ${CI:-} ]]; }; then
    priv=sudo
else
    priv=none
fi
as_root() {
    case $priv in
        root) "$@" ;;
        sudo) sudo "$@" ;;
        *) return 1 ;;
    esac
}
as_postgres() {  # from / so psql doesn't warn about a working directory postgres cannot read
    case $priv in
        root) (cd / && runuser -u postgres -- "$@") ;;
        sudo) (cd / && sudo -u postgres "$@") ;;
        *) return 1 ;;
    esac
}
sudo_hint() { [[ $EUID -eq 0 ]] && echo "$*" || echo "sudo $*"; }

# --- 1. system packages -------------------------------------------------------------------------
have() { command -v "$1" >/dev/null; }
is_debian() { have dpkg-query && have apt-get; }

find_python() {
    local p
    for p in ${PYTHON:-python3.13 python3.12 python3.11 python3}; do
        if have "$p" && "$p" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

pg_installed() { [[ -x /usr/lib/postgresql/$1/bin/postgres ]]; }

# The cluster already serving port 5432 wins, then the newest installed server.
pg_version_installed() {
    local v
    if have pg_lsclusters; then
        v=$(pg_lsclusters -h 2>/dev/null | awk -v p="$PG_PORT" '$3 == p { print $1; exit }')
        if [[ -n $v ]] && pg_installed "$v"; then echo "$v"; return 0; fi
    fi
    for v in $(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -rn); do
        if pg_installed "$v"; then echo "$v"; return 0; fi
    done
    return 1
}

# What the `postgresql` metapackage would install; before `apt-get update` the lists may be empty,
# so fall back to the release's known default.
pg_version_candidate() {
    local v codename
    v=$(apt-cache depends postgresql 2>/dev/null | sed -n 's/^ *Depends: postgresql-\([0-9][0-9]*\)$/\1/p' | head -1)
    if [[ -z $v ]]; then
        codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
        case $codename in
            bullseye) v=13 ;; bookworm) v=15 ;; trixie) v=17 ;;
            jammy) v=14 ;; noble) v=16 ;;
        esac
    fi
    [[ -n $v ]] && echo "$v"
}

pg_packages() {  # the packages still missing for PostgreSQL $1 with PostGIS and ltree
    local v=$1
    if ! pg_installed "$v"; then
        if [[ -n ${MINQING_PG_VERSION:-} ]]; then echo "postgresql-$v"; else echo postgresql; fi
    elif [[ ! -f /usr/share/postgresql/$v/extension/ltree.control ]]; then
        echo postgresql-contrib
    fi
    [[ -f /usr/share/postgresql/$v/extension/postgis.control ]] || echo "postgresql-$v-postgis-3"
}

PY=$(find_python || true)
missing=()
have make || missing+=(make)
venv_exists() { [[ -e .venv/bin/python || -L .venv/bin/python ]]; }
if ! venv_exists; then
    if [[ -z $PY ]]; then
        missing+=(python3 python3-venv)
    elif ! "$PY" -c 'import ensurepip, venv' 2>/dev/null; then
        missing+=(python3-venv)
    fi
fi
[[ -f package.json ]] && ! have npm && missing+=(npm)
# Wanted soon (browser tests) and installed with the rest, but nothing runs it yet: alone it stops nothing.
soon=()
have chromium || soon+=(chromium)
# Chinese labels in headless screenshots need a CJK font (a user's own browser has one already)
[[ -d /usr/share/fonts/opentype/noto ]] && compgen -G '/usr/share/fonts/opentype/noto/NotoSansCJK*' >/dev/null \
    || soon+=(fonts-noto-cjk)

local_db=false
[[ -z ${DATABASE_URL:-} ]] && local_db=true
pg_version=""
pg_missing=()
if $local_db; then
    pg_version=${MINQING_PG_VERSION:-$(pg_version_installed || pg_version_candidate || true)}
    [[ -n $pg_version ]] || die "cannot tell which PostgreSQL to install; set MINQING_PG_VERSION (e.g. 15)"
    mapfile -t pg_missing < <(pg_packages "$pg_version")
    missing+=("${pg_missing[@]}")
fi

describe() {  # "PostgreSQL 15 + PostGIS, chromium" for a list of package names
    local p pg="" gis="" out=()
    for p in "$@"; do
        case $p in
            *-postgis-3) gis=PostGIS ;;
            postgresql | postgresql-[0-9]*) pg="PostgreSQL $pg_version" ;;
            postgresql-contrib) out+=("PostgreSQL $pg_version contrib") ;;
            *) out+=("$p") ;;
        esac
    done
    if [[ -n $pg && -n $gis ]]; then out=("$pg + $gis" "${out[@]}")
    elif [[ -n $pg$gis ]]; then out=("${pg:-PostGIS for PostgreSQL $pg_version}" "${out[@]}"); fi
    local joined
    joined=$(printf '%s, ' "${out[@]}")
    echo "${joined%, }"
}

apt_line() { echo "sudo apt-get update && sudo apt-get install -y --no-install-recommends $*"; }
wanted=("${missing[@]}" "${soon[@]}")

if ((${#wanted[@]} == 0)); then
    ok "nothing to install"
elif ! is_debian; then
    ((${#missing[@]} == 0)) ||
        die "missing: ${wanted[*]}; this is not a Debian system, so install them yourself$($local_db && echo ', or set DATABASE_URL to an existing PostGIS server')"
    warn "${soon[*]} not found; browser tests will need it: install it yourself"
elif [[ $priv == none ]]; then
    if ((${#missing[@]})); then
        {
            printf '%s ✗ missing system packages (%s); installing them needs root. Run:\n' "$(stamp)" "$(describe "${wanted[@]}")"
            printf '    %s\n' "$(apt_line "${wanted[@]}")"
            printf '  then run this again%s.\n' "$( ((${#pg_missing[@]})) && echo ' (or set DATABASE_URL to an existing PostGIS server to skip PostgreSQL)')"
        } >&2
        exit 1
    fi
    warn "${soon[*]} is not installed; browser tests will need it, and installing it needs root. Run:"
    printf '    %s\n' "$(apt_line "${soon[@]}")" >&2
else
    missing=("${wanted[@]}")
    log "installing $(describe "${missing[@]}")"
    quietly as_root apt-get update
    if $local_db && [[ -z ${MINQING_PG_VERSION:-} ]] && ! pg_installed "$pg_version"; then
        # The lists are fresh now: ask again which version the metapackage brings.
        fresh=$(pg_version_candidate || true)
        if [[ -n $fresh && $fresh != "$pg_version" ]]; then
            pg_version=$fresh
            mapfile -t missing < <(printf '%s\n' "${missing[@]}" | grep -v '^postgresql')
            mapfile -t pg_missing < <(pg_packages "$pg_version")
            missing+=("${pg_missing[@]}")
        fi
    fi
    quietly as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" 9>&-
    if $local_db; then
        pg_installed "$pg_version" || die "PostgreSQL $pg_version is still not installed after apt-get"
    fi
    ok "installed ${missing[*]}"
fi

# --- 2. Python ---------------------------------------------------------------------------------
if ! venv_exists; then
    PY=$(find_python) || die "no python3 >= 3.11 found (set PYTHON)"
    log "creating .venv with $("$PY" -c 'import sys; print(sys.executable)')"
    quietly "$PY" -m venv .venv
elif ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    die ".venv/bin/python does not run for $(id -un), or is older than Python 3.11; remove .venv and run again"
fi
deps_hash=$(cat setup.cfg pyproject.toml 2>/dev/null | sha256sum | cut -c1-12)
if [[ -f .venv/.installed-$deps_hash && -x .venv/bin/minqing ]]; then
    ok "Python packages up to date"
else
    log "installing Python packages (pip install -e '.[test]')"
    # compat mode: a .pth to the checkout, so packages added later import without reinstalling
    quietly .venv/bin/pip install -e '.[test]' --config-settings editable_mode=compat
    rm -f .venv/.installed-*
    touch ".venv/.installed-$deps_hash"
    ok "Python packages installed"
fi

# --- 3. front-end packages ---------------------------------------------------------------------
if [[ -f package.json ]]; then
    if [[ ! -d node_modules || package.json -nt node_modules || package-lock.json -nt node_modules ]]; then
        if [[ -f package-lock.json ]]; then
            log "installing front-end packages (npm ci)"
            quietly npm ci --no-audit --no-fund
        else
            log "installing front-end packages (npm install)"
            quietly npm install --no-audit --no-fund
        fi
        touch node_modules
        ok "front-end packages installed"
    else
        ok "front-end packages up to date"
    fi
fi

# --- 4. local PostgreSQL -----------------------------------------------------------------------
if $local_db; then
    have pg_lsclusters || die "pg_lsclusters not found: is postgresql-common installed?"
    find_cluster() {  # "name port status" of the $pg_version cluster, the one on $PG_PORT first
        pg_lsclusters -h | awk -v v="$pg_version" -v p="$PG_PORT" \
            '$1 == v && $3 == p { print $2, $3, $4; found = 1; exit } $1 == v && !any { any = $2 " " $3 " " $4 }
             END { if (!found && any) print any }'
    }
    cluster=$(find_cluster)
    if [[ -z $cluster ]]; then
        [[ $priv != none ]] || die "no PostgreSQL $pg_version cluster; create it with: $(sudo_hint pg_createcluster --locale C.UTF-8 -p $PG_PORT "$pg_version" main)"
        log "creating PostgreSQL $pg_version cluster 'main'"
        quietly as_root pg_createcluster --locale C.UTF-8 -p "$PG_PORT" "$pg_version" main 9>&-
        cluster=$(find_cluster)
    fi
    read -r cluster_name cluster_port cluster_status <<<"$cluster"
    [[ $cluster_port == "$PG_PORT" ]] ||
        die "PostgreSQL $pg_version/$cluster_name listens on port $cluster_port, not $PG_PORT; set DATABASE_URL=postgresql://$DB_ROLE:$DB_ROLE@127.0.0.1:$cluster_port/$DB_NAME"
    if [[ $cluster_status != online* ]]; then
        [[ $priv != none ]] || die "PostgreSQL $pg_version/$cluster_name is not running; start it with: $(sudo_hint pg_ctlcluster "$pg_version" "$cluster_name" start)"
        log "starting PostgreSQL $pg_version/$cluster_name"
        quietly as_root pg_ctlcluster "$pg_version" "$cluster_name" start 9>&-  # as root it runs as the owner
    fi
    for _ in $(seq 60); do
        pg_isready -q -h 127.0.0.1 -p "$PG_PORT" 2>/dev/null && break
        sleep 1
    done
    pg_isready -q -h 127.0.0.1 -p "$PG_PORT" || die "PostgreSQL $pg_version does not accept connections on 127.0.0.1:$PG_PORT (see /var/log/postgresql/)"

    if [[ $priv != none ]]; then
        # postgis is not a trusted extension, so the superuser installs it; tests clone the template.
        as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" -d postgres <<SQL
SET client_min_messages = warning;
SELECT 'CREATE ROLE $DB_ROLE' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_ROLE') \gexec
ALTER ROLE $DB_ROLE WITH LOGIN CREATEDB PASSWORD '$DB_ROLE';
SELECT 'CREATE DATABASE $DB_NAME OWNER $DB_ROLE TEMPLATE template0 ENCODING ''UTF8'' LC_COLLATE ''C.UTF-8'' LC_CTYPE ''C.UTF-8'''
    WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DB_NAME') \gexec
SELECT 'CREATE DATABASE $DB_TEMPLATE OWNER $DB_ROLE TEMPLATE template0 ENCODING ''UTF8'' LC_COLLATE ''C.UTF-8'' LC_CTYPE ''C.UTF-8'' IS_TEMPLATE true'
    WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DB_TEMPLATE') \gexec
\connect $DB_NAME
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS ltree;
\connect $DB_TEMPLATE
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS ltree;
SQL
        # The personal-data access log belongs to a NOLOGIN role the app cannot become, so the app may add
        # rows (through a SECURITY DEFINER function) and read them, never change them (data/pii_audit.py).
        audit_sql=$(.venv/bin/python -m data.pii_audit minqing_audit "$DB_ROLE")
        for audit_db in "$DB_NAME" "$DB_TEMPLATE"; do
            printf 'SET client_min_messages = warning;\n%s\n' "$audit_sql" |
                as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" -d "$audit_db"
        done
    fi
fi

# --- 5. check the server answers ---------------------------------------------------------------
report=$(.venv/bin/python - "${DATABASE_URL:-$DEFAULT_URL}" "$DB_TEMPLATE" <<'PY'
import re, sys

import psycopg

url = re.sub(r"^postgres(?:ql)?(?:\+\w+)?://", "postgresql://", sys.argv[1])
try:
    with psycopg.connect(url, connect_timeout=10) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0].split()[0]
        postgis = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'postgis'").fetchone()
        template = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (sys.argv[2],)).fetchone()
        where = f"{conn.info.user}@{conn.info.host}:{conn.info.port}/{conn.info.dbname}"
except psycopg.Error as exc:
    print(f"cannot connect: {str(exc).strip()}")
    sys.exit(1)
print(f"PostgreSQL {version}, PostGIS {postgis[0] if postgis else 'missing'}, "
      f"template {sys.argv[2]} {'present' if template else 'missing'} ({where})")
sys.exit(0 if postgis and template else 3)
PY
) && status=0 || status=$?
if ((status == 0)); then
    ok "database ready: $report"
elif ((status == 3)) && ! $local_db; then
    ok "database reachable: $report"
elif $local_db && [[ $priv == none ]]; then
    die "database not set up: $report; run once as root: sudo bash scripts/setup.sh"
else
    die "database: $report"
fi
