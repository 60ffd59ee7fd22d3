#!/usr/bin/env bash
# Throwaway backing services for tests and CI: start, stop, report, or wrap a command.
#
#   scripts/services.sh start-postgres        # prints `export TRACEBRIDGE_TEST_POSTGRES_URL=…`
#   eval "$(scripts/services.sh start-postgres)"
#   scripts/services.sh stop-postgres
#   scripts/services.sh status
#   scripts/services.sh stop                  # every service this checkout started (these ports)
#   scripts/services.sh with postgres -- CMD… # start what is missing, run CMD, stop what it started
#
# Each service is ONE function, `service_NAME ACTION`, answering the actions
#   available  exit 0 when the service can be started on this machine
#   running    exit 0 when the instance this checkout started is up
#   start      start it (idempotent) and print the `export VAR=URL` line on stdout
#   stop       stop it (idempotent) and delete its throwaway data
#   url        print the URL of the running instance
# and declaring its environment variable with `url_var_NAME=…`. Commands, `status` and `with`
# discover services from the function names, so adding RabbitMQ means adding service_rabbitmq.
#
# State lives in the checkout's ignored var/services/ (which data directory belongs to which
# port); the data itself goes in a fresh directory under $TMPDIR, because the database server
# runs as the `postgres` user when we are root, and that user may not be able to enter the
# checkout (a clone under root's home, for example).
#
# Settings (environment): TRACEBRIDGE_PG_PORT (default 5433), TRACEBRIDGE_PG_BIN (directory
# holding initdb and pg_ctl; found on PATH or in Debian's postgresql/<version>/bin otherwise).
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE_DIR="$REPO_ROOT/var/services"

say() { printf 'services: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# Run a command as the service's own user when we are root (servers such as PostgreSQL refuse
# to run as root), as ourselves otherwise.
as_service_user() {
    local user=$1; shift
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u "$user" -- "$@"
    else
        "$@"
    fi
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL: an initdb'd cluster on 127.0.0.1, trust auth, durability off (it is thrown away).
# ---------------------------------------------------------------------------------------------
url_var_postgres=TRACEBRIDGE_TEST_POSTGRES_URL
PG_PORT=${TRACEBRIDGE_PG_PORT:-5433}
PG_STATE_FILE="$STATE_DIR/postgres-$PG_PORT.dir"

pg_bin_dir() {
    if [[ -n ${TRACEBRIDGE_PG_BIN:-} ]]; then
        printf '%s\n' "$TRACEBRIDGE_PG_BIN"
        return 0
    fi
    local initdb
    # Resolve links: a PATH entry may link initdb alone, while pg_ctl and pg_isready sit beside
    # the real binary.
    if initdb=$(command -v initdb) && initdb=$(readlink -f "$initdb") &&
        [[ -x ${initdb%/*}/pg_ctl && -x ${initdb%/*}/pg_isready ]]; then
        dirname "$initdb"
        return 0
    fi
    # Debian keeps the server binaries off PATH, one directory per major version: take the newest.
    local candidate newest=""
    for candidate in /usr/lib/postgresql/*/bin; do
        [[ -x $candidate/initdb ]] || continue
        if [[ -z $newest ]] || [[ $(basename "$(dirname "$candidate")") -gt \
              $(basename "$(dirname "$newest")") ]]; then
            newest=$candidate
        fi
    done
    [[ -n $newest ]] || return 1
    printf '%s\n' "$newest"
}

pg_base_dir() { [[ -f $PG_STATE_FILE ]] && cat "$PG_STATE_FILE"; }

pg_ctl_cmd() {
    local bin base
    bin=$(pg_bin_dir) || die "PostgreSQL server binaries (initdb, pg_ctl) not found"
    base=$(pg_base_dir) || die "no PostgreSQL started from this checkout on port $PG_PORT"
    as_service_user postgres "$bin/pg_ctl" -D "$base/data" "$@"
}

pg_port_answers() {
    local bin
    bin=$(pg_bin_dir) || return 1
    "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2
}

service_postgres() {
    case $1 in
        available)
            pg_bin_dir >/dev/null || return 1
            [[ $(id -u) -ne 0 ]] || id -u postgres >/dev/null 2>&1
            ;;
        running)
            pg_bin_dir >/dev/null && pg_base_dir >/dev/null || return 1
            pg_ctl_cmd status >/dev/null 2>&1
            ;;
        url)
            printf 'postgresql+psycopg://postgres@127.0.0.1:%s/postgres\n' "$PG_PORT"
            ;;
        start)
            if service_postgres running; then
                say "PostgreSQL already running on 127.0.0.1:$PG_PORT (data in $(pg_base_dir))"
            else
                pg_start
            fi
            printf 'export %s=%s\n' "$url_var_postgres" "$(service_postgres url)"
            ;;
        stop)
            if ! pg_base_dir >/dev/null; then
                say "PostgreSQL on port $PG_PORT: nothing started from this checkout"
                return 0
            fi
            if service_postgres running; then
                pg_ctl_cmd -m fast -w stop >/dev/null
                say "PostgreSQL on 127.0.0.1:$PG_PORT stopped"
            fi
            pg_forget
            ;;
        *) die "service_postgres: unknown action '$1'" ;;
    esac
}

