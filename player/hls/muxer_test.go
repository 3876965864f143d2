package hls

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
)

// The part target duration an LL-HLS playlist announces must never change: iOS players fail
// on it. Two minutes of the demo (RTMP's millisecond timestamps, 30 fps) are muxed at once, as
// they come, with a frame 7 ms late every 10 s (an encoder's jitter: gohlslib went from 201 to
// 207 ms and back each time), and with a frame dropped every 10 s (201 to 225 ms). No part
// runs past the target; with jitter none is under 85 % of it either. A dropped frame can
// still leave one part under 85 % (a part that would run past the target with the long
// frame ends before it): no target fits both a part with it and 85 % of the usual parts.
func TestMuxerPartTargetHoldsStill(t *testing.T) {
	for _, c := range []struct {
		name  string
		shift time.Duration // every 300 pictures, the rest of the stream comes this much later
		short bool          // a part under 85 % of the target may come
	}{{"steady", 0, false}, {"a frame 7 ms late", 7 * time.Millisecond, false}, {"a frame dropped", time.Second / 30, true}} {
		t.Run(c.name, func(t *testing.T) {
			var logs bytes.Buffer
			m, loop := demoMuxer(t, slog.New(slog.NewTextHandler(&logs, nil)))
			var late time.Duration
			pictures := 0
			for {
				f := *loop.Next()
				if f.DTS > 120*time.Second {
					break
				}
				if f.Track.Codec.IsVideo() {
					if pictures++; pictures%300 == 0 {
						late += c.shift
					}
					if pictures > 300 && pictures%300 == 20 { // the parts around the late frame are in the window
						checkParts(t, m, c.short)
					}
				}
				f.DTS, f.PTS = f.DTS+late, f.PTS+late
				if err := m.write(&f); err != nil {
					t.Fatal(err)
				}
			}
			if n := strings.Count(logs.String(), "part duration changed"); n > 0 {
				t.Fatalf("the muxer changed its part target %d times:\n%s", n, logs.String())
			}
		})
	}
}

// checkParts reads the muxer's video playlist: every part fits the part target, and, unless
// shortOK, all but a segment's first (independent) and last parts last 85 % of it at least,
// as RFC 8216bis wants.
func checkParts(t *testing.T, m *muxer, shortOK bool) {
	t.Helper()
	get := func(name string) []byte {
		rec := httptest.NewRecorder()
		m.handle(rec, httptest.NewRequest(http.MethodGet, "/live/demo/"+name, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d", name, rec.Code)
		}
		return rec.Body.Bytes()
	}
	pl, err := playlist.Unmarshal(get("index.m3u8"))
	if err != nil {
		t.Fatal(err)
	}
	mv, ok := pl.(*playlist.Multivariant)
	if !ok || len(mv.Variants) == 0 {
		t.Fatalf("index.m3u8 is no multivariant playlist: %T", pl)
	}
	pl, err = playlist.Unmarshal(get(mv.Variants[0].URI))
	if err != nil {
		t.Fatal(err)
	}
	media := pl.(*playlist.Media)
	target := media.PartInf.PartTarget
	n := 0
	for _, seg := range media.Segments {
		for i, part := range seg.Parts {
			n++
			if part.Duration > target {
				t.Errorf("a part of %v, over the target of %v", part.Duration, target)
			}
			if !shortOK && !part.Independent && i < len(seg.Parts)-1 && part.Duration < target*85/100 {
				t.Errorf("a part of %v, under 85 %% of the target of %v", part.Duration, target)
			}
		}
	}
	if n == 0 && len(media.Segments) > 1 {
		t.Fatal("no parts in the playlist")
	}
}
