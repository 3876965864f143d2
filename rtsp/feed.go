package rtsp

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmpeg4audio"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpsimpleaudio"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpvp9"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
	"github.com/pion/rtp"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/rtppack"
)

// holdTimeout bounds how long a joining session may hold the feed (see join).
const holdTimeout = 250 * time.Millisecond

// feed is the one reader of a relay stream for RTSP: it packetizes each frame once and writes
// the packets to a gortsplib ServerStream, which sends the same bytes to every session over
// UDP, and to a derived relay stream of interleaved packets that TCP viewers read
// (interleaved.go).
type feed struct {
	stream       *gortsplib.ServerStream
	out          *relay.Publisher // the interleaved stream
	rtp          *relay.Track     // its one track
	epochNanos   atomic.Int64     // epoch for TCP viewers' sender reports, once set; Unix ns
	outShift     atomic.Int64     // source stream time of out's time zero (its publisher rebases)
	outStarted   bool
	held         []byte        // interleaved audio waiting for the next video frame
	shift        time.Duration // added to stream time for RTP time: a stored file's playback start
	lastPTS      time.Duration // of the newest frame of a stored file's playback
	heldSince    time.Duration // PTS of its first frame
	log          *slog.Logger
	maxReplay    int // packets
	maxUDPReplay int // bytes

	video, audio *track
	tracks       []*track // in the order of the SDP's medias
	params       codec.NALConfig
	paramsOf     *relay.Track
	nalus        [][]byte
	epoch        time.Time // wall-clock time of stream time zero, for RTCP sender reports

	mu      sync.Mutex
	replay  []replayPacket // packets since the latest video keyframe
	bytes   int            // their size on the wire
	holds   int            // sessions between their PLAY and its response
	release chan struct{}  // closed when holds drops to zero
	atKey   []*ticket      // sessions waiting for the next keyframe to start at
}

// track is one media of the SDP with its packetizer.
type track struct {
	media     *description.Media
	index     int // of the media in the SDP
	clockRate int64
	base      uint32 // RTP timestamp of stream time zero
	ssrc      uint32
	nextSeq   uint16      // sequence number of the next packet
	codec     relay.Codec // of the frames it packetizes
	video     videoEncoder
	aac       *rtpmpeg4audio.Encoder
	opus      *rtpsimpleaudio.Encoder
}

// timestamp converts a presentation time to the track's RTP clock, exactly for any duration.
func (t *track) timestamp(pts time.Duration) uint32 {
	return t.base + uint32(codec.Ticks(pts, t.clockRate))
}

// rtpStart is the first packet a joining session gets on a media, for its RTP-Info.
type rtpStart struct {
	seq uint16
	ts  uint32
	// noSeq: the media's first packet is not sent yet (a session that joins at a keyframe
	// before the audio after it came). RTP-Info then gives its RTP time alone, which players
	// still need: ffmpeg takes the first packet's time as the media's start otherwise, and
	// moves the media by the difference at the first sender report.
	noSeq bool
}

type replayPacket struct {
	track *track
	pkt   *rtp.Packet
	pts   time.Duration
}

// newFeed builds the SDP medias from the relay tracks of a live path, which Frame then
// packetizes into out (a relay.Deriver of the path). A stored file's feed has no out: its
// session's playbacks feed it (stored.go).
func newFeed(lib *gortsplib.Server, out *relay.Publisher, path string, tracks []*relay.Track, maxReplay, maxUDPReplay int, log *slog.Logger) (*feed, error) {
	if lib == nil {
		return nil, relay.ErrClosed
	}
	f := &feed{out: out, rtp: &relay.Track{Codec: relay.CodecRTP}, log: log, maxReplay: maxReplay, maxUDPReplay: maxUDPReplay}
	medias, err := f.newTracks(tracks)
	if err != nil {
		return nil, fmt.Errorf("rtsp %s: %w", path, err)
	}
	f.stream = &gortsplib.ServerStream{Server: lib, Desc: &description.Session{Medias: medias}}
	if err := f.stream.Initialize(); err != nil {
		return nil, fmt.Errorf("rtsp %s: %w", path, err)
	}
	stats := f.stream.Stats().Medias
	for _, t := range f.tracks {
		t.ssrc = stats[t.media].Formats[t.media.Formats[0]].LocalSSRC
	}
	return f, nil
}

