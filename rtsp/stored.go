package rtsp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"

	"github.com/relaycast/relaycast/relay"
)

// maxDescribed bounds the SDP-only streams kept for DESCRIBE of stored files.
const maxDescribed = 64

// storedName returns the media name of a vod/NAME path.
func storedName(path string) (string, bool) { return strings.CutPrefix(path, relay.StoredPrefix) }

// replayed is the path a request is about: a live path's DVR window (vod/dvr/APP/NAME) when
// it asks for ONVIF replay (Require: onvif-replay), as ONVIF Profile G clients do on every
// request to play recordings by wall-clock time (Range: clock=); the path otherwise.
func replayed(path string, req *base.Request) string {
	if _, stored := storedName(path); stored || !slices.Contains(req.Header["Require"], "onvif-replay") {
		return path
	}
	return relay.StoredPrefix + relay.WindowPrefix + path
}

// storedSession is one RTSP session of a stored file: a feed of its own (packetizers and a
// ServerStream) that each PLAY feeds from a new playback at the asked position, PAUSE stops,
// and a PLAY without a range resumes where PAUSE left off.
type storedSession struct {
	name     string
	f        *feed
	duration time.Duration
	pos      time.Duration // where a PLAY without Range starts
	stop     func()        // ends the current playback and waits for it; nil: none
	// zero is the wall-clock time of the playback's time zero, for a DVR window (which opens
	// anew, and moves, with each PLAY that is not a seek); clock, that the last PLAY asked by
	// wall-clock time, and is answered so.
	zero  time.Time
	clock bool
}

// describeStored returns an SDP-only stream of a stored file (DESCRIBE): each session gets
// its own at SETUP, with the same medias in the same order.
func (s *Server) describeStored(sc *gortsplib.ServerConn, name string) (*gortsplib.ServerStream, error) {
	if s.cfg.Stored == nil {
		return nil, relay.ErrNotFound
	}
	tracks, duration, err := s.cfg.Stored.Describe(name)
	if err != nil {
		return nil, err
	}
	c := connOf(sc)
	s.mu.Lock()
	defer s.mu.Unlock()
	c.describing, c.length = true, duration
	if st, ok := s.described[name]; ok {
		return st, nil
	}
	f, err := newFeed(s.lib, nil, relay.StoredPrefix+name, tracks, 0, 0, s.log)
	if err != nil {
		return nil, err
	}
	if len(s.described) >= maxDescribed {
		for n, st := range s.described { // no session uses them: any may go
			st.Close()
			delete(s.described, n)
			break
		}
	}
	s.described[name] = f.stream
	return f.stream, nil
}

// setupStored returns the stream of a session of a stored file, made at its first SETUP.
func (s *Server) setupStored(ss *gortsplib.ServerSession, name string) (*gortsplib.ServerStream, error) {
	st := stateOf(ss)
	s.mu.Lock()
	vs := st.stored
	s.mu.Unlock()
	if vs != nil {
		if vs.name != name {
			return nil, fmt.Errorf("rtsp setup vod/%s: the session plays vod/%s", name, vs.name)
		}
		return vs.f.stream, nil
	}
	if s.cfg.Stored == nil {
		return nil, relay.ErrNotFound
	}
	tracks, duration, err := s.cfg.Stored.Describe(name)
	if err != nil {
		return nil, err
	}
	f, err := newFeed(s.lib, nil, relay.StoredPrefix+name, tracks, 0, 0, s.log.With("path", relay.StoredPrefix+name))
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	st.stored = &storedSession{name: name, f: f, duration: duration}
	s.mu.Unlock()
	return f.stream, nil
}

