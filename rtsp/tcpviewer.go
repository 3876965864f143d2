package rtsp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/conn"

	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/session"
)

// A session that plays over TCP leaves gortsplib once its PLAY is answered (peerConn's
// hand-over): gortsplib would keep a write queue, a read buffer and five goroutines for it,
// though after PLAY it only writes packets and answers keep-alives. A tcpViewer does that
// with a relay reader of the feed's interleaved stream, a small read buffer and two
// goroutines: one writes, one reads what the player sends.

const (
	// maxBatch bounds the bytes of one write: the GOP a joining viewer is sent goes out in
	// writes of this size.
	maxBatch = 256 << 10
	// primeFrames bounds how far ahead of its first packet a viewer looks to find the first
	// packet of every media for RTP-Info.
	primeFrames = 64
	// inputBuffer holds one request line or header of what a player sends after PLAY
	// (keep-alives, TEARDOWN): gortsplib's parser needs a line to fit in it.
	inputBuffer = 2 << 10
)

// serverName goes in the Server header of the answers a viewer sends itself.
const serverName = "relaycast"

var errTeardown = fmt.Errorf("teardown: %w", session.ErrLeft)

// tcpViewer is one RTSP session over TCP after its PLAY.
type tcpViewer struct {
	srv      *Server
	path     string
	remote   string
	session  string        // the Session header of the PLAY response, for what follows
	channels []int         // interleaved RTP channel of each media of the feed; -1: not set up
	identity bool          // channels are the feed's own: frames go out as they are
	tracks   []*track      // the feed's, by media: clocks and SSRCs
	epoch    *atomic.Int64 // the feed's, for sender reports
	shift    *atomic.Int64 // the feed's outShift
	stream   *relay.Stream // the feed's interleaved stream; a stored file's playback
	vod      *storedPlay   // a stored file's session (storedtcp.go); nil for a live one
	log      *slog.Logger

	conn    net.Conn
	reader  *relay.Reader // nil while paused
	pending []*relay.Frame
	starts  map[int]rtpStart // first packet of each media, for RTP-Info
	wake    chan struct{}
	reqs    chan *base.Request
	quit    chan struct{}
	once    sync.Once
	reason  error
	sess    *session.Session
	counted atomic.Pointer[relay.Reader] // the reader whose drops the book reads; kept after it closes

	bufs       net.Buffers // scratch of one write
	out        net.Buffers // what WriteTo consumes: a field, so that it does not escape per write
	hdrs       []byte      // framing rewritten for this viewer
	deadline   time.Time
	nextReport time.Time
}

// newTCPViewer makes the viewer of a session about to play: its reader starts at the
// stream's latest keyframe now, and the frames up to the first packet of every media are
// taken already, so the PLAY response can name them (RTP-Info).
func (s *Server) newTCPViewer(f *feed, path, remote string, channels []int) *tcpViewer {
	v := &tcpViewer{
		srv: s, path: path, remote: remote, channels: channels, identity: true,
		stream: f.out.Stream(), log: s.log.With("path", path, "remote", remote),
		wake: make(chan struct{}, 1), reqs: make(chan *base.Request), quit: make(chan struct{}),
	}
	for i := range f.tracks {
		v.identity = v.identity && channels[i] == 2*i
	}
	v.tracks, v.epoch, v.shift = f.tracks, &f.epochNanos, &f.outShift
	v.play()
	return v
}

