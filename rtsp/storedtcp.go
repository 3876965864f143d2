package rtsp

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"

	"github.com/relaycast/relaycast/relay"
)

// A stored file's session over TCP leaves gortsplib at its first PLAY too, and its tcpViewer
// then plays the file itself: it reads the session's playback (one vod stream, moved by
// seeks) and packetizes each frame with the session's feed, straight into the viewer's own
// interleaved channels. No ServerStream, write queue or goroutine of gortsplib's stays, and
// no frame is held for anyone else: a stored viewer costs about what a live one does.

// storedPlay is what a tcpViewer of a stored file has of it.
type storedPlay struct {
	vs      *storedSession
	ctl     relay.Control
	lastPTS time.Duration // of the newest frame sent, on the playback's stream
	paused  bool
}

// detachStored gives the first playback of a TCP session (from the keyframe at from) to the
// tcpViewer that takes the session over once the PLAY response is out.
func (s *Server) detachStored(ctx *gortsplib.ServerHandlerOnPlayCtx, path string, vs *storedSession, chans []int,
	reader *relay.Reader, ctl relay.Control) *base.Response {
	from := ctl.Start()
	remote := ctx.Conn.NetConn().RemoteAddr().String()
	f := vs.f
	// The playback's stream starts at zero at from, and stays on the file's timeline after
	// seeks: RTP times are the file's.
	f.shift, f.epoch = from, time.Time{}
	f.epochNanos.Store(0)
	v := &tcpViewer{
		srv: s, path: path, remote: remote, channels: chans,
		tracks: f.tracks, epoch: &f.epochNanos, stream: reader.Stream(), reader: reader,
		log:  s.log.With("path", path, "remote", remote),
		wake: make(chan struct{}, 1), reqs: make(chan *base.Request), quit: make(chan struct{}),
		vod: &storedPlay{vs: vs, ctl: ctl},
	}
	v.counted.Store(reader)
	v.starts = v.vod.starts(v.channels, from)
	s.mu.Lock()
	connOf(ctx.Conn).detach = &detaching{v: v, f: f, ss: ctx.Session}
	s.enterPlaying(ctx, path)
	s.mu.Unlock()
	s.log.Info("viewer join", "path", path, "protocol", "rtsp", "transport", "TCP", "from", from, "remote", remote)
	return &base.Response{StatusCode: base.StatusOK, Header: base.Header{"Range": vs.rangeFrom(from)}}
}

// rangeFrom is a PLAY's answer's Range: from the keyframe at from, by the clock when the
// PLAY asked so.
func (vs *storedSession) rangeFrom(from time.Duration) base.HeaderValue {
	if vs.clock && !vs.zero.IsZero() {
		// to the millisecond, as ONVIF writes it (gortsplib's marshalling drops fractions)
		return base.HeaderValue{"clock=" + vs.zero.Add(from).UTC().Format("20060102T150405.000Z") + "-"}
	}
	rng := headers.Range{Value: &headers.RangeNPT{Start: from, End: &vs.duration}}
	return rng.Marshal()
}

// starts names the first packet of each media set up: the next sequence number, and the
// RTP time of the keyframe the playback goes on from.
func (p *storedPlay) starts(chans []int, from time.Duration) map[int]rtpStart {
	starts := map[int]rtpStart{}
	for i, t := range p.vs.f.tracks {
		if chans[i] >= 0 {
			starts[i] = rtpStart{seq: t.nextSeq, ts: t.timestamp(from)}
		}
	}
	return starts
}

// addStored packetizes one frame of the playback onto the viewer's channels and queues it
// for the next write; it reports the bytes queued.
func (v *tcpViewer) addStored(fr *relay.Frame) (int, error) {
	f := v.vod.vs.f
	if f.epoch.IsZero() { // the first frame after a PLAY: the clock of the sender reports
		f.epoch = time.Now().Add(-fr.PTS - f.shift)
		f.epochNanos.Store(f.epoch.UnixNano())
	}
	t, pkts, err := f.packetize(fr)
	if err != nil || t == nil {
		return 0, err
	}
	v.vod.lastPTS = max(v.vod.lastPTS, fr.PTS)
	ch := v.channels[t.index]
	if ch < 0 {
		return 0, nil
	}
	if v.hdrs == nil {
		v.hdrs = getPackets()
	}
	start := len(v.hdrs)
	if v.hdrs, err = interleave(v.hdrs, byte(ch), pkts); err != nil {
		return 0, err
	}
	v.bufs = append(v.bufs, v.hdrs[start:len(v.hdrs):len(v.hdrs)])
	return len(v.hdrs) - start, nil
}

