package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	gosrt "github.com/datarhei/gosrt"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/internal/rtmpclient"
	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/rtmp"
	"github.com/relaycast/relaycast/rtsp"
)

// pushKey names one push relay: a stream and a target.
type pushKey struct {
	path, target string
}

// pusher restreams one stream to one target for as long as the stream lasts, reconnecting
// with backoff. Its own relay reader means a target that stalls skips ahead or falls off
// like any viewer, and nobody else notices.
type pusher struct {
	stream *relay.Stream
	target *url.URL
	// An edge's forward push: the origins, tried in turn at each connection, and the one
	// that took the publish when the edge asked it (Forward), for the first.
	origins  []*url.URL
	reserved *rtmpclient.Publisher
	log      *slog.Logger
	liveAt   time.Time // when the current connection began to deliver; zero: it has not
	st       status
	cancel   context.CancelFunc
	done     chan struct{}
}

func (p *pusher) setLive() {
	p.liveAt = time.Now()
	p.st.set(StateLive, nil)
}

func (p *pusher) wait() {
	p.cancel()
	<-p.done
}

// Watch starts push relays as paths are published and lets them end with their streams.
// Call once, before anything publishes; Close stops the watch.
func (m *Manager) Watch(w interface {
	Watch(func(relay.Event)) (stop func())
}) {
	stop := w.Watch(func(ev relay.Event) {
		if ev.Kind == relay.PublisherJoined {
			m.startPushes(ev.Stream)
		}
	})
	m.mu.Lock()
	m.stopWait = stop
	m.mu.Unlock()
}

// startPushes runs a pusher for each target of s's path that has none for s.
func (m *Manager) startPushes(s *relay.Stream) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx.Err() != nil {
		return
	}
	for _, raw := range m.links.Pushes[s.Path()] {
		k := pushKey{s.Path(), raw}
		if p, ok := m.pushing[k]; ok && p.stream == s {
			continue // a hand-over: the pusher's reader goes on
		}
		u, _ := parseURL(raw, pushSchemes)
		m.startPush(k, &pusher{stream: s, target: u}, "push")
	}
	if r := m.takeReservation(s.Path()); r != nil {
		k := pushKey{s.Path(), forwardTarget}
		if p, ok := m.pushing[k]; ok && p.stream == s {
			r.pub.Close() // a hand-over: the push to the origin goes on
			return
		}
		m.startPush(k, &pusher{stream: s, target: r.urls[0], origins: r.urls, reserved: r.pub}, "forward")
	}
}

// startPush runs p in place of any pusher under k. The caller holds mu.
func (m *Manager) startPush(k pushKey, p *pusher, kind string) {
	ctx, cancel := context.WithCancel(m.ctx)
	p.cancel, p.done = cancel, make(chan struct{})
	p.st.s = Status{Kind: kind, Path: k.path, URL: redact(p.target), State: StateConnecting, Since: time.Now()}
	if old, ok := m.pushing[k]; ok {
		old.cancel()
	}
	m.pushing[k] = p
	m.wg.Go(func() {
		defer close(p.done)
		p.run(ctx, m)
		m.mu.Lock()
		if m.pushing[k] == p {
			delete(m.pushing, k)
		}
		m.mu.Unlock()
	})
}

// prunePushes stops the pushers whose target left the configuration. The caller holds mu.
func (m *Manager) prunePushes() {
	for k, p := range m.pushing {
		found := k.target == forwardTarget && len(m.links.Origins) > 0
		for _, t := range m.links.Pushes[k.path] {
			found = found || t == k.target
		}
		if !found {
			p.cancel()
			delete(m.pushing, k)
		}
	}
}

func (p *pusher) run(ctx context.Context, m *Manager) {
	log := m.log.With("link", p.st.get().Kind, "path", p.stream.Path(), "url", redact(p.target))
	p.log = log
	bo := newBackoff()
	for {
		p.liveAt = time.Time{}
		err := p.send(ctx)
		var up time.Duration // how long it delivered: a target that refuses backs off
		if !p.liveAt.IsZero() {
			up = time.Since(p.liveAt)
		}
		if ctx.Err() != nil || errors.Is(err, relay.ErrEnded) {
			return
		}
		p.st.set(StateRetrying, err)
		log.Warn("push failed, retrying", "err", err)
		if !bo.wait(ctx, up) {
			return
		}
	}
}

// send connects, then sends the stream from its latest keyframe until the stream, the
// connection or ctx ends.
func (p *pusher) send(ctx context.Context) error {
	p.st.set(StateConnecting, nil)
	switch p.target.Scheme {
	case "srt":
		return p.sendSRT(ctx)
	case "rtsp", "rtsps":
		return p.sendRTSP(ctx)
	}
	return p.sendRTMP(ctx)
}