// newTracks makes a packetizer for the first video and the first audio track RTSP carries,
// and returns their SDP medias.
func (f *feed) newTracks(tracks []*relay.Track) ([]*description.Media, error) {
	var medias []*description.Media
	for _, t := range tracks {
		var (
			tr  *track
			err error
		)
		switch t.Codec {
		case relay.CodecH264, relay.CodecH265:
			if f.video != nil {
				continue
			}
			tr, err = f.newVideo(t)
			f.video = tr
		case relay.CodecAV1:
			if f.video != nil {
				continue
			}
			tr, err = newAV1(t)
			f.video = tr
		case relay.CodecVP9:
			if f.video != nil {
				continue
			}
			tr, err = newVP9()
			f.video = tr
		case relay.CodecAAC, relay.CodecOpus:
			if f.audio != nil {
				continue
			}
			tr, err = newAudio(t)
			f.audio = tr
		default:
			continue
		}
		if err != nil {
			return nil, err
		}
		tr.index = len(medias)
		medias = append(medias, tr.media)
		f.tracks = append(f.tracks, tr)
	}
	if len(medias) == 0 {
		return nil, errors.New("stream has no track RTSP carries")
	}
	return medias, nil
}

// videoEncoder is gortsplib's RTP packetizer of H.264 or H.265.
type videoEncoder interface {
	Encode(au [][]byte) ([]*rtp.Packet, error)
}

func (f *feed) newVideo(t *relay.Track) (*track, error) {
	p, err := codec.ParseNALConfig(t)
	if err != nil {
		return nil, err
	}
	var (
		forma format.Format
		enc   videoEncoder
		seq   *uint16
	)
	if ps := p.Params(); t.Codec == relay.CodecH265 {
		h := &format.H265{PayloadTyp: 96, VPS: ps[0], SPS: ps[1], PPS: ps[2]}
		e, err := h.CreateEncoder()
		if err != nil {
			return nil, fmt.Errorf("h265 packetizer: %w", err)
		}
		forma, enc, seq = h, e, e.InitialSequenceNumber
	} else {
		h := &format.H264{PayloadTyp: 96, SPS: ps[0], PPS: ps[1], PacketizationMode: 1}
		e, err := h.CreateEncoder()
		if err != nil {
			return nil, fmt.Errorf("h264 packetizer: %w", err)
		}
		forma, enc, seq = h, e, e.InitialSequenceNumber
	}
	f.params, f.paramsOf = p, t
	tr, err := newTrack(description.MediaTypeVideo, forma, *seq)
	if err != nil {
		return nil, err
	}
	tr.video, tr.codec = enc, t.Codec
	return tr, nil
}

func newAV1(t *relay.Track) (*track, error) {
	c, err := codec.ParseAV1Config(t.Config)
	if err != nil {
		return nil, err
	}
	level, profile, tier := int(c.Level), int(c.Profile), int(b2i(c.HighTier))
	forma := &format.AV1{PayloadTyp: 96, LevelIdx: &level, Profile: &profile, Tier: &tier}
	seq, err := randomUint32()
	if err != nil {
		return nil, err
	}
	tr, err := newTrack(description.MediaTypeVideo, forma, uint16(seq))
	if err != nil {
		return nil, err
	}
	tr.video, tr.codec = av1Encoder{&rtppack.AV1{PayloadType: 96, MaxPayload: rtpPayloadMax, Seq: uint16(seq)}}, relay.CodecAV1
	return tr, nil
}

// rtpPayloadMax is the largest RTP payload the server sends, what gortsplib's packetizers
// use: a packet fits an Ethernet MTU with IP, UDP and RTP headers.
const rtpPayloadMax = 1450

func newVP9() (*track, error) {
	forma := &format.VP9{PayloadTyp: 96}
	enc, err := forma.CreateEncoder()
	if err != nil {
		return nil, fmt.Errorf("vp9 packetizer: %w", err)
	}
	tr, err := newTrack(description.MediaTypeVideo, forma, *enc.InitialSequenceNumber)
	if err != nil {
		return nil, err
	}
	tr.video, tr.codec = vp9Encoder{enc}, relay.CodecVP9
	return tr, nil
}

// av1Encoder packetizes one AV1 temporal unit.
type av1Encoder struct{ *rtppack.AV1 }

func (e av1Encoder) Encode(tu [][]byte) ([]*rtp.Packet, error) { return e.AV1.Encode(tu[0]) }

