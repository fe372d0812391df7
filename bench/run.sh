#!/usr/bin/env bash
# Benchmarks of meetpipe (docs/benchmarks.md): the whole pipeline on 200 emulated recordings, then audio
# extraction per codec and aria2c with 1 vs 8 connections. Run from the repository root: `just bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== pipeline: 200 recordings (about 3 minutes)"
MEETPIPE_BENCH=1 go test -run '^$' -bench 'BenchmarkPipeline' -benchtime 1x -timeout 30m ./runner/cmd/runner/
if [ "${MEETPIPE_BENCH_MEDIA:-1}" != 0 ]; then
    echo "== media: codecs and download connections (about 5 minutes; MEETPIPE_BENCH_MEDIA=0 skips)"
    MEETPIPE_BENCH_MEDIA=1 go test -run '^$' -bench . -benchtime 1x -timeout 30m ./steps/media/
fi
