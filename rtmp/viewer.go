package rtmp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/format"
	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/session"
)

// maxBatch bounds how many bytes a viewer gathers into one write when it is behind (joining
// on the GOP cache, or after a stall).
const maxBatch = 256 << 10

// holdAudio is how long audio may wait for the next video frame to share its write. A player
// that gets audio and video in one write costs one syscall instead of two or three; audio
// frames come every ~21 ms and video every ~33 ms, so audio waits less than a video frame.
const holdAudio = 50 * time.Millisecond

// viewer is one RTMP player after go-rtmp has let go of its connection: the shard that owns
// it writes its media and, on its tick, reads (and checks) the little a player sends and
// notices when it hangs up; while the socket is full, a short-lived goroutine finishes the
// write so the shard can go on with the others.
type viewer struct {
	c   *conn
	raw syscall.RawConn // nil if the connection is not a socket (or on a system without
	// non-blocking socket calls here): every write then blocks on a goroutine of its own, and
	// a goroutine reads the player's input
	log      *slog.Logger
	stream   *relay.Stream
	reader   *relay.Reader
	streamID uint32
	vod      *stored // a stored file's, nil for a live stream
	sess     *session.Viewer
	// codecs has bit c set for each codec c the player gets: H.264 and AAC, and those of
	// format.FLVEnhanced it announced (fourCcList).
	codecs uint32

	// Owned by the shard, or by the goroutine finishing a write while busy is set.
	ch                   *chunker
	sentVideo, sentAudio *relay.Track
	sentPreface          bool
	// inband is the parameter sets of inbandOf (length-prefixed, like the frames' NAL units),
	// sent in front of its keyframes: the video's configuration changed while the player
	// played (a publisher took over, the offline slate), and ffmpeg's H.264 parser, unlike its
	// decoder, keeps the first sequence header's. prefix is where a frame's goes together.
	inbandOf         *relay.Track
	inband           []byte
	prefix           []byte
	heldVideo        bool // a video frame is pending: write now
	heldAudio        bool // audio is pending, from heldFrom to heldTo (DTS)
	heldFrom, heldTo time.Duration
	endAt            time.Time // once the end was sent: when to hang up on the player
	coalescing       bool      // Nagle is on
	busy             atomic.Bool
	dead             atomic.Bool // the player hung up or broke something: drop it

	errMu sync.Mutex
	err   error // why the viewer is done; set once
}

func newViewer(c *conn, reader *relay.Reader, vod *stored, streamID uint32, chunkSize int, log *slog.Logger) *viewer {
	v := &viewer{c: c, log: log, stream: reader.Stream(), reader: reader, vod: vod, streamID: streamID,
		ch: newChunker(chunkSize), codecs: legacyCodecs}
	if c.tcp != nil && nonBlocking {
		v.raw, _ = c.tcp.SyscallConn()
	}
	c.guard.onCommand = v.command
	return v
}

// open enters the viewer in the book of sessions, where the control API may end it.
func (v *viewer) open(t *session.Table) {
	v.sess = t.Join(v.log, session.Info{Protocol: "rtmp", Path: v.path(), Remote: v.c.RemoteAddr().String()},
		v.reader.Dropped, func() { v.fail(session.ErrKicked) })
}

// fail records why the viewer is done (the first reason wins) and closes its socket, which
// ends its input goroutine and any write in progress.
func (v *viewer) fail(err error) {
	v.record(err)
	v.dead.Store(true)
	_ = v.c.Conn.Close()
}

// record notes why the viewer is done, unless it has a reason already.
func (v *viewer) record(err error) {
	v.errMu.Lock()
	defer v.errMu.Unlock()
	if v.err == nil {
		v.err = err
	}
}

func (v *viewer) failed() error {
	v.errMu.Lock()
	defer v.errMu.Unlock()
	return v.err
}

// command hears the commands a player sends after play: deleteStream or closeStream means it
// is done with the stream (whoever reads its input then sees it dead); a stored file's
// player may seek and pause.
func (v *viewer) command(name string, body []byte) {
	switch {
	case name == "deleteStream" || name == "closeStream":
		v.fail(session.ErrLeft)
	case v.vod != nil:
		v.vod.hear(name, body)
	}
}

// heard checks bytes the player sent after play (acknowledgements, buffer length, a closing
// deleteStream) with the guard, and fails the viewer on a read error or a broken limit.
// It reports whether the viewer is still fine.
func (v *viewer) heard(p []byte, err error) bool {
	v.sess.AddIn(len(p))
	if len(p) > 0 {
		if gerr := v.c.guard.feed(p); gerr != nil {
			v.c.onViolation(gerr)
			err = gerr
		}
	}
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) {
			err = session.ErrLeft
		}
		v.fail(err)
		return false
	}
	return true
}

// readInput reads a player's input on a goroutine of its own, for connections the shard
// cannot read without waiting, until the player hangs up or breaks a limit.
func (v *viewer) readInput(kick func()) {
	buf := make([]byte, 512)
	for {
		n, err := v.c.Conn.Read(buf)
		if !v.heard(buf[:n], err) {
			kick()
			return
		}
	}
}

// due reports whether the pending messages should go out now rather than wait for more.
func (v *viewer) due() bool {
	return v.heldVideo || v.sentVideo == nil || v.heldTo-v.heldFrom >= holdAudio
}

// sent forgets the pending messages once they are written.
func (v *viewer) sent() {
	v.ch.reset()
	v.heldVideo, v.heldAudio = false, false
}

