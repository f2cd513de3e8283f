# One image with the three binaries: worker, starter, simulator. Pick one with
# the entrypoint (docker-compose.yaml does), e.g.
#   docker build -t vib . && docker run --rm vib starter --help
#
# cgo stays on: pyrand calls glibc's log and pow as numpy does, so the builder
# and the runtime share one glibc (Debian 12 "bookworm" both).
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=1 go build -trimpath -ldflags="-s -w" -o /out/ ./worker ./starter ./simulator

FROM debian:12.12-slim
# TLS roots for S3 and Temporal Cloud; the slim image has none.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/ /usr/local/bin/
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/vib vib
USER 10001:10001
# The local results store (./results) lands here when no bucket is set.
WORKDIR /home/vib
# worker metrics, simulator API
EXPOSE 9464 8000
CMD ["worker"]
