# relaycast in a container: docker build -t relaycast . && docker run --rm -p 1935:1935 \
#   -p 8554:8554 -p 8080:8080 -p 8000-8001:8000-8001/udp -v relaycast-media:/media relaycast
# The image holds the binary alone and runs it as an unprivileged user.
FROM docker.io/library/golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=""
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/relaycast ./cmd/relaycast \
    && mkdir -p /out/media

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/relaycast /usr/local/bin/relaycast
# The media directory (uploads, recordings), owned by the image's user (nonroot, 65532).
COPY --from=build --chown=65532:65532 /out/media /media
VOLUME /media
USER nonroot:nonroot
# RTMP, RTSP (TCP, RTP and RTCP over UDP), HTTP; RTMPS, RTSPS and HTTPS with a certificate;
# WebRTC ICE (UDP and TCP). The image has no ffmpeg: WebRTC viewers of AAC streams get no sound.
EXPOSE 1935 8554 8000/udp 8001/udp 8080 1936 8322 8443 8189/udp 8189
ENTRYPOINT ["/usr/local/bin/relaycast", "-media-dir", "/media", "-log-format", "json"]