// play starts reading at the latest keyframe and finds where each media starts: the
// sequence number of its first packet, and the RTP time of one instant, the first frame's,
// on every media (every media's RTP time is base + PTS × rate).
func (v *tcpViewer) play() {
	v.reader = v.stream.NewReader()
	v.counted.Store(v.reader)
	v.starts = map[int]rtpStart{}
	var at time.Duration // source stream time of the first frame
	for len(v.pending) < primeFrames && len(v.starts) < v.setUp() {
		fr, err := v.reader.Poll()
		if fr == nil || err != nil {
			break
		}
		if len(v.pending) == 0 {
			at = fr.PTS + time.Duration(v.shift.Load())
		}
		v.pending = append(v.pending, fr)
		for ch, pkt, rest, ok := nextPacket(fr.Payload); ok; ch, pkt, rest, ok = nextPacket(rest) {
			m := int(ch / 2)
			if m >= len(v.channels) || ch%2 != 0 || v.channels[m] < 0 || len(pkt) < 12 {
				continue
			}
			if _, seen := v.starts[m]; seen {
				continue
			}
			v.starts[m] = rtpStart{seq: binary.BigEndian.Uint16(pkt[2:]), ts: v.tracks[m].timestamp(at)}
		}
	}
	if len(v.pending) == 0 {
		return
	}
	for m, ch := range v.channels { // a media whose first packet is not in the stream yet
		if _, ok := v.starts[m]; !ok && ch >= 0 {
			v.starts[m] = rtpStart{ts: v.tracks[m].timestamp(at), noSeq: true}
		}
	}
}

func (v *tcpViewer) setUp() int {
	n := 0
	for _, c := range v.channels {
		if c >= 0 {
			n++
		}
	}
	return n
}

// adopt takes over the session's entry in the book from gortsplib, which served it until
// now and whose counts it keeps.
func (v *tcpViewer) adopt(sess *session.Session, before session.Counts) {
	v.sess = sess
	sess.CountFrom(func() session.Counts {
		c := before
		if r := v.counted.Load(); r != nil {
			c.Dropped += r.Dropped()
		}
		return c
	})
	sess.OnKick(func() { v.stop(session.ErrKicked) })
}

// start takes over the connection, whose PLAY response has just been written.
func (v *tcpViewer) start(c net.Conn) {
	v.conn = c
	s := v.srv
	s.mu.Lock()
	select {
	case <-s.closed:
		s.mu.Unlock()
		v.drop()
		_ = c.Close()
		v.sess.Close(nil)
		return
	default:
	}
	s.tcpViewers[v] = struct{}{}
	s.workers.Add(2)
	s.mu.Unlock()
	go func() {
		defer s.workers.Done()
		v.listen()
	}()
	go func() {
		defer s.workers.Done()
		v.run()
	}()
}

// drop lets go of what a viewer reads: when it ends, or if it never started.
func (v *tcpViewer) drop() {
	if v.reader != nil {
		v.reader.Close()
	}
	if v.vod != nil {
		v.vod.ctl.Close()
	}
	v.pending = nil
}

// stop ends the viewer; the writer closes the connection.
func (v *tcpViewer) stop(err error) {
	v.once.Do(func() {
		v.reason = err
		close(v.quit)
	})
}

// run writes until the stream ends, the player leaves or the server closes.
func (v *tcpViewer) run() {
	unsubscribe := v.stream.Subscribe(v.wake)
	defer v.finish()
	defer unsubscribe()
	for {
		err := v.send()
		if err == nil {
			err = v.report(time.Now())
		}
		if errors.Is(err, relay.ErrEnded) {
			v.goodbye()
		}
		if err != nil {
			v.stop(err)
			return
		}
		select {
		case <-v.wake:
		case req := <-v.reqs:
			if err := v.answer(req); err != nil {
				v.stop(err)
				return
			}
		case <-v.quit:
			return
		}
	}
}

func (v *tcpViewer) finish() {
	_ = v.conn.Close()
	var dropped uint64
	if v.reader != nil {
		dropped = v.reader.Dropped()
	}
	v.drop()
	s := v.srv
	s.mu.Lock()
	delete(s.tcpViewers, v)
	s.mu.Unlock()
	v.sess.Close(v.reason)
	v.log.Info("viewer leave", "protocol", "rtsp", "transport", "TCP", "dropped_frames", dropped, "reason", session.Reason(v.reason))
}

