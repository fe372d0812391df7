# meetpipe's image: the runner and its plugins on Debian slim with aria2, ffmpeg and jq, run as a non-root
# user. Build: docker build -t meetpipe:$(git describe --tags --always) --build-arg VERSION=$(git describe --tags --always) --build-arg COMMIT=$(git rev-parse HEAD) .
# Run:   docker run --rm --env-file .env -v meetpipe-state:/state meetpipe:TAG run pipelines/meeting.yaml --since 26h

FROM golang:1.26-trixie AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
# Static binaries: the runtime image needs no Go and no libc match. -buildvcs=false: no .git in the context.
RUN CGO_ENABLED=0 go build -buildvcs=false -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" -o /out/bin/runner ./runner/cmd/runner \
 && CGO_ENABLED=0 go build -buildvcs=false -trimpath -ldflags "-s -w" -o /out/plugins/wecom_notify/wecom_notify ./plugins/wecom_notify \
 && cp plugins/wecom_notify/manifest.yaml /out/plugins/wecom_notify/ \
 && mkdir -p /out/plugins/tag_subject && cp plugins/tag_subject/manifest.yaml plugins/tag_subject/tag.sh /out/plugins/tag_subject/ \
 && cp -r pipelines /out/pipelines

FROM debian:trixie-slim
# aria2 downloads, ffmpeg extracts audio, jq runs the tag_subject plugin, tzdata for TZ=Asia/Shanghai.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends aria2 ffmpeg jq ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /opt/meetpipe --no-create-home --shell /usr/sbin/nologin meetpipe \
 && mkdir -p /state && chown meetpipe:meetpipe /state
COPY --from=build /out/ /opt/meetpipe/
WORKDIR /opt/meetpipe
# State (memo, pending list, run history) and the log file live on the volume; the log also goes to stderr.
ENV MEETPIPE_STATE_DIR=/state/meeting \
    MEETPIPE_LOG_FILE=/state/logs/record_worker.log \
    TZ=Asia/Shanghai
VOLUME /state
USER 10001:10001
ENTRYPOINT ["/opt/meetpipe/bin/runner"]
CMD ["run", "pipelines/meeting.yaml", "--since", "26h"]