// vp9Encoder packetizes one VP9 frame.
type vp9Encoder struct{ *rtpvp9.Encoder }

func (e vp9Encoder) Encode(frame [][]byte) ([]*rtp.Packet, error) { return e.Encoder.Encode(frame[0]) }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func newAudio(t *relay.Track) (*track, error) {
	if t.Codec == relay.CodecOpus {
		return newOpus(t)
	}
	return newAAC(t)
}

func newOpus(t *relay.Track) (*track, error) {
	c, err := codec.ParseOpusConfig(t.Config)
	if err != nil {
		return nil, err
	}
	forma := &format.Opus{PayloadTyp: 97, ChannelCount: c.Channels}
	enc, err := forma.CreateEncoder()
	if err != nil {
		return nil, fmt.Errorf("opus packetizer: %w", err)
	}
	tr, err := newTrack(description.MediaTypeAudio, forma, *enc.InitialSequenceNumber)
	if err != nil {
		return nil, err
	}
	tr.opus, tr.codec = enc, relay.CodecOpus
	return tr, nil
}

func newAAC(t *relay.Track) (*track, error) {
	conf, err := codec.ParseAACConfig(t.Config)
	if err != nil {
		return nil, err
	}
	forma := &format.MPEG4Audio{PayloadTyp: 97, Config: &conf, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}
	enc, err := forma.CreateEncoder()
	if err != nil {
		return nil, fmt.Errorf("aac packetizer: %w", err)
	}
	tr, err := newTrack(description.MediaTypeAudio, forma, *enc.InitialSequenceNumber)
	if err != nil {
		return nil, err
	}
	tr.aac, tr.codec = enc, relay.CodecAAC
	return tr, nil
}

func newTrack(typ description.MediaType, forma format.Format, seq uint16) (*track, error) {
	base, err := randomUint32()
	if err != nil {
		return nil, err
	}
	return &track{
		media:     &description.Media{Type: typ, Formats: []format.Format{forma}},
		clockRate: int64(forma.ClockRate()),
		base:      base,
		nextSeq:   seq,
	}, nil
}

// Frame packetizes one frame of the live path (relay.Deriver).
func (f *feed) Frame(ctx context.Context, fr *relay.Frame) error { return f.write(ctx, fr) }

// End lets the sessions waiting for a keyframe go, since none will come, says goodbye on
// every media and closes the gortsplib stream (relay.Ender).
func (f *feed) End() {
	f.startAtKeyframe()
	f.goodbye()
	f.stream.Close()
}

// goodbye sends RTCP BYE on every media, so players know the stream is over and not lost.
func (f *feed) goodbye() {
	for _, t := range f.tracks {
		_ = f.stream.WritePacketRTCP(t.media, goodbye(t.ssrc))
	}
}

// packetize turns one frame into RTP packets of its track; nil for a track not in the SDP.
func (f *feed) packetize(fr *relay.Frame) (*track, []*rtp.Packet, error) {
	var (
		t    *track
		pkts []*rtp.Packet
		err  error
	)
	switch {
	case f.video != nil && (fr.Track.Codec == relay.CodecAV1 || fr.Track.Codec == relay.CodecVP9) && f.video.codec == fr.Track.Codec:
		t = f.video
		pkts, err = t.video.Encode([][]byte{fr.Payload})
	case f.video != nil && fr.Track.Codec == f.video.codec:
		if fr.Track != f.paramsOf {
			if f.params, err = codec.ParseNALConfig(fr.Track); err != nil {
				return nil, nil, err
			}
			f.paramsOf = fr.Track
		}
		if f.nalus, err = f.params.AccessUnit(f.nalus[:0], fr.Payload); err != nil {
			return nil, nil, err
		}
		t = f.video
		pkts, err = t.video.Encode(f.nalus)
		clear(f.nalus)
	case f.audio != nil && fr.Track.Codec == relay.CodecOpus && f.audio.codec == relay.CodecOpus:
		t = f.audio
		var p *rtp.Packet
		if p, err = t.opus.Encode(fr.Payload); err == nil {
			pkts = []*rtp.Packet{p}
		}
	case f.audio != nil && fr.Track.Codec == relay.CodecAAC && f.audio.codec == relay.CodecAAC:
		t = f.audio
		pkts, err = t.aac.Encode([][]byte{fr.Payload})
	default:
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("packetize %s: %w", fr.Track.Codec, err)
	}
	ts := t.timestamp(fr.PTS + f.shift)
	for _, p := range pkts {
		p.Timestamp, p.SSRC = ts, t.ssrc
	}
	if len(pkts) > 0 {
		t.nextSeq = pkts[len(pkts)-1].SequenceNumber + 1
	}
	return t, pkts, nil
}