// playStored starts a playback of the session's file at the PLAY's Range (or where PAUSE
// left it) and answers with where it starts: Range from that keyframe, and RTP-Info with the
// sequence number of the first packet and the RTP time of that instant on every media, so a
// player places what follows, after a seek too.
func (s *Server) playStored(ctx *gortsplib.ServerHandlerOnPlayCtx, path string) (*base.Response, error) {
	s.mu.Lock()
	vs := stateOf(ctx.Session).stored
	s.mu.Unlock()
	if vs == nil {
		return &base.Response{StatusCode: base.StatusSessionNotFound}, fmt.Errorf("rtsp play %s: not set up", path)
	}
	start, at, res, err := vs.startOf(ctx.Request, path)
	if res != nil {
		return res, err
	}
	vs.halt()
	reader, ctl, err := s.openStored(vs, start, at)
	if err != nil {
		return &base.Response{StatusCode: statusFor(err)}, fmt.Errorf("rtsp play %s: %w", path, err)
	}
	from := ctl.Start()
	if ctx.Session.State() != gortsplib.ServerSessionStatePlay {
		if chans := s.tcpChannels(ctx.Conn, ctx.Session, vs.f); chans != nil {
			return s.detachStored(ctx, path, vs, chans, reader, ctl), nil
		}
	}
	f := vs.f
	f.shift, f.epoch = from, time.Time{}
	starts := map[*description.Media]rtpStart{}
	for _, t := range f.tracks {
		starts[t.media] = rtpStart{seq: t.nextSeq, ts: t.timestamp(from)}
	}
	f.mu.Lock()
	f.hold() // until the response is on its way (OnResponse): the session is live only then
	f.mu.Unlock()
	s.mu.Lock()
	connOf(ctx.Conn).join = &joining{f: f, t: &ticket{starts: starts}}
	s.enterPlaying(ctx, path)
	s.mu.Unlock()
	pctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer reader.Close()
		f.play(pctx, reader)
	}()
	vs.stop = func() {
		cancel()
		ctl.Close()
		<-done
		vs.pos = f.shift + f.lastPTS
	}
	s.log.Info("viewer join", "path", path, "protocol", "rtsp", "transport", transportName(ctx.Session),
		"from", from, "remote", ctx.Conn.NetConn().RemoteAddr().String())
	return &base.Response{StatusCode: base.StatusOK, Header: base.Header{"Range": vs.rangeFrom(from)}}, nil
}

// openStored opens the session's media from start, or by wall-clock time from at when that
// is set, and notes the playback's wall clock.
func (s *Server) openStored(vs *storedSession, start time.Duration, at time.Time) (*relay.Reader, relay.Control, error) {
	vs.clock = !at.IsZero()
	if !vs.clock {
		reader, ctl, err := s.cfg.Stored.Open(vs.name, start)
		if z, ok := ctl.(interface{ Zero() time.Time }); ok && err == nil {
			vs.zero = z.Zero()
		}
		return reader, ctl, err
	}
	clocked, ok := s.cfg.Stored.(relay.ClockedMedia)
	if !ok {
		return nil, nil, errNoClock
	}
	reader, ctl, zero, err := clocked.OpenAt(vs.name, at)
	vs.zero = zero
	return reader, ctl, err
}

var errNoClock = fmt.Errorf("%w: only a DVR window plays by wall-clock time (Range: clock=)", relay.ErrNoTime)

// startOf is where a PLAY of the session starts: its npt Range, its clock Range (at), or
// where PAUSE left off. A range it cannot play gets an answer (res) saying why.
func (vs *storedSession) startOf(req *base.Request, path string) (start time.Duration, at time.Time, res *base.Response, err error) {
	start = vs.pos
	if v, ok := req.Header["Range"]; ok {
		var rng headers.Range
		if err := rng.Unmarshal(v); err != nil {
			return 0, at, &base.Response{StatusCode: base.StatusBadRequest}, fmt.Errorf("rtsp play %s: %w", path, err)
		}
		switch r := rng.Value.(type) {
		case *headers.RangeNPT:
			start = r.Start
		case *headers.RangeUTC:
			return 0, r.Start, nil, nil
		default:
			return 0, at, &base.Response{StatusCode: base.StatusNotImplemented}, fmt.Errorf("rtsp play %s: only npt and clock ranges", path)
		}
	}
	if start < 0 || start >= vs.duration {
		return 0, at, &base.Response{StatusCode: base.StatusInvalidRange}, fmt.Errorf("rtsp play %s: %v is outside 0-%v", path, start, vs.duration)
	}
	return start, at, nil, nil
}

