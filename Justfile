# meetpipe — recipes for people and CI. `just demo` and `just test` are the Quick start.

set shell := ["bash", "-euo", "pipefail", "-c"]

sudo := if `id -u` == "0" { "" } else { "sudo" }
export GOFLAGS := "-buildvcs=false"

# The version and commit a build names (`runner version`).
stamp := "-X main.version=$(git describe --tags --always --dirty 2>/dev/null || echo dev) -X main.commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)"

# List the recipes.
default:
    @just --list

# Install the system tools the pipeline and its tests use (apt; sudo when not root).
deps:
    #!/usr/bin/env bash
    set -euo pipefail
    need=()
    command -v aria2c    >/dev/null || need+=(aria2)
    command -v ffmpeg    >/dev/null || need+=(ffmpeg)
    command -v ffprobe   >/dev/null || need+=(ffmpeg)
    command -v espeak-ng >/dev/null || need+=(espeak-ng)
    command -v jq        >/dev/null || need+=(jq)
    command -v mariadbd  >/dev/null || command -v mysqld >/dev/null || need+=(mariadb-server)
    command -v mariadb   >/dev/null || command -v mysql  >/dev/null || need+=(mariadb-client)
    # The report's browser test drives Debian's chromium; the page's Chinese needs a CJK font.
    command -v chromium  >/dev/null || command -v chromium-browser >/dev/null || need+=(chromium)
    { command -v fc-list >/dev/null && fc-list :lang=zh | grep -q .; } || need+=(fonts-wqy-microhei)
    if ! command -v go >/dev/null; then
        echo "Go 1.26 or newer is required: https://go.dev/doc/install" >&2; exit 1
    fi
    if [ ${#need[@]} -gt 0 ]; then
        echo "installing: ${need[*]}"
        # Quiet unless it fails: then everything apt said is shown.
        log=$(mktemp)
        if ! { {{sudo}} apt-get update -qq && DEBIAN_FRONTEND=noninteractive {{sudo}} apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${need[@]}" | sort -u); } >"$log" 2>&1; then
            cat "$log" >&2; rm -f "$log"; echo "apt-get failed installing: ${need[*]}" >&2; exit 1
        fi
        rm -f "$log"
    fi

# Build the runner and the Go plugins into bin/ and plugins/.
build:
    # GOFLAGS has -buildvcs=false (worktrees, tarballs): the version and commit come in by -ldflags.
    go build -ldflags "{{stamp}}" -o bin/runner ./runner/cmd/runner
    if [ -d plugins/wecom_notify ]; then go build -o plugins/wecom_notify/wecom_notify ./plugins/wecom_notify; fi

# Build bin/runner-dev: the runner plus `demo` and `emulate`, which link the emulators and the media
# generator (build tag dev). bin/runner, the binary to deploy, has neither.
build-dev: build
    go build -tags dev -ldflags "{{stamp}}" -o bin/runner-dev ./runner/cmd/runner

# gofmt and go vet.
lint:
    test -z "$(gofmt -l $(git ls-files '*.go'))" || { gofmt -l $(git ls-files '*.go'); exit 1; }
    go vet ./...
    go vet -tags dev ./runner/cmd/runner
    GOOS=darwin go build ./... && GOOS=windows go build ./...
    go mod tidy -diff

# Run every test with the race detector, as CI does, and print the suite's wall time. With the tag dev the
# runner's tests also cover demo and emulate; the production build's lack of them is tested either way.
test: deps lint
    #!/usr/bin/env bash
    # Installs what is missing; tests start a MariaDB of their own if none is reachable; generated media
    # are cached (steps/media/mediatest/cache.go).
    set -uo pipefail
    start=$(date +%s)
    # A race-built binary sleeps a second before it exits unless told not to: a second per package.
    GORACE="${GORACE:-atexit_sleep_ms=0}" go test -race -count=1 -tags dev -timeout 15m ./...
    status=$?
    echo "test suite: $(( $(date +%s) - start )) s wall"
    exit $status

# The inner loop: the short tests, without the race detector (under 30 s warm). `just test` before a push.
test-fast:
    #!/usr/bin/env bash
    set -uo pipefail
    start=$(date +%s)
    go test -short -count=1 -tags dev -timeout 5m ./...
    status=$?
    echo "short tests: $(( $(date +%s) - start )) s wall"
    exit $status

# Run the pipeline on the bundled demo: emulators on loopback, generated Mandarin meetings, MariaDB.
# Uses the MariaDB at 127.0.0.1:3306 when it answers, else starts a throwaway one under var/demo/mysql.
demo: deps build-dev
    #!/usr/bin/env bash
    set -euo pipefail
    dir="$PWD/var/demo"
    mkdir -p "$dir"
    export DB_NAME="${DB_NAME:-meetpipe_demo}" DB_USER="${DB_USER:-root}"
    if mariadb -h "${DB_HOST:-127.0.0.1}" -P "${DB_PORT:-3306}" -u "$DB_USER" ${DB_PASS:+-p"$DB_PASS"} -e 'SELECT 1' >/dev/null 2>&1; then
        export DB_HOST="${DB_HOST:-127.0.0.1}" DB_PORT="${DB_PORT:-3306}"
    else
        echo "== no MariaDB answers at ${DB_HOST:-127.0.0.1}:${DB_PORT:-3306}: starting a throwaway one under $dir/mysql"
        db="$dir/mysql"; mkdir -p "$db"
        server=$(command -v mariadbd || command -v mysqld || echo /usr/sbin/mariadbd)
        install=$(command -v mariadb-install-db || command -v mysql_install_db || echo /usr/bin/mariadb-install-db)
        user=(); [ "$(id -u)" = 0 ] && user=(--user=root)
        flags=(--no-defaults --datadir="$db/data" --innodb-log-file-size=8M --innodb-buffer-pool-size=32M --innodb-use-native-aio=0 --skip-name-resolve)
        [ -d "$db/data/mysql" ] || "$install" "${flags[@]}" --auth-root-authentication-method=normal --skip-test-db "${user[@]}" >"$db/install.log" 2>&1
        port=3407
        "$server" "${flags[@]}" --port=$port --bind-address=127.0.0.1 --skip-networking=0 --socket="$db/mysqld.sock" \
            --pid-file="$db/mysqld.pid" --log-error="$db/error.log" --skip-grant-tables --skip-log-bin "${user[@]}" &
        pid=$!
        trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
        for _ in $(seq 1 300); do
            mariadb -h 127.0.0.1 -P $port -u root -e 'SELECT 1' >/dev/null 2>&1 && break
            kill -0 $pid 2>/dev/null || { tail -20 "$db/error.log"; exit 1; }
            sleep 0.2
        done
        export DB_HOST=127.0.0.1 DB_PORT=$port DB_USER=root DB_PASS=
    fi
    ./bin/runner-dev demo --dir "$dir"

# Install under prefix with doctor, migrate and a nightly timer or crontab line (idempotent; runner deploy -h).
deploy prefix="/opt/meetpipe": deps build
    {{sudo}} env PATH="$PATH" ./bin/runner deploy --prefix "{{prefix}}"

# Remove the schedule, the binary and the plugins of a deploy; .env, the pipeline and data stay.
undeploy prefix="/opt/meetpipe": build
    {{sudo}} env PATH="$PATH" ./bin/runner undeploy --prefix "{{prefix}}"

# Benchmarks (see docs/benchmarks.md).
bench: deps build
    bash bench/run.sh