// finishWrite writes what the socket did not take at once, blocking up to the write timeout.
// It runs on its own goroutine while busy is set.
func (v *viewer) finishWrite(bufs net.Buffers, timeout time.Duration, done func()) {
	defer done()
	var w io.Writer = v.c.Conn
	if v.c.tcp != nil {
		w = v.c.tcp // writev
	}
	_ = v.c.Conn.SetWriteDeadline(time.Now().Add(timeout))
	n, err := bufs.WriteTo(w)
	v.sess.AddOut(int(n))
	_ = v.c.Conn.SetWriteDeadline(time.Time{})
	v.sent()
	if err != nil {
		v.fail(fmt.Errorf("rtmp play %s: %w", v.path(), err))
	}
	v.busy.Store(false)
}

// addFrame queues f, preceded by the metadata and any codec config the player lacks.
func (v *viewer) addFrame(f *relay.Frame) {
	ts := rtmpTime(f.DTS + v.base())
	if !v.sentPreface {
		v.sentPreface = true
		if meta := v.metadata(); meta != nil {
			// At time zero: ffmpeg takes onMetaData at any other time for a data track.
			v.ch.add(csidCommand, typeDataAMF0, v.streamID, 0, nil, meta)
		}
		for _, t := range v.stream.Tracks() {
			v.addConfig(t, ts)
		}
	}
	v.addConfig(f.Track, ts)
	if !v.gets(f.Track.Codec) {
		return
	}
	var prefix [8]byte
	h, ok := format.FLVFrameHeader(prefix[:0], f)
	if !ok {
		return
	}
	if f.Track.Codec.IsVideo() {
		if f.Key && f.Track == v.inbandOf {
			v.prefix = append(append(v.prefix[:0], h...), v.inband...)
			h = v.prefix
		}
		v.ch.add(csidVideo, typeVideo, v.streamID, ts, h, f.Payload)
		v.heldVideo = true
		return
	}
	v.ch.add(csidAudio, typeAudio, v.streamID, ts, h, f.Payload)
	if !v.heldAudio {
		v.heldAudio, v.heldFrom = true, f.DTS
	}
	v.heldTo = f.DTS
}

// gets says whether the player is sent frames of c.
func (v *viewer) gets(c relay.Codec) bool { return v.codecs&(1<<c) != 0 }

// legacyCodecs are what every RTMP player gets.
const legacyCodecs = 1<<relay.CodecH264 | 1<<relay.CodecAAC

// path is what the player asked for: the live path, or vod/NAME (whose stream is the
// viewer's own, named otherwise).
func (v *viewer) path() string {
	if v.vod != nil {
		return relay.StoredPrefix + v.vod.name
	}
	return v.stream.Path()
}

// base is the time of the stream's zero on the timeline the player is shown: a stored
// file's own, so a player's clock and seek bar show where in the file it is.
func (v *viewer) base() time.Duration {
	if v.vod != nil {
		return v.vod.ctl.Start()
	}
	return 0
}

func (v *viewer) metadata() []byte {
	if v.vod != nil {
		return v.vod.meta
	}
	return v.stream.Metadata()
}

// addConfig queues t's sequence header unless the player has it already (or does not get
// t's frames).
func (v *viewer) addConfig(t *relay.Track, ts uint32) {
	sent := &v.sentAudio
	if t.Codec.IsVideo() {
		sent = &v.sentVideo
	}
	if *sent == t || !v.gets(t.Codec) {
		return
	}
	h, ok := format.FLVConfigHeader(t)
	if !ok {
		return
	}
	if *sent != nil && t.Codec.IsVideo() {
		v.inbandOf, v.inband = t, inbandParams(t)
	}
	*sent = t
	if t.Codec.IsVideo() {
		v.ch.add(csidVideo, typeVideo, v.streamID, ts, h, t.Config)
	} else {
		v.ch.add(csidAudio, typeAudio, v.streamID, ts, h, t.Config)
	}
}

// addEnd queues the news that the stream is over: NetStream.Play.UnpublishNotify, then the
// StreamEOF user control event.
func (v *viewer) addEnd() {
	v.ch.add(csidCommand, typeCommandAMF0, v.streamID, 0, nil,
		statusPlayUnpublished.with(v.path()+" is no longer published").command())
	var eof [6]byte
	binary.BigEndian.PutUint16(eof[0:], 1) // StreamEOF
	binary.BigEndian.PutUint32(eof[2:], v.streamID)
	v.ch.add(csidCommand, typeUserControl, 0, 0, nil, eof[:])
	v.heldVideo = true
}

// rtmpTime is a stream time in RTMP's 32-bit milliseconds, which wrap.
func rtmpTime(d time.Duration) uint32 {
	if d < 0 {
		return 0
	}
	return uint32(int64(d / time.Millisecond))
}

// inbandParams is t's parameter sets as NAL units of its frames (length-prefixed), or nil
// for a codec without them.
func inbandParams(t *relay.Track) []byte {
	if t.Codec != relay.CodecH264 && t.Codec != relay.CodecH265 {
		return nil
	}
	c, err := codec.ParseNALConfig(t)
	if err != nil {
		return nil
	}
	var b []byte
	for _, p := range c.Params() {
		n := len(p)
		for i := c.LengthSize() - 1; i >= 0; i-- {
			b = append(b, byte(n>>(8*i)))
		}
		b = append(b, p...)
	}
	return b
}
