# keyward's container image: a static binary on an empty base image, run as
# a non-root user, data in the volume /var/lib/keyward, health checked by
# the binary itself. See docs/operations.md, "Docker".
#
#   docker build -t keyward \
#     --build-arg VERSION="$(git describe --tags --always --dirty)" \
#     --build-arg COMMIT="$(git rev-parse HEAD)" .
#
# cmd/keyward's TestDockerfileBuild runs this file's go build line and
# checks the binary, the ENV, the HEALTHCHECK and the user.

ARG GO_IMAGE=golang:1.26-bookworm

FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The version and commit the binary reports (keyward version); empty
# leaves "(devel)" and "unknown": .dockerignore keeps .git out, so the Go
# toolchain cannot read them here.
ARG VERSION=""
ARG COMMIT=""
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" -o /out/keyward ./cmd/keyward
# What the empty final image needs: a user and group for uid 65532, the CA
# certificates (PostgreSQL with sslmode=verify-full, rediss://), a /tmp for
# SQLite's temporary files, and the data directory owned by the user,
# private. COPY gives the directory it copies into default permissions
# (0755) and keeps those of what it copies: the data directory is copied
# as an entry of /data-parent, so its 0700 stays (into /var/lib, which
# /rootfs made first and root keeps).
RUN mkdir -p /rootfs/etc/ssl/certs /rootfs/tmp /rootfs/var/lib /data-parent/keyward \
 && echo 'keyward:x:65532:65532:keyward:/var/lib/keyward:/sbin/nologin' > /rootfs/etc/passwd \
 && echo 'keyward:x:65532:' > /rootfs/etc/group \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ \
 && chmod 1777 /rootfs/tmp \
 && chmod 0700 /data-parent/keyward

FROM scratch
COPY --from=build /rootfs/ /
COPY --from=build --chown=65532:65532 /data-parent/ /var/lib/
COPY --from=build /out/keyward /usr/local/bin/keyward
USER 65532:65532
# Listen on every interface of the container; keep the database and the
# bootstrap operator key (written once, mode 0600) in the volume.
ENV KEYWARD_ADDR=0.0.0.0:8420 \
    KEYWARD_DATA_DIR=/var/lib/keyward \
    KEYWARD_BOOTSTRAP_KEY_FILE=/var/lib/keyward/operator.key \
    KEYWARD_LOG_FORMAT=json
VOLUME /var/lib/keyward
EXPOSE 8420
# GET /readyz on KEYWARD_ADDR (on loopback): exit 0 ready, 1 not.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/keyward", "healthcheck", "--timeout", "4s"]
ENTRYPOINT ["/usr/local/bin/keyward"]
CMD ["serve"]
