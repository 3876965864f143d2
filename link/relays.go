package link

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"time"

	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/rtmp"
	"github.com/relaycast/relaycast/rtsp"
	"github.com/relaycast/relaycast/srt"
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
	reserved *rtmp.Publisher
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
	p.st.notify = m.onChange
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
		return srt.Push(ctx, p.stream, p.target, p.setLive)
	case "rtsp", "rtsps":
		return rtsp.Push(ctx, p.stream, p.target, p.setLive, p.log)
	}
	return p.sendRTMP(ctx)
}

func (p *pusher) sendRTMP(ctx context.Context) error {
	pub, err := p.dialRTMP(ctx)
	if err != nil {
		return err
	}
	defer pub.Close()
	return pub.Send(ctx, p.stream, p.setLive)
}

// dialRTMP connects to the target, or to the first of an edge's origins that takes the
// publish; the connection an origin took when the edge asked it goes first.
func (p *pusher) dialRTMP(ctx context.Context) (*rtmp.Publisher, error) {
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