func (p *pusher) sendRTMP(ctx context.Context) error {
	pub, err := p.dialRTMP(ctx)
	if err != nil {
		return err
	}
	defer pub.Close()
	defer context.AfterFunc(ctx, pub.Close)()
	// The server's acknowledgements and pings are read and dropped; a read error means the
	// target hung up, and closing the connection fails the next write at once.
	var drained sync.WaitGroup
	defer drained.Wait()
	defer pub.Close()
	drained.Go(func() {
		for {
			if _, err := pub.Next(); err != nil {
				pub.Close()
				return
			}
		}
	})
	r := p.stream.NewReader()
	defer r.Close()
	if meta := p.stream.Metadata(); meta != nil {
		if err := pub.WriteTag(18, 0, meta); err != nil {
			return fmt.Errorf("rtmp push: %w", err)
		}
	}
	var sentVideo, sentAudio *relay.Track
	live := false
	for {
		f, err := r.Next(ctx)
		if err != nil {
			return err
		}
		ts := uint32(max(f.DTS, 0) / time.Millisecond)
		typ, sent := byte(8), &sentAudio
		if f.Track.Codec.IsVideo() {
			typ, sent = 9, &sentVideo
		}
		if *sent != f.Track {
			h, ok := rtmp.ConfigHeader(f.Track)
			if !ok {
				continue
			}
			if err := pub.WriteTag(typ, ts, append(h, f.Track.Config...)); err != nil {
				return fmt.Errorf("rtmp push: %w", err)
			}
			*sent = f.Track
		}
		h, ok := rtmp.FrameHeader(make([]byte, 0, 8+len(f.Payload)), f)
		if !ok {
			continue
		}
		if err := pub.WriteTag(typ, ts, append(h, f.Payload...)); err != nil {
			return fmt.Errorf("rtmp push: %w", err)
		}
		if !live {
			live = true
			p.setLive()
		}
	}
}

// dialRTMP connects to the target, or to the first of an edge's origins that takes the
// publish; the connection an origin took when the edge asked it goes first.
func (p *pusher) dialRTMP(ctx context.Context) (*rtmpclient.Publisher, error) {
	if pub := p.reserved; pub != nil {
		p.reserved = nil
		return pub, nil
	}
	targets := p.origins
	if len(targets) == 0 {
		targets = []*url.URL{p.target}
	}
	pub, _, err := publishFirst(ctx, targets)
	return pub, err
}

// trackSettle is how long a stream that has shown one track may take to show the other,
// before a target that needs both up front (an MPEG-TS program, an SDP) is told of one.
const trackSettle = 500 * time.Millisecond

// srtPayload is the media bytes of one SRT packet: seven MPEG-TS packets, what every SRT
// listener expects (libsrt's live mode default).
const srtPayload = 7 * 188

// sendSRT sends the stream as MPEG-TS to an SRT listener, the URL's streamid (such as
// publish:live/show) naming it there, as ffmpeg's srt:// URLs do.
func (p *pusher) sendSRT(ctx context.Context) error {
	cfg := gosrt.DefaultConfig()
	addr, err := cfg.UnmarshalURL(p.target.String())
	if err != nil {
		return fmt.Errorf("srt push: %w", err)
	}
	r := p.stream.NewReader()
	defer r.Close()
	tracks, err := p.stream.WaitTracks(ctx, trackSettle)
	if err != nil {
		return fmt.Errorf("srt push: %w", err)
	}
	ts, err := codec.NewTSFramer(tracks)
	if err != nil {
		return fmt.Errorf("srt push: %w", err)
	}
	conn, err := gosrt.Dial("srt", addr, cfg)
	if err != nil {
		return fmt.Errorf("srt push: %w", err)
	}
	defer conn.Close()
	defer context.AfterFunc(ctx, func() { conn.Close() })()
	// A listener sends nothing back on a publishing connection; a read error means it hung
	// up, and closing the connection fails the next write at once.
	var drained sync.WaitGroup
	defer drained.Wait()
	defer conn.Close()
	drained.Go(func() {
		b := make([]byte, 1500)
		for {
			if _, err := conn.Read(b); err != nil {
				conn.Close()
				return
			}
		}
	})
	live := false
	for {
		f, err := r.Next(ctx)
		if err != nil {
			return err
		}
		b, err := ts.Frame(f)
		if err != nil {
			return fmt.Errorf("srt push: %w", err)
		}
		// gosrt queues what is written and fails when its queue is full: a target that far
		// behind is dropped and reconnected to.
		for ; len(b) > 0; b = b[min(len(b), srtPayload):] {
			if _, err := conn.Write(b[:min(len(b), srtPayload)]); err != nil {
				return fmt.Errorf("srt push: %w", err)
			}
		}
		if !live {
			live = true
			p.setLive()
		}
	}
}

// sendRTSP records the stream to an RTSP server (ANNOUNCE, SETUP, RECORD), with RTP
// interleaved in the TCP connection, which passes the firewalls and NATs a target may be
// behind; the packets are the ones relaycast's own RTSP viewers get.
func (p *pusher) sendRTSP(ctx context.Context) error {
	r := p.stream.NewReader()
	defer r.Close()
	tracks, err := p.stream.WaitTracks(ctx, trackSettle)
	if err != nil {
		return fmt.Errorf("rtsp push: %w", err)
	}
	pk, desc, err := rtsp.NewPacketizer(tracks)
	if err != nil {
		return fmt.Errorf("rtsp push: %w", err)
	}
	tcp := gortsplib.ProtocolTCP
	// A target that stops reading fills the write queue: gortsplib then drops packets
	// rather than block, and the target's timeout ends the session.
	c := &gortsplib.Client{Protocol: &tcp, ReadTimeout: readTimeout, WriteTimeout: readTimeout}
	quietRTSP(c, p.log)
	if err := c.StartRecording(p.target.String(), desc); err != nil {
		return fmt.Errorf("rtsp push: %w", err)
	}
	defer c.Close()
	defer context.AfterFunc(ctx, c.Close)()
	epoch := time.Time{}
	live := false
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
		if !live && len(pkts) > 0 {
			live = true
			p.setLive()
		}
	}
}
