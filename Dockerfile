# One image for every role of the mtls command: PKI setup, server, client.
# docker-compose.yml picks the role with the command.
#
# Targets:
#   runtime   (default, the last stage) builds mtls from source in a golang
#             stage, so it needs the golang image from a registry.
#   prebuilt  copies bin/docker/mtls, a static binary built on the host, and
#             needs no image from any registry (scratch is built in):
#               CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags='-s -w' -o bin/docker/mtls ./cmd/mtls
#               docker build --target prebuilt -t grpc-mtls .
#
# The classic builder (DOCKER_BUILDKIT=0) builds every stage that comes
# before the target, whether the target uses it or not. So prebuilt comes
# before the golang stage, and builds even when bin/docker/mtls is missing.

# GO_IMAGE can name a mirror or a local copy of the golang image.
ARG GO_IMAGE=golang:1.26

FROM scratch AS base
# Runs as this numeric user; scratch has no /etc/passwd, and needs none.
ARG UID=10001
# Mount points of the compose volumes, owned by the runtime user: a new
# named volume takes the ownership of the image directory it is mounted on,
# and pki init must write there without root. docker/empty/ is empty in the
# build context (.dockerignore drops its .keep file), so these COPYs make
# the directories without a shell.
COPY --chown=${UID}:${UID} docker/empty/ /pki/
COPY --chown=${UID}:${UID} docker/empty/ /ca/
COPY --chown=${UID}:${UID} docker/empty/ /misconfig/
USER ${UID}:${UID}
# mtls serve listens here by default.
EXPOSE 8443
ENTRYPOINT ["/usr/local/bin/mtls"]
CMD ["--help"]

FROM base AS prebuilt
# The glob matches nothing when bin/docker/mtls is missing, and docker/empty/
# keeps the source list from being empty, so this stage still builds for the
# classic builder on the way to the runtime target.
# NOTE: an image built with --target prebuilt but without bin/docker/mtls has
# no binary; its containers fail to start with "no such file or directory".
COPY docker/empty/ bin/docker/mtl[s] /usr/local/bin/

FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# CGO off gives a static binary that runs on scratch; -trimpath drops host
# paths, and -s -w drop the symbol tables to keep the image small.
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/mtls ./cmd/mtls

FROM base AS runtime
COPY --from=build /out/mtls /usr/local/bin/mtls