pg_start() {
    service_postgres available ||
        die "cannot start PostgreSQL: need initdb and pg_ctl (Debian package postgresql)" \
            "and, when running as root, a postgres user"
    if pg_port_answers; then
        die "port $PG_PORT on 127.0.0.1 already answers, but not with a server from this" \
            "checkout: set TRACEBRIDGE_PG_PORT to a free port or point" \
            "$url_var_postgres at that server"
    fi
    # A state file without a running server is left over (killed run, reboot): start afresh.
    pg_forget

    local bin base
    bin=$(pg_bin_dir)
    mkdir -p "$STATE_DIR"
    base=$(mktemp -d -t "tracebridge-pg-$PG_PORT.XXXXXX")
    mkdir -p "$base/data" "$base/socket"
    [[ $(id -u) -ne 0 ]] || chown -R postgres:postgres "$base"
    printf '%s\n' "$base" >"$PG_STATE_FILE"

    say "initialising a throwaway PostgreSQL cluster in $base"
    if ! as_service_user postgres "$bin/initdb" -D "$base/data" -U postgres -A trust -E UTF8 \
        --locale=C.UTF-8 --no-sync >"$base/initdb.log" 2>&1; then
        cat "$base/initdb.log" >&2
        pg_forget
        die "initdb failed (log above)"
    fi
    local server_options=(
        -p "$PG_PORT" -k "$base/socket" -c listen_addresses=127.0.0.1
        # Durability buys nothing for a cluster deleted after the run, and costs test time.
        -c fsync=off -c synchronous_commit=off -c full_page_writes=off
    )
    if ! as_service_user postgres "$bin/pg_ctl" -D "$base/data" -l "$base/server.log" \
        -w -t 60 -o "${server_options[*]}" start >/dev/null; then
        tail -n 30 "$base/server.log" >&2 || true
        pg_forget
        die "PostgreSQL did not start on 127.0.0.1:$PG_PORT (server log above)"
    fi
    say "PostgreSQL running on 127.0.0.1:$PG_PORT"
}

# Drop this port's state and data, stopping a server that may still run from it.
pg_forget() {
    local base
    base=$(pg_base_dir) || return 0
    [[ $base == */tracebridge-pg-* ]] || die "refusing to delete '$base' named in $PG_STATE_FILE"
    if [[ -f $base/data/postmaster.pid ]]; then
        as_service_user postgres "$(pg_bin_dir)/pg_ctl" -D "$base/data" -m immediate -w \
            stop >/dev/null 2>&1 || true
    fi
    rm -rf "$base"
    rm -f "$PG_STATE_FILE"
}

# ---------------------------------------------------------------------------------------------
# RabbitMQ: Debian's rabbitmq-server on loopback; its wrapper drops to the rabbitmq user itself.
# `rabbitmqctl wait` on the pid file (not await_startup, which fails while the node boots).
# ---------------------------------------------------------------------------------------------
url_var_rabbitmq=TRACEBRIDGE_TEST_AMQP_URL
RABBIT_STATE_FILE="$STATE_DIR/rabbitmq.started"

rabbit_env() {
    export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 ERL_EPMD_ADDRESS=127.0.0.1 RABBITMQ_DIST_PORT=25672
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}

