package rtsp

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/pion/rtp"

	"github.com/relaycast/relaycast/ingest"
	"github.com/relaycast/relaycast/relay"
)

// clientTimeout bounds how long a pulled connection may send nothing, or a pushed one take
// nothing, before it is taken for dead (and a link reconnects).
const clientTimeout = 10 * time.Second

// Pull plays the RTSP stream at u and writes its frames to out until the connection ends
// or ctx does: a link's pull of rtsp:// or rtsps://.
func Pull(ctx context.Context, u *url.URL, out ingest.FrameWriter, log *slog.Logger) error {
	bu, err := base.ParseURL(u.String())
	if err != nil {
		return fmt.Errorf("rtsp pull: %w", err)
	}
	// No protocol set: gortsplib tries UDP and falls back to TCP when no packet comes.
	c := &gortsplib.Client{Scheme: bu.Scheme, Host: bu.Host, ReadTimeout: clientTimeout}
	quietClient(c, log)
	if err := c.Start(); err != nil {
		return fmt.Errorf("rtsp pull: %w", err)
	}
	defer c.Close()
	defer context.AfterFunc(ctx, c.Close)()
	desc, _, err := c.Describe(bu)
	if err != nil {
		return fmt.Errorf("rtsp pull: %w", err)
	}
	il := ingest.NewInterleaver(out)
	il.OnClockJump = ingest.LogClockJump(log)
	var (
		mu      sync.Mutex
		failure error
	)
	fail := func(err error) {
		mu.Lock()
		if failure == nil {
			failure = err
		}
		mu.Unlock()
		go c.Close() // not from a packet callback, which Close waits for
	}
	carried := 0
	for _, m := range desc.Medias {
		for _, f := range m.Formats {
			if _, err := ingest.NewRTPMedia(f, nil); err != nil {
				continue
			}
			media, err := ingest.NewRTPMedia(f, il.Track())
			if err != nil {
				continue
			}
			if _, err := c.Setup(desc.BaseURL, m, 0, 0); err != nil {
				return fmt.Errorf("rtsp pull: setup %s: %w", f.Codec(), err)
			}
			c.OnPacketRTP(m, f, func(pkt *rtp.Packet) {
				pts, ok := c.PacketPTS(m, pkt)
				if !ok {
					return
				}
				if err := media.Packet(pkt, pts); err != nil {
					fail(err)
				}
			})
			carried++
			break
		}
	}
	if carried == 0 {
		return fmt.Errorf("rtsp pull: %w", ingest.ErrNoTracks)
	}
	if _, err := c.Play(nil); err != nil {
		return fmt.Errorf("rtsp pull: %w", err)
	}
	err = c.Wait()
	mu.Lock()
	defer mu.Unlock()
	if failure != nil {
		err = failure
	}
	return fmt.Errorf("rtsp pull: %w", err)
}

// quietClient sends what gortsplib's client would print to the standard logger to log.
func quietClient(c *gortsplib.Client, log *slog.Logger) {
	c.OnTransportSwitch = func(err error) { log.Info("rtsp: transport switched", "why", err) }
	c.OnPacketsLost = func(lost uint64) { log.Debug("rtsp: RTP packets lost", "lost", lost) }
	c.OnDecodeError = func(err error) { log.Debug("rtsp: input skipped", "err", err) }
}

// Push records stream to the RTSP server at u (ANNOUNCE, SETUP, RECORD) from its latest
// keyframe until the stream, the connection or ctx ends: a link's push to rtsp:// or
// rtsps://. RTP goes interleaved in the TCP connection, which passes the firewalls and NATs
// a target may be behind; the packets are the ones relaycast's own RTSP viewers get. live
// is called when the first packet is sent.
func Push(ctx context.Context, stream *relay.Stream, u *url.URL, live func(), log *slog.Logger) error {
	r := stream.NewReader()
	defer r.Close()
	tracks, err := stream.WaitTracks(ctx, relay.TrackSettle)
	if err != nil {
		return fmt.Errorf("rtsp push: %w", err)
	}
	pk, desc, err := NewPacketizer(tracks)
	if err != nil {
		return fmt.Errorf("rtsp push: %w", err)
	}
	tcp := gortsplib.ProtocolTCP
	// A target that stops reading fills the write queue: gortsplib then drops packets
	// rather than block, and the target's timeout ends the session.
	c := &gortsplib.Client{Protocol: &tcp, ReadTimeout: clientTimeout, WriteTimeout: clientTimeout}
	quietClient(c, log)
	if err := c.StartRecording(u.String(), desc); err != nil {
		return fmt.Errorf("rtsp push: %w", err)
	}
	defer c.Close()
	defer context.AfterFunc(ctx, c.Close)()
	epoch := time.Time{}
	sent := false
	video := slices.ContainsFunc(tracks, func(t *relay.Track) bool { return t.Codec.IsVideo() })
	var start time.Duration // of the first picture sent
	for {
		f, err := r.Next(ctx)
		if err != nil {
			return err
		}
		// Audio from before the first picture goes unsent. A receiver times each media from
		// its first packet until the first sender reports, then by their clocks; audio that
		// began earlier would step back then (ffmpeg: "non monotonically increasing dts").
		if video && !f.Track.Codec.IsVideo() && (epoch.IsZero() || f.PTS < start) {
			continue
		}
		m, pkts, err := pk.Packetize(f)
		if err != nil {
			return fmt.Errorf("rtsp push: %w", err)
		}
		if epoch.IsZero() && len(pkts) > 0 {
			epoch, start = time.Now().Add(-f.PTS), f.PTS
		}
		for _, pkt := range pkts {
			if err := c.WritePacketRTPWithNTP(m, pkt, epoch.Add(f.PTS)); err != nil {
				return fmt.Errorf("rtsp push: %w", err)
			}
		}
		if !sent && len(pkts) > 0 {
			sent = true
			live()
		}
	}
}