// halt ends the current playback, if any.
func (vs *storedSession) halt() {
	if vs.stop != nil {
		vs.stop()
		vs.stop = nil
	}
}

// play writes one playback's frames to the session; at the end of the file it says goodbye
// (RTCP BYE), which players take for the end.
func (f *feed) play(ctx context.Context, r *relay.Reader) {
	f.lastPTS = 0
	for {
		fr, err := r.Next(ctx)
		if err != nil {
			if errors.Is(err, relay.ErrEnded) {
				f.goodbye()
			}
			return
		}
		if err := f.write(ctx, fr); err != nil {
			if ctx.Err() == nil {
				f.log.Warn("rtsp: frame not sent", "err", err)
			}
			return
		}
		f.lastPTS = max(f.lastPTS, fr.PTS)
	}
}

// OnPause implements gortsplib.ServerHandlerOnPause: a stored file's playback stops where
// it is. A live stream is not paused through gortsplib (501), and its OPTIONS answer does not
// offer PAUSE (livePublic), as before there was a handler: gstreamer pauses a session that
// offers it as it shuts down, and gortsplib stops the session's writer before it answers,
// which on a loaded machine outlasts gstreamer's wait ("PAUSE interrupted"). Over TCP a live
// session's own viewer answers PAUSE.
func (s *Server) OnPause(ctx *gortsplib.ServerHandlerOnPauseCtx) (*base.Response, error) {
	s.mu.Lock()
	vs := stateOf(ctx.Session).stored
	s.mu.Unlock()
	if vs == nil {
		return &base.Response{StatusCode: base.StatusNotImplemented}, nil
	}
	vs.halt()
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// closeStored ends a stored file's session: its playback and its stream.
func (s *Server) closeStored(ss *gortsplib.ServerSession) {
	st := stateOf(ss)
	s.mu.Lock()
	vs := st.stored
	st.stored = nil
	s.mu.Unlock()
	if vs != nil {
		vs.halt()
		vs.f.stream.Close()
	}
}

// addRange puts the file's length into the SDP of a DESCRIBE of a stored file
// (a=range:npt=0-D), so players know its duration and may seek.
func addRange(res *base.Response, d time.Duration) {
	body := string(res.Body)
	i := strings.Index(body, "m=")
	if i < 0 {
		return
	}
	res.Body = []byte(body[:i] + fmt.Sprintf("a=range:npt=0-%.3f\r\n", d.Seconds()) + body[i:])
	res.Header["Content-Length"] = base.HeaderValue{fmt.Sprint(len(res.Body))}
}

// OnRequest implements gortsplib.ServerHandlerOnRequest: it notes an OPTIONS of a live path,
// whose answer then does not offer PAUSE (see OnPause).
func (s *Server) OnRequest(sc *gortsplib.ServerConn, req *base.Request) {
	if req.Method != base.Options || req.URL == nil {
		return
	}
	if _, stored := storedName(relayPath(req.URL.Path)); !stored {
		s.mu.Lock()
		connOf(sc).liveOptions = true
		s.mu.Unlock()
	}
}

// livePublic takes PAUSE out of an OPTIONS answer's Public header.
func livePublic(res *base.Response) {
	v, ok := res.Header["Public"]
	if !ok || len(v) == 0 {
		return
	}
	var kept []string
	for _, m := range strings.Split(v[0], ",") {
		if strings.TrimSpace(m) != string(base.Pause) {
			kept = append(kept, strings.TrimSpace(m))
		}
	}
	res.Header["Public"] = base.HeaderValue{strings.Join(kept, ", ")}
}
