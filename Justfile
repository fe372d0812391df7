# meetpipe — recipes for people and CI. `just demo` and `just test` are the Quick start.

set shell := ["bash", "-euo", "pipefail", "-c"]

sudo := if `id -u` == "0" { "" } else { "sudo" }
export GOFLAGS := "-buildvcs=false"

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
    if ! command -v go >/dev/null; then
        echo "Go 1.26 or newer is required: https://go.dev/doc/install" >&2; exit 1
    fi
    if [ ${#need[@]} -gt 0 ]; then
        echo "installing: ${need[*]}"
        {{sudo}} apt-get update -qq
        DEBIAN_FRONTEND=noninteractive {{sudo}} apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${need[@]}" | sort -u)
    fi

# Build the runner and the Go plugins into bin/ and plugins/.
build:
    go build -o bin/runner ./runner/cmd/runner
    if [ -d plugins/wecom_notify ]; then go build -o plugins/wecom_notify/wecom_notify ./plugins/wecom_notify; fi

# gofmt and go vet.
lint:
    test -z "$(gofmt -l $(git ls-files '*.go'))" || { gofmt -l $(git ls-files '*.go'); exit 1; }
    go vet ./...

# Run every test (installs what is missing; tests start a MariaDB of their own if none is reachable).
test: deps build lint
    go test -race -count=1 -timeout 15m ./...

# Run the pipeline on the bundled demo: emulators on loopback, generated Mandarin meetings, MariaDB.
demo: deps build
    bash pipelines/demo/run.sh

# Benchmarks (see docs/benchmarks.md).
bench: deps build
    bash bench/run.sh
