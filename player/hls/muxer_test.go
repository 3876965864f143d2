package hls

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/relaycast/relaycast/internal/testkit/mediatest"
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
	media := videoPlaylist(t, m)
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

// Muxers of one source's renditions, started at different keyframes, cut their segments at
// the same pictures (each in the first keyframe of a later cell of the segment duration on
// the stream's timeline), so a player switching variants finds the same boundaries: the
// program date-times of the segments both list are the same. The demo has a keyframe a
// second: MPEG-TS segments (1.5 s at least) take two, and cut by their own start, a muxer
// started one keyframe later cut between the other's.
func TestRenditionMuxersCutAtTheSamePictures(t *testing.T) {
	for _, ts := range []bool{false, true} {
		t.Run(map[bool]string{false: "fMP4", true: "MPEG-TS"}[ts], func(t *testing.T) {
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			frames, err := mediatest.DemoFrames()
			if err != nil {
				t.Fatal(err)
			}
			loop := mediatest.NewLooper(frames)
			tracks := demoTracks(frames)
			a, err := newMuxer(nil, tracks, ts, log)
			if err != nil {
				t.Fatal(err)
			}
			defer a.lib.Close()
			b, err := newMuxer(nil, tracks, ts, log)
			if err != nil {
				t.Fatal(err)
			}
			defer b.lib.Close()
			epoch := time.Unix(1_700_000_000, 0) // the stream's, which both take (Stream.Epoch)
			a.epoch, b.epoch = epoch, epoch
			keys := 0
			for {
				f := *loop.Next()
				if f.DTS > 40*time.Second {
					break
				}
				if f.Track.Codec.IsVideo() && f.Key {
					keys++
				}
				g := f
				if err := a.write(&f); err != nil {
					t.Fatal(err)
				}
				if keys >= 2 { // b starts a keyframe later
					if err := b.write(&g); err != nil {
						t.Fatal(err)
					}
				}
			}
			as, bs := segmentTimes(t, a), segmentTimes(t, b)
			common := 0
			for at := range bs {
				if at.Before(minTime(as)) {
					continue
				}
				if !as[at] {
					t.Errorf("a segment at %v in one variant only: %v / %v", at.Sub(epoch), sortedSince(as, epoch), sortedSince(bs, epoch))
					break
				}
				common++
			}
			if common < 2 {
				t.Errorf("%d segments in common: %v / %v", common, sortedSince(as, epoch), sortedSince(bs, epoch))
			}
		})
	}
}

// segmentTimes are the program date-times of the segments of m's video playlist.
func segmentTimes(t *testing.T, m *muxer) map[time.Time]bool {
	t.Helper()
	out := map[time.Time]bool{}
	for _, s := range videoPlaylist(t, m).Segments {
		if s.DateTime != nil {
			out[*s.DateTime] = true
		}
	}
	return out
}

// videoPlaylist is the media playlist of m's video, as a player reads it.
func videoPlaylist(t *testing.T, m *muxer) *playlist.Media {
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
	return pl.(*playlist.Media)
}

func minTime(set map[time.Time]bool) time.Time {
	var m time.Time
	for at := range set {
		if m.IsZero() || at.Before(m) {
			m = at
		}
	}
	return m
}

func sortedSince(set map[time.Time]bool, epoch time.Time) []time.Duration {
	var out []time.Duration
	for at := range set {
		out = append(out, at.Sub(epoch))
	}
	slices.Sort(out)
	return out
}