// send writes what the viewer lacks, in writes of up to maxBatch bytes.
func (v *tcpViewer) send() error {
	if v.reader == nil { // paused
		select {
		case <-v.stream.Done():
			return relay.ErrEnded
		default:
			return nil
		}
	}
	for {
		size := 0
		for size < maxBatch {
			fr, err := v.next()
			if err != nil {
				if size > 0 { // what is gathered goes out before the end
					if werr := v.write(); werr != nil {
						return werr
					}
				}
				return err
			}
			if fr == nil {
				break
			}
			n, err := v.queue(fr)
			if err != nil {
				return err
			}
			size += n
		}
		if size == 0 {
			return nil
		}
		if err := v.write(); err != nil {
			return err
		}
	}
}

func (v *tcpViewer) next() (*relay.Frame, error) {
	if len(v.pending) > 0 {
		fr := v.pending[0]
		v.pending[0] = nil
		v.pending = v.pending[1:]
		return fr, nil
	}
	fr, err := v.reader.Poll()
	if err != nil {
		return nil, fmt.Errorf("rtsp play %s: %w", v.path, err)
	}
	return fr, nil
}

// queue queues one frame for the next write and reports its size.
func (v *tcpViewer) queue(fr *relay.Frame) (int, error) {
	if v.vod != nil {
		return v.addStored(fr)
	}
	return v.add(fr), nil
}

// add queues one frame of the feed's interleaved stream for the next write and reports its
// size. A viewer on the feed's
// channels writes the frame's bytes themselves; any other gets its own framing in front of
// the same packets, and none of a media it did not set up.
func (v *tcpViewer) add(fr *relay.Frame) int {
	if v.identity {
		v.bufs = append(v.bufs, fr.Payload)
		return len(fr.Payload)
	}
	n, run, at := 0, 0, 0 // run: start of packets that go out as they are; at: of the next
	b := fr.Payload
	for ch, pkt, rest, ok := nextPacket(b); ok; ch, pkt, rest, ok = nextPacket(rest) {
		next := len(b) - len(rest)
		m := int(ch / 2)
		if m < len(v.channels) && v.channels[m] == 2*m {
			at = next
			continue
		}
		if at > run {
			v.bufs = append(v.bufs, b[run:at])
			n += at - run
		}
		run, at = next, next
		if m >= len(v.channels) || v.channels[m] < 0 {
			continue
		}
		h := len(v.hdrs)
		v.hdrs = append(v.hdrs, '$', byte(v.channels[m]+int(ch%2)), byte(len(pkt)>>8), byte(len(pkt)))
		v.bufs = append(v.bufs, v.hdrs[h:h+interleavedHeader:h+interleavedHeader], pkt)
		n += interleavedHeader + len(pkt)
	}
	if at > run {
		v.bufs = append(v.bufs, b[run:at])
		n += at - run
	}
	return n
}

// write sends what add queued, under the write timeout.
func (v *tcpViewer) write() error {
	if err := v.moveDeadline(); err != nil {
		return err
	}
	v.out = v.bufs
	n, err := v.out.WriteTo(v.conn)
	v.sess.AddOut(int(n))
	clear(v.bufs) // hold no frame
	v.bufs, v.hdrs = v.bufs[:0], v.hdrs[:0]
	if v.vod != nil {
		v.hdrs = putPackets(v.hdrs)
	}
	if err != nil {
		return fmt.Errorf("rtsp play %s: %w", v.path, err)
	}
	return nil
}

// moveDeadline pushes the write deadline forward at most once a second: the runtime's timer
// update costs about as much as a write.
func (v *tcpViewer) moveDeadline() error {
	now := time.Now()
	if now.Sub(v.deadline) < time.Second {
		return nil
	}
	v.deadline = now
	return v.conn.SetWriteDeadline(now.Add(v.srv.cfg.WriteTimeout))
}