// write packetizes one frame and sends it to every session.
func (f *feed) write(ctx context.Context, fr *relay.Frame) error {
	if f.epoch.IsZero() {
		f.epoch = time.Now().Add(-fr.PTS)
		f.epochNanos.Store(f.epoch.UnixNano())
	}
	t, pkts, err := f.packetize(fr)
	if err != nil || t == nil {
		return err
	}
	if fr.Key && t == f.video {
		f.startAtKeyframe()
	}
	if err := f.waitHolds(ctx); err != nil {
		return err
	}
	ntp := f.epoch.Add(fr.PTS)
	f.mu.Lock()
	defer f.mu.Unlock()
	if fr.Key && t == f.video {
		clear(f.replay)
		f.replay, f.bytes = f.replay[:0], 0
	}
	for _, p := range pkts {
		if err := f.stream.WritePacketRTPWithNTP(t.media, p, ntp); err != nil {
			return err
		}
		if len(f.replay) <= f.maxReplay {
			f.replay = append(f.replay, replayPacket{t, p, fr.PTS})
			f.bytes += p.MarshalSize()
		}
	}
	if f.out == nil {
		return nil
	}
	return f.publishInterleaved(t, fr, pkts)
}

// join sends the current GOP to a session that is about to start playing, so its first
// picture comes at once instead of at the next keyframe. gortsplib makes the session live
// only after OnPlay returns; until the PLAY response goes out (unhold) the feed holds back
// new packets, so the session gets neither a gap nor a packet twice. A GOP too big for the
// session's queue is not sent: that session waits for the next keyframe and starts with it,
// so that its decoder never sees a picture whose references it lacks. So does a session
// whose player's receive buffer the GOP would overflow (Config.UDPReplayBytes). Nothing is
// replayed to a multicast session, which gets the group's packets. The ticket names the
// first packet sent on each media.
func (f *feed) join(ss *gortsplib.ServerSession) *ticket {
	setup := map[*description.Media]bool{}
	for _, m := range ss.Medias() {
		setup[m] = true
	}
	starts := map[*description.Media]rtpStart{}
	f.mu.Lock()
	defer f.mu.Unlock()
	tr := ss.Transport()
	if tr != nil && tr.Protocol == gortsplib.ProtocolUDPMulticast {
		f.hold()
		return &ticket{}
	}
	if !f.replayFits(tr) && f.video != nil {
		t := &ticket{keyframe: make(chan struct{}), waiting: true}
		f.atKey = append(f.atKey, t)
		return t
	}
	{
		var from time.Duration // the instant the replay starts at, the same on every media
		for _, p := range f.replay {
			m := p.track.media
			if !setup[m] {
				continue
			}
			if len(starts) == 0 {
				from = p.pts
			}
			if _, ok := starts[m]; !ok {
				starts[m] = rtpStart{seq: p.pkt.SequenceNumber, ts: p.track.timestamp(from)}
			}
			// With the packet's own NTP time: the session's RTCP sender reports map RTP to
			// NTP from what it sent last, and players line audio up with video by them.
			_ = ss.WritePacketRTPWithNTP(m, p.pkt, f.epoch.Add(p.pts))
		}
		if len(starts) > 0 {
			for _, t := range f.tracks {
				if _, ok := starts[t.media]; !ok && setup[t.media] {
					starts[t.media] = rtpStart{ts: t.timestamp(from), noSeq: true}
				}
			}
		}
	}
	f.hold()
	return &ticket{starts: starts}
}

// ticket is a joining session's place in the feed: a hold on new packets from its PLAY to
// the response, taken at once after a replay, or at the next keyframe when the session
// waits for one.
type ticket struct {
	starts   map[*description.Media]rtpStart
	keyframe chan struct{} // closed when a waiting session's hold is taken (or it left)
	waiting  bool          // in feed.atKey, holding nothing yet
}

// hold keeps the feed from writing until unhold; f.mu must be held.
func (f *feed) hold() {
	if f.holds == 0 {
		f.release = make(chan struct{})
	}
	f.holds++
}