// A stored viewer's packets are its own, written from a buffer taken for each write: kept
// per viewer, the buffer would stay as large as the opening burst (the half second a
// playback sends ahead), for every viewer.
var packetBufs = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledPackets = 512 << 10

func getPackets() []byte {
	b := packetBufs.Get().(*[]byte)
	return (*b)[:0]
}

// putPackets returns a written buffer to the pool; the viewer holds none until its next
// frame.
func putPackets(b []byte) []byte {
	if b != nil && cap(b) <= maxPooledPackets {
		packetBufs.Put(&b)
	}
	return nil
}

// pauseStored holds the playback where the player is: nothing more is sent, what was read
// ahead is dropped, and a PLAY without a range goes on from the keyframe before.
func (v *tcpViewer) pauseStored() {
	p := v.vod
	if p.paused {
		return
	}
	p.paused = true
	_ = p.ctl.Pause()
	for { // what the playback sent ahead, not sent to the player
		fr, err := v.reader.Poll()
		if fr == nil || err != nil {
			break
		}
	}
	p.vs.pos = p.vs.f.shift + p.lastPTS
}

// playStored answers a PLAY of a playing or paused session: it seeks the playback to the
// Range (or where it paused) and says where it starts, as the first PLAY's answer did.
func (v *tcpViewer) playStored(req *base.Request, res *base.Response) error {
	p := v.vod
	vs := p.vs
	if _, ok := req.Header["Range"]; !ok && !p.paused {
		return nil // already playing
	}
	if !p.paused {
		vs.pos = vs.f.shift + p.lastPTS
	}
	start, at, bad, err := vs.startOf(req, v.path)
	if bad == nil && !at.IsZero() {
		start, bad, err = vs.clockSeek(at, v.path)
	}
	if bad != nil {
		res.StatusCode = bad.StatusCode
		v.log.Info("rtsp play refused", "err", err)
		return nil
	}
	from, err := p.ctl.Seek(start)
	if err != nil {
		return fmt.Errorf("rtsp play %s: %w", v.path, err)
	}
	p.paused, p.lastPTS = false, from-vs.f.shift
	vs.f.epoch = time.Time{} // sender reports wait for the first frame from there
	vs.f.epochNanos.Store(0)
	res.Header["Range"] = vs.rangeFrom(from)
	res.Header["RTP-Info"] = v.rtpInfo(req, p.starts(v.channels, from))
	v.log.Info("viewer seek", "protocol", "rtsp", "to", start, "from", from)
	return nil
}

// rtpInfo is the RTP-Info of a PLAY the viewer answers: per media set up, its URL (the
// request's, with the media's trackID), the first sequence number and its RTP time.
func (v *tcpViewer) rtpInfo(req *base.Request, starts map[int]rtpStart) base.HeaderValue {
	var info headers.RTPInfo
	u := strings.TrimSuffix(req.URL.String(), "/")
	for i := range v.channels {
		st, ok := starts[i]
		if !ok {
			continue
		}
		info = append(info, &headers.RTPInfoEntry{URL: u + "/trackID=" + strconv.Itoa(i), SequenceNumber: &st.seq, Timestamp: &st.ts})
	}
	return info.Marshal()
}

// clockSeek is where a seek by wall-clock time goes in the playing window.
func (vs *storedSession) clockSeek(at time.Time, path string) (time.Duration, *base.Response, error) {
	vs.clock = true
	if vs.zero.IsZero() {
		return 0, &base.Response{StatusCode: base.StatusNotImplemented}, fmt.Errorf("rtsp play %s: %w", path, errNoClock)
	}
	start := max(0, at.Sub(vs.zero))
	if start >= vs.duration {
		return 0, &base.Response{StatusCode: base.StatusInvalidRange}, fmt.Errorf("rtsp play %s: nothing at %v", path, at)
	}
	return start, nil, nil
}
