package slate_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/relaycast/relaycast/internal/testkit/testenv"
	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/slate"
	"github.com/relaycast/relaycast/vod"
)

// The card a stream shows while its publisher is away has the stream's codecs, picture size
// and sound (the very AAC configuration, so RTSP's SDP still holds), a keyframe a second, and
// timestamps that run on from the publisher's and on into the next publisher's.
func TestCardTakesTheStreamsLookAndGivesWayAtTheNextKeyframe(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg")
	for _, tc := range []struct{ name, sample string }{{"h264", testenv.Sample()}, {"hevc", testenv.SampleHEVC()}} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := os.ReadFile(tc.sample)
			if err != nil {
				t.Fatal(err)
			}
			src, err := vod.NewClip("src", data)
			if err != nil {
				t.Fatal(err)
			}
			cfg := relay.DefaultConfig()
			cfg.Grace = 10 * time.Millisecond
			g := relay.NewRegistry(cfg)
			defer g.Close()
			m := slate.New(nil, slog.New(slog.NewTextHandler(t.Output(), nil)))
			g.SetStandby(func(string) relay.Standby { return m.Standby(slate.Card) })

			pub, err := g.Publish("live/a")
			if err != nil {
				t.Fatal(err)
			}
			s := pub.Stream()
			r := s.NewReader()
			defer r.Close()
			play := func(pub *relay.Publisher, d time.Duration) {
				ctx, cancel := context.WithTimeout(context.Background(), d)
				defer cancel()
				_ = (&vod.Playlist{Path: "live/a", Files: []string{"src"}, Media: src, Log: slog.Default()}).Play(ctx, pub)
			}
			play(pub, 700*time.Millisecond)
			video, audio := relay.FirstTracks(s.Tracks(), nil)
			pub.Close()

			frames := readFor(t, r, func(f *relay.Frame) bool { return f.Track != video && f.Track != audio }, 3*time.Second)
			if st := s.Stats(); !st.Standby {
				t.Fatalf("stats with the publisher away: %+v, want the standby", st)
			}
			sv, sa := relay.FirstTracks(s.Tracks(), nil)
			if sv == video || sv.Codec != video.Codec || sv.Width != video.Width || sv.Height != video.Height {
				t.Errorf("slate video %v %dx%d, want a new %v track %dx%d", sv.Codec, sv.Width, sv.Height, video.Codec, video.Width, video.Height)
			}
			if sa.Codec != audio.Codec || sa.SampleRate != audio.SampleRate || sa.Channels != audio.Channels || !bytes.Equal(sa.Config, audio.Config) {
				t.Errorf("slate audio %v %d Hz %d ch %x, want %v %d Hz %d ch %x", sa.Codec, sa.SampleRate, sa.Channels, sa.Config,
					audio.Codec, audio.SampleRate, audio.Channels, audio.Config)
			}
			var lastKey time.Duration = -1
			for _, f := range frames {
				if f.Key && f.Track.Codec.IsVideo() {
					// at the loop the sound's last AAC frame, which runs past the picture's end, adds to the gap
					if lastKey >= 0 && f.DTS-lastKey > time.Second+50*time.Millisecond {
						t.Errorf("slate keyframes %v apart, want at most 1 s (and the loop's sound)", f.DTS-lastKey)
					}
					lastKey = f.DTS
				}
			}
			if lastKey < 0 {
				t.Fatal("no slate keyframe in 3 s")
			}

			back, err := g.Publish("live/a")
			if err != nil {
				t.Fatal(err)
			}
			go play(back, 1500*time.Millisecond)
			frames = append(frames, readFor(t, r, func(*relay.Frame) bool { return !s.Stats().Standby }, 500*time.Millisecond)...)
			if st := s.Stats(); st.Standby || !st.Publishing {
				t.Errorf("stats after the publisher came back: %+v", st)
			}
			checkTimeline(t, frames)
		})
	}
}

// readFor skips frames until one counts, and returns it and the frames after it, d of
// stream time.
func readFor(t *testing.T, r *relay.Reader, counts func(*relay.Frame) bool, d time.Duration) []*relay.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []*relay.Frame
	var first time.Duration = -1
	for {
		f, err := r.Next(ctx)
		if err != nil {
			t.Fatalf("after %d frames: %v", len(got), err)
		}
		if first < 0 && !counts(f) {
			continue
		}
		if first < 0 {
			first = f.DTS
		}
		got = append(got, f)
		if f.DTS-first >= d {
			return got
		}
	}
}

func checkTimeline(t *testing.T, frames []*relay.Frame) {
	t.Helper()
	last := map[relay.Codec]time.Duration{}
	for i, f := range frames {
		if d, ok := last[f.Track.Codec]; ok && f.DTS <= d {
			t.Fatalf("frame %d (%v): DTS %v after %v", i, f.Track.Codec, f.DTS, d)
		}
		last[f.Track.Codec] = f.DTS
	}
}