// startAtKeyframe turns the waiting sessions' tickets into holds, just before the feed
// writes a keyframe: their PLAY responses go out and they are live when it comes.
func (f *feed) startAtKeyframe() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.atKey {
		t.waiting = false
		f.hold()
		close(t.keyframe)
	}
	clear(f.atKey)
	f.atKey = f.atKey[:0]
}

// awaitKeyframe waits, at most d, for the keyframe a ticket waits for. A session that
// waited in vain starts at once, mid-GOP.
func (f *feed) awaitKeyframe(t *ticket, d time.Duration) {
	if t.keyframe == nil {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-t.keyframe:
		return
	case <-timer.C:
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dropWaiter(t) {
		f.hold()
		close(t.keyframe)
	}
}

// dropWaiter takes a waiting ticket off feed.atKey; f.mu must be held.
func (f *feed) dropWaiter(t *ticket) bool {
	if !t.waiting {
		return false
	}
	t.waiting = false
	if i := slices.Index(f.atKey, t); i >= 0 {
		f.atKey = slices.Delete(f.atKey, i, i+1)
	}
	return true
}

// replayFits says whether the GOP replay may go to a session on transport tr.
func (f *feed) replayFits(tr *gortsplib.SessionTransport) bool {
	if len(f.replay) > f.maxReplay || tr == nil {
		return false
	}
	return tr.Protocol != gortsplib.ProtocolUDP || f.bytes <= f.maxUDPReplay
}

// rewriteRTPInfo makes a PLAY response's RTP-Info name the first packet the session gets on
// each media, with the RTP times of one instant, the start of the replay. gortsplib fills it
// with the live edge (and leaves out a media it has sent nothing of yet), but a joining
// session gets the GOP before it first, and a player that trusts RTP-Info (ffmpeg) would
// place those packets in the past, or, with per-media instants, shift audio against video
// when the first RTCP sender report arrives.
func (f *feed) rewriteRTPInfo(res *base.Response, starts map[*description.Media]rtpStart) {
	v, ok := res.Header["RTP-Info"]
	if !ok || len(starts) == 0 {
		return
	}
	var info headers.RTPInfo
	if err := info.Unmarshal(v); err != nil || len(info) == 0 {
		return
	}
	prefix := info[0].URL // up to the media's number: gortsplib's control URLs end in trackID=N
	if i := strings.LastIndex(prefix, "trackID="); i >= 0 {
		prefix = prefix[:i+len("trackID=")]
	} else {
		prefix = ""
	}
	named := map[int]*headers.RTPInfoEntry{}
	for _, e := range info {
		if n, err := strconv.Atoi(strings.TrimPrefix(e.URL, prefix)); prefix != "" && err == nil {
			named[n] = e
		}
	}
	for n, m := range f.stream.Desc.Medias {
		st, ok := starts[m]
		if !ok {
			continue
		}
		e := named[n]
		if e == nil {
			if prefix == "" {
				continue
			}
			e = &headers.RTPInfoEntry{URL: prefix + strconv.Itoa(n)}
			info = append(info, e)
		}
		e.SequenceNumber, e.Timestamp = &st.seq, &st.ts
		if st.noSeq {
			e.SequenceNumber = nil
		}
	}
	res.Header["RTP-Info"] = info.Marshal()
}

// unhold ends the hold of a ticket, or its wait for a keyframe.
func (f *feed) unhold(t *ticket) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dropWaiter(t) {
		close(t.keyframe)
		return
	}
	if f.holds == 0 {
		return
	}
	f.holds--
	if f.holds == 0 {
		close(f.release)
	}
}

// waitHolds waits while a joining session holds the feed, at most holdTimeout.
func (f *feed) waitHolds(ctx context.Context) error {
	f.mu.Lock()
	release := f.release
	held := f.holds > 0
	f.mu.Unlock()
	if !held {
		return nil
	}
	t := time.NewTimer(holdTimeout)
	defer t.Stop()
	select {
	case <-release:
	case <-t.C:
		f.mu.Lock()
		if f.holds > 0 {
			f.holds = 0
			close(f.release)
		}
		f.mu.Unlock()
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

func randomUint32() (uint32, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, fmt.Errorf("random rtp timestamp: %w", err)
	}
	return binary.BigEndian.Uint32(b[:]), nil
}