service_rabbitmq() {
    case $1 in
        available) command -v rabbitmq-server >/dev/null && command -v rabbitmqctl >/dev/null ;;
        running) rabbitmqctl -q status >/dev/null 2>&1 ;;
        url) printf 'amqp://guest:guest@127.0.0.1:5672/\n' ;;
        start)
            if service_rabbitmq running; then
                say "RabbitMQ already running"
            else
                service_rabbitmq available ||
                    die "cannot start RabbitMQ: need rabbitmq-server (Debian package rabbitmq-server)"
                rabbit_env
                say "starting RabbitMQ on 127.0.0.1:5672"
                rabbitmq-server -detached >/dev/null
                rabbitmqctl wait --timeout 60 \
                    "/var/lib/rabbitmq/mnesia/rabbit@$(hostname -s).pid" >/dev/null ||
                    die "RabbitMQ did not start (see /var/log/rabbitmq)"
                mkdir -p "$STATE_DIR"
                touch "$RABBIT_STATE_FILE"
                say "RabbitMQ running"
            fi
            printf 'export %s=%s\n' "$url_var_rabbitmq" "$(service_rabbitmq url)"
            ;;
        stop)
            if [[ ! -f $RABBIT_STATE_FILE ]]; then
                say "RabbitMQ: nothing started from this checkout"
                return 0
            fi
            rabbitmqctl -q shutdown >/dev/null 2>&1 || true
            epmd -kill >/dev/null 2>&1 || true
            rm -f "$RABBIT_STATE_FILE"
            say "RabbitMQ stopped"
            ;;
        *) die "service_rabbitmq: unknown action '$1'" ;;
    esac
}


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------
known_services() { declare -F | sed -n 's/^declare -f service_//p'; }

require_service() {
    declare -F "service_$1" >/dev/null ||
        die "unknown service '$1' (known: $(known_services | tr '\n' ' '))"
}

cmd_status() {
    local name
    for name in $(known_services); do
        if service_"$name" running; then
            printf '%-10s running  %s\n' "$name" "$(service_"$name" url)"
        elif service_"$name" available; then
            printf '%-10s stopped\n' "$name"
        else
            printf '%-10s unavailable on this machine\n' "$name"
        fi
    done
}

# Start each named service unless its URL variable is already set (someone else provides it),
# run the command with the URLs exported, then stop only what was started here.
STARTED_HERE=()
stop_started_here() {
    local name
    for name in "${STARTED_HERE[@]}"; do service_"$name" stop || true; done
}

cmd_with() {
    local names=()
    while [[ $# -gt 0 && $1 != -- ]]; do
        require_service "$1"
        names+=("$1"); shift
    done
    [[ ${1:-} == -- && $# -ge 2 ]] || die "usage: services.sh with SERVICE… -- COMMAND…"
    shift

    trap stop_started_here EXIT
    # Turn Ctrl-C and kill into an ordinary exit, so the EXIT trap stops the servers.
    trap 'exit 130' INT
    trap 'exit 143' TERM

    local name url_var
    for name in "${names[@]}"; do
        url_var=url_var_$name
        url_var=${!url_var}
        if [[ -n ${!url_var:-} ]]; then
            say "$name: using \$$url_var from the environment"
        elif service_"$name" running; then
            say "$name: using the server already started from this checkout"
            export "$url_var=$(service_"$name" url)"
        elif service_"$name" available; then
            service_"$name" start >/dev/null
            STARTED_HERE+=("$name")
            export "$url_var=$(service_"$name" url)"
        else
            say "$name: not installed here and \$$url_var is unset;" \
                "tests needing it are skipped (and fail under CI=true)"
        fi
    done

    local rc=0
    "$@" || rc=$?
    return "$rc"
}

main() {
    [[ $# -ge 1 ]] || die "usage: services.sh start-SERVICE|stop-SERVICE|status|stop|with …"
    local command=$1; shift
    case $command in
        start-*|stop-*)
            require_service "${command#*-}"
            service_"${command#*-}" "${command%%-*}"
            ;;
        status) cmd_status ;;
        stop)
            local name
            for name in $(known_services); do service_"$name" stop; done
            ;;
        with) cmd_with "$@" ;;
        *) die "unknown command '$command'" ;;
    esac
}

main "$@"
