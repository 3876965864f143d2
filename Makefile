# relaycast — see README.md. Every target works on a fresh Debian machine with Go.
GO       ?= go
BIN      := bin/relaycast
FUZZTIME ?= 30s
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null)
# Each fuzz target as package:Target; `make fuzz` runs each for FUZZTIME.
FUZZ_TARGETS := ./ingest:FuzzFLVTag ./ingest:FuzzFLVFile ./ingest:FuzzRTPPackets ./ingest:FuzzRTPCodecs ./ingest:FuzzMPEGTS ./srt:FuzzStreamID \
	./rtmp:FuzzGuard ./rtmp:FuzzServerConn ./rtmp:FuzzAMF0 \
	./rtsp:FuzzRequestGuard ./rtsp:FuzzRequest ./rtsp:FuzzServerConn \
	./web:FuzzRequestPath ./format:FuzzProbe ./codec:FuzzH265Config ./codec:FuzzAV1Config

.PHONY: all build run test test-deps check bench bench-compare bench-vod bench-codecs bench-edges bench-hls bench-webrtc bench-dvr fuzz media clean

all: build

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/relaycast

## run: build and start the server with the built-in demo stream at live/demo
run: build
	./$(BIN)

## test: install the test peers if missing (ffmpeg, gstreamer, VLC, Chromium, curl, promtool, nginx-rtmp, srt-tools), then every
## check and test (scripts/test.sh); screenshots the browser tests take land in artifacts/
test: test-deps check
	GO=$(GO) ./scripts/test.sh

test-deps:
	./scripts/install-test-deps.sh

check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## bench: the hot paths (ns and allocations per frame per reader): relay, browser fan-out,
## RTMP fan-out over loopback sockets
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./relay ./player/... ./rtsp ./rtmp ./webrtc

## bench-compare: the load tool against relaycast and nginx-rtmp in turn (1000 and 3000
## players; not part of `make test`)
bench-compare:
	./scripts/bench-compare.sh $(PLAYERS)

## bench-vod: the load tool with 100 RTMP players, then 100 RTSP readers, of three stored
## files: real time, first frame, memory per viewer (not part of `make test`)
bench-vod:
	./scripts/bench-vod.sh

## bench-codecs: fast start per codec (H.264, H.265, AV1): 300 RTMP players and 100 RTSP
## readers each; first frame, keyframe-with-config starts (not part of `make test`)
bench-codecs:
	./scripts/bench-codecs.sh

## bench-edges: an origin and two edges, relaycast's then nginx-rtmp's: 1000 RTMP players
## shared out between the edges (PLAYERS=N for another count; not part of `make test`)
bench-edges:
	./scripts/bench-edges.sh $(PLAYERS)

## bench-hls: LL-HLS clients (300, or CLIENTS=N) straight on relaycast, then on MediaMTX:
## CPU, memory, first part, lag in parts (not part of `make test`)
bench-hls:
	./scripts/bench-hls.sh $(CLIENTS)

## bench-dvr: 100 DVR viewers (or VIEWERS=N) spread over a live path's last hour (memory per
## viewer, first segment, kept up); a list and a one-hour range of 24 h of one-minute files
## over HTTP, relaycast's then MediaMTX's playback server; the same in-process (not part of
## `make test`)
bench-dvr:
	./scripts/bench-dvr.sh $(VIEWERS)

## bench-webrtc: WHEP viewers (200, or VIEWERS=N) of relaycast, then of MediaMTX: CPU,
## memory, kept up, first frame and delay, side by side.
bench-webrtc:
	./scripts/bench-webrtc.sh $(VIEWERS)

## fuzz: run every fuzz target for FUZZTIME each (the seeds also run in `make test`)
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== $$name ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s $$pkg || exit 1; \
	done

## media: regenerate the committed test clip and demo stream (needs ffmpeg with libx264)
media:
	./testdata/make-media.sh

clean:
	rm -rf bin artifacts