// report sends every media the viewer set up an RTCP sender report, firstReport after it
// started and every reportEvery after that. Each viewer sends its own, when it has sent
// packets of every media: gstreamer's rtspsrc, sent a report before any RTP of its source,
// at times fails to link its pads (seen under load). The counts of packets and bytes are
// left zero; what players take from a report is its NTP and RTP times, from the feed's
// clock: RTP time = base + (wall clock − epoch) × rate.
func (v *tcpViewer) report(now time.Time) error {
	if v.nextReport.IsZero() {
		v.nextReport = now.Add(firstReport)
	}
	epoch := v.epoch.Load()
	if v.reader == nil || v.vod != nil && v.vod.paused || now.Before(v.nextReport) || epoch == 0 {
		return nil
	}
	v.nextReport = now.Add(reportEvery)
	zero := time.Unix(0, epoch)
	var b []byte
	for m, ch := range v.channels {
		if ch < 0 {
			continue
		}
		var err error
		if b, err = interleaveRTCP(b, byte(ch+1), v.tracks[m].senderReport(zero, now.Sub(zero))); err != nil {
			return err
		}
	}
	v.bufs = append(v.bufs, b)
	return v.write()
}

const (
	firstReport = time.Second
	reportEvery = 5 * time.Second
)

// goodbye tells the player the stream is over (RTCP BYE on every media it set up).
func (v *tcpViewer) goodbye() {
	var b []byte
	for m, ch := range v.channels {
		if ch >= 0 {
			b, _ = interleaveRTCP(b, byte(ch+1), goodbye(v.tracks[m].ssrc))
		}
	}
	if len(b) > 0 {
		v.bufs = append(v.bufs, b)
		_ = v.write()
	}
}

// listen reads what the player sends: requests go to the writer, which answers them; RTCP
// receiver reports are read and let go. It ends the viewer when the player hangs up or
// stays silent past the idle timeout.
func (v *tcpViewer) listen() {
	in := conn.NewConn(bufio.NewReaderSize(v.conn, inputBuffer), nil)
	for {
		_ = v.conn.SetReadDeadline(time.Now().Add(v.srv.cfg.IdleTimeout))
		what, err := in.Read()
		if err != nil {
			v.stop(err)
			return
		}
		switch what := what.(type) {
		case *base.Request:
			select {
			case v.reqs <- what:
			case <-v.quit:
				return
			}
		case *base.Response:
			v.stop(fmt.Errorf("rtsp %s: unexpected response from the player", v.path))
			return
		}
	}
}

// answer replies to a request the player sent while playing.
func (v *tcpViewer) answer(req *base.Request) error {
	res := &base.Response{StatusCode: base.StatusOK, Header: base.Header{
		"CSeq":    req.Header["CSeq"],
		"Session": base.HeaderValue{v.session},
		"Server":  base.HeaderValue{serverName},
	}}
	var end error
	switch req.Method {
	case base.Options:
		res.Header["Public"] = base.HeaderValue{"DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER, OPTIONS"}
	case base.GetParameter, base.SetParameter:
	case base.Teardown:
		end = errTeardown
	case base.Pause:
		if v.vod != nil {
			v.pauseStored()
		} else {
			v.pause()
		}
	case base.Play:
		if v.vod != nil {
			if err := v.playStored(req, res); err != nil {
				return err
			}
		} else if v.reader == nil {
			v.play()
		}
	default:
		res.StatusCode = base.StatusMethodNotValidInThisState
	}
	b, err := res.Marshal()
	if err != nil {
		return fmt.Errorf("rtsp %s: %w", v.path, err)
	}
	v.bufs = append(v.bufs, b)
	if err := v.write(); err != nil {
		return err
	}
	return end
}

// pause stops sending; PLAY starts again at the latest keyframe.
func (v *tcpViewer) pause() {
	if v.reader != nil {
		v.reader.Close()
		v.sess.AddDropped(v.reader.Dropped())
		v.counted.Store(nil)
		v.reader = nil
	}
	clear(v.pending)
	v.pending = v.pending[:0]
}
