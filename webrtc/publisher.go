package webrtc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/rtpreceiver"
	"github.com/bluenviron/gortsplib/v5/pkg/rtptime"
	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	pwebrtc "github.com/pion/webrtc/v4"

	"github.com/relaycast/relaycast/ingest"
	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/session"
)

// keyframeEvery is the longest a WHIP publisher's video goes without a keyframe before it is
// asked for one (a PLI). Browsers send keyframes only when asked; LL-HLS cuts segments, and
// new viewers of every output start, at keyframes.
const keyframeEvery = 2 * time.Second

// publisher is one WHIP session: a peer connection whose tracks are depacketized once, by the
// same depacketizers as an RTSP publisher's, into the relay stream it publishes.
type publisher struct {
	srv    *Server
	pc     *pwebrtc.PeerConnection
	path   string
	pub    *relay.Publisher
	frames *ingest.Interleaver
	times  rtptime.GlobalDecoder // one timeline for every track, from their arrival
	inputs map[pwebrtc.RTPCodecType]*input
	layers []*layer // simulcast layers after the first: renditions
	log    *slog.Logger

	link
	sess atomic.Pointer[session.Session]

	mu     sync.Mutex // orders a track's start against the session's end
	tracks sync.WaitGroup
}

// input is one negotiated track of a publisher (one simulcast layer of it), set up before
// its first packet.
type input struct {
	rid    string // the simulcast layer's; "": no simulcast
	format format.Format
	askKey chan struct{} // a viewer's keyframe request (relay.Stream.RequestKeyframe)
	media  ingest.RTPMedia
	ssrc   atomic.Uint32 // the sender's, once its first packet came: PLIs name it
	key    atomic.Int64  // when the last keyframe was written (Unix ns)
}

// layer is a simulcast layer after the first: a rendition of the stream, labelled by its rid,
// with an interleaver of its own for its pictures and a copy of the stream's sound.
type layer struct {
	in     *input
	frames *ingest.Interleaver
	audio  ingest.FrameWriter
}

// soundTee gives the stream's sound to each layer too: a frame header each, the payload
// shared. The copies go first: the stream's interleaver moves the frame's timestamps.
type soundTee struct {
	ingest.FrameWriter
	layers []*layer
}

func (t soundTee) WriteFrame(f *relay.Frame) error {
	for _, l := range t.layers {
		if err := l.audio.WriteFrame(&relay.Frame{Track: f.Track, DTS: f.DTS, PTS: f.PTS, Key: f.Key, Payload: f.Payload}); err != nil {
			return err
		}
	}
	return t.FrameWriter.WriteFrame(f)
}

// WriteFrame notes keyframes on their way to the interleaver.
type keyWatch struct {
	ingest.FrameWriter
	in *input
}

func (k keyWatch) WriteFrame(f *relay.Frame) error {
	if f.Key && f.Track.Codec.IsVideo() {
		k.in.key.Store(time.Now().UnixNano())
	}
	return k.FrameWriter.WriteFrame(f)
}

// videoCodecs are the video codecs a publisher may send, best first: the one the most
// outputs carry (H.264) before the ones fewer players read.
var videoCodecs = []string{pwebrtc.MimeTypeH264, pwebrtc.MimeTypeH265, pwebrtc.MimeTypeAV1, pwebrtc.MimeTypeVP9}

// newPublisher answers a WHIP offer: one track of each kind, in the best codec the offer has.
func newPublisher(ctx context.Context, s *Server, newAPI func([]engineCodec) (*pwebrtc.API, error), path string,
	offer []byte) (*publisher, []byte, error) {
	choices, err := choose(offer)
	if err != nil {
		return nil, nil, err
	}
	codecs := make([]engineCodec, len(choices))
	for i, c := range choices {
		codecs[i] = engineCodec{c.codec, c.kind}
	}
	api, err := newAPI(codecs)
	if err != nil {
		return nil, nil, err
	}
	pc, err := api.NewPeerConnection(pwebrtc.Configuration{})
	if err != nil {
		return nil, nil, fmt.Errorf("webrtc peer: %w", err)
	}
	p := &publisher{srv: s, pc: pc, path: path, inputs: map[pwebrtc.RTPCodecType]*input{},
		log: s.log.With("path", path, "protocol", "webrtc")}
	p.link.init()
	p.times.Initialize()
	pc.OnConnectionStateChange(p.onState(errPublisherLeft))
	answer, err := p.negotiate(ctx, offer, choices)
	if err != nil {
		p.stop(err)
		pc.Close()
		return nil, nil, err
	}
	return p, answer, nil
}

// choice is the codec taken for one m-line of an offer.
type choice struct {
	mid   string
	kind  pwebrtc.RTPCodecType
	codec pwebrtc.RTPCodecParameters
	rids  []string // the simulcast layers it sends, in the offer's order; the first is the stream
}

// choose picks, for the first video and the first audio m-line an offer sends, the best codec
// the relay carries; at least one must have one.
func choose(offer []byte) ([]choice, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(string(offer)); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	var out []choice
	var seen []string
	taken := map[pwebrtc.RTPCodecType]bool{}
	for _, m := range sd.MediaDescriptions {
		kind := pwebrtc.NewRTPCodecType(m.MediaName.Media)
		mid, _ := m.Attribute(sdp.AttrKeyMID)
		if taken[kind] || kind == 0 || mid == "" || !sends(m) {
			continue
		}
		codecs := offeredCodecs(m)
		for _, c := range codecs {
			seen = append(seen, c.MimeType)
		}
		if c, ok := best(kind, codecs); ok {
			out = append(out, choice{mid: mid, kind: kind, codec: c, rids: sentRIDs(m)})
			taken[kind] = true
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: the offer sends %s; the server takes H.264, H.265, AV1 or VP9 video and Opus audio",
			ErrNoCodec, strings.Join(seen, ", "))
	}
	return out, nil
}

// sentRIDs are the simulcast layers an m-line sends (a=rid:ID send, listed in
// a=simulcast:send), in their order; none without simulcast. A layer whose id cannot name a
// rendition is left out.
func sentRIDs(m *sdp.MediaDescription) []string {
	if v, ok := m.Attribute("simulcast"); !ok || !strings.HasPrefix(v, "send ") {
		return nil
	}
	var rids []string
	for _, a := range m.Attributes {
		id, dir, _ := strings.Cut(a.Value, " ")
		if a.Key == "rid" && strings.HasPrefix(dir, "send") && relay.ValidatePath("x/x"+relay.RenditionSep+id) == nil {
			rids = append(rids, id)
		}
	}
	if len(rids) < 2 {
		return nil
	}
	return rids
}

// sends says whether the offerer sends on an m-line (sendrecv is the default).
func sends(m *sdp.MediaDescription) bool {
	for _, a := range m.Attributes {
		if a.Key == "recvonly" || a.Key == "inactive" {
			return false
		}
	}
	return true
}

// best is the codec of kind the relay carries best among an m-line's.
func best(kind pwebrtc.RTPCodecType, codecs []pwebrtc.RTPCodecParameters) (pwebrtc.RTPCodecParameters, bool) {
	if kind == pwebrtc.RTPCodecTypeAudio {
		for _, c := range codecs {
			if strings.EqualFold(c.MimeType, pwebrtc.MimeTypeOpus) {
				return c, true
			}
		}
		return pwebrtc.RTPCodecParameters{}, false
	}
	for _, want := range videoCodecs {
		for _, c := range codecs {
			// H.264 in single NAL unit mode (packetization-mode=0) cannot carry large pictures
			if strings.EqualFold(c.MimeType, want) && (want != pwebrtc.MimeTypeH264 || strings.Contains(c.SDPFmtpLine, "packetization-mode=1")) {
				return c, true
			}
		}
	}
	return pwebrtc.RTPCodecParameters{}, false
}

// offeredCodecs lists an m-line's codecs with the offer's payload types.
func offeredCodecs(m *sdp.MediaDescription) []pwebrtc.RTPCodecParameters {
	kind := m.MediaName.Media
	fmtp := map[string]string{}
	for _, a := range m.Attributes {
		if a.Key == "fmtp" {
			pt, params, _ := strings.Cut(a.Value, " ")
			fmtp[pt] = params
		}
	}
	var out []pwebrtc.RTPCodecParameters
	for _, a := range m.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		pt, enc, _ := strings.Cut(a.Value, " ")
		parts := strings.Split(enc, "/")
		var n, rate, channels uint64
		if _, err := fmt.Sscan(pt, &n); err != nil || n > 127 || len(parts) < 2 {
			continue
		}
		_, _ = fmt.Sscan(parts[1], &rate)
		if len(parts) > 2 {
			_, _ = fmt.Sscan(parts[2], &channels)
		}
		var fb []pwebrtc.RTCPFeedback
		if kind == "video" {
			fb = feedback
		}
		out = append(out, pwebrtc.RTPCodecParameters{PayloadType: pwebrtc.PayloadType(n), RTPCodecCapability: pwebrtc.RTPCodecCapability{
			MimeType: kind + "/" + parts[0], ClockRate: uint32(rate), Channels: uint16(channels), SDPFmtpLine: fmtp[pt], RTCPFeedback: fb}})
	}
	return out
}

// negotiate answers the offer with only the chosen codecs and waits for every candidate to
// be in the answer.
func (p *publisher) negotiate(ctx context.Context, offer []byte, choices []choice) ([]byte, error) {
	if err := p.pc.SetRemoteDescription(pwebrtc.SessionDescription{Type: pwebrtc.SDPTypeOffer, SDP: string(offer)}); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	for _, tr := range p.pc.GetTransceivers() {
		c, ok := chosen(choices, tr.Mid())
		if !ok {
			// an m-line the server does not take (a second video, an unknown codec)
			if err := tr.Stop(); err != nil {
				return nil, fmt.Errorf("webrtc transceiver: %w", err)
			}
			continue
		}
		if err := p.addInput(c); err != nil {
			return nil, err
		}
	}
	if len(p.inputs) == 0 {
		return nil, fmt.Errorf("%w: no m-line the server can take", ErrNoCodec)
	}
	p.pc.OnTrack(p.onTrack)
	return answer(ctx, p.pc, p.srv.cfg.GatherTimeout)
}

func chosen(choices []choice, mid string) (choice, bool) {
	for _, c := range choices {
		if c.mid == mid {
			return c, true
		}
	}
	return choice{}, false
}

// addInput makes the depacketizer of a chosen codec (of each of its simulcast layers); its
// frames wait for the publish to start (run), which gives them their interleaver.
func (p *publisher) addInput(c choice) error {
	f, err := newFormat(c)
	if err != nil {
		return err
	}
	in := &input{format: f, askKey: make(chan struct{}, 1)}
	if len(c.rids) > 0 {
		in.rid = c.rids[0]
		for _, rid := range c.rids[1:] {
			lf, _ := newFormat(c)
			p.layers = append(p.layers, &layer{in: &input{rid: rid, format: lf, askKey: make(chan struct{}, 1)}})
		}
	}
	p.inputs[c.kind] = in
	return nil
}

// newFormat is the RTP format of a chosen codec.
func newFormat(c choice) (format.Format, error) {
	pt := uint8(c.codec.PayloadType)
	switch strings.ToLower(c.codec.MimeType) {
	case strings.ToLower(pwebrtc.MimeTypeH264):
		return &format.H264{PayloadTyp: pt, PacketizationMode: 1}, nil
	case strings.ToLower(pwebrtc.MimeTypeH265):
		return &format.H265{PayloadTyp: pt}, nil
	case strings.ToLower(pwebrtc.MimeTypeAV1):
		return &format.AV1{PayloadTyp: pt}, nil
	case strings.ToLower(pwebrtc.MimeTypeVP9):
		return &format.VP9{PayloadTyp: pt}, nil
	case strings.ToLower(pwebrtc.MimeTypeOpus):
		return &format.Opus{PayloadTyp: pt, ChannelCount: 2}, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrNoCodec, c.codec.MimeType)
}

// start makes the session the publisher of its path's stream, with one interleaved track per
// input.
func (p *publisher) start(pub *relay.Publisher) error {
	p.pub = pub
	p.frames = ingest.NewInterleaver(pub)
	p.frames.OnClockJump = ingest.LogClockJump(p.log)
	if v := p.inputs[pwebrtc.RTPCodecTypeVideo]; v != nil {
		pub.OnKeyframeRequest(v.keyRequest)
		// the layer the path names is the stream; the first otherwise (no track came yet:
		// the offerer has not had the answer)
		for _, l := range p.layers {
			if main := pub.MainRendition(); main != "" && l.in.rid == main {
				l.in.rid, v.rid = v.rid, main
			}
		}
	}
	for _, l := range p.layers {
		rp, err := pub.Rendition(l.in.rid)
		if err != nil {
			return fmt.Errorf("webrtc publish simulcast layer %s: %w", l.in.rid, err)
		}
		rp.SetProtocol("webrtc")
		rp.OnKeyframeRequest(l.in.keyRequest)
		l.frames = ingest.NewInterleaver(rp)
		if l.in.media, err = ingest.NewRTPMedia(l.in.format, keyWatch{l.frames.Track(), l.in}); err != nil {
			return fmt.Errorf("webrtc publish %s: %w", l.in.format.Codec(), err)
		}
		if p.inputs[pwebrtc.RTPCodecTypeAudio] != nil {
			l.audio = l.frames.Track()
		}
	}
	for kind, in := range p.inputs {
		var w ingest.FrameWriter = keyWatch{p.frames.Track(), in}
		if kind == pwebrtc.RTPCodecTypeAudio && len(p.layers) > 0 {
			w = soundTee{w, p.layers}
		}
		media, err := ingest.NewRTPMedia(in.format, w)
		if err != nil {
			return fmt.Errorf("webrtc publish %s: %w", in.format.Codec(), err)
		}
		in.media = media
	}
	return nil
}

// onTrack reads a track's packets into its input until the session ends.
func (p *publisher) onTrack(tr *pwebrtc.TrackRemote, _ *pwebrtc.RTPReceiver) {
	in := p.inputs[tr.Kind()]
	for _, l := range p.layers {
		if tr.RID() != "" && tr.RID() == l.in.rid {
			in = l.in
		}
	}
	if in != nil && in.rid != "" && in.rid != tr.RID() {
		in = nil // a layer the server does not take (a rid that cannot name a rendition)
	}
	if in == nil || !in.ssrcOnce(uint32(tr.SSRC())) {
		p.log.Info("publisher track not carried", "kind", tr.Kind(), "codec", tr.Codec().MimeType, "rid", tr.RID())
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx.Err() != nil {
		return // run is past waiting for the tracks
	}
	if tr.Kind() == pwebrtc.RTPCodecTypeVideo {
		p.tracks.Go(func() { p.keyframes(in) })
	}
	p.tracks.Go(func() {
		if err := p.read(tr, in); err != nil {
			p.stop(err)
		}
	})
}

// keyRequest passes on a viewer's keyframe request to the input's keyframes loop; it does not
// block.
func (in *input) keyRequest() {
	select {
	case in.askKey <- struct{}{}:
	default:
	}
}

// ssrcOnce gives an input its sender's SSRC; a second track of its kind (a simulcast layer)
// is not taken.
func (in *input) ssrcOnce(ssrc uint32) bool { return in.ssrc.CompareAndSwap(0, ssrc) }

// read depacketizes tr's packets, reordered (pion's NACKs bring lost ones back late), on the
// session's one timeline.
func (p *publisher) read(tr *pwebrtc.TrackRemote, in *input) error {
	buffer := 64
	if tr.Kind() == pwebrtc.RTPCodecTypeAudio {
		buffer = 16 // a lost Opus packet is 20 ms of silence; held back it delays the picture
	}
	// Only the reordering is used: pion's interceptors send the receiver reports.
	order := &rtpreceiver.Receiver{ClockRate: in.format.ClockRate(), UnrealiableTransport: true, BufferSize: buffer,
		Period: time.Hour, WritePacketRTCP: func(rtcp.Packet) {}}
	if err := order.Initialize(); err != nil {
		return fmt.Errorf("webrtc receiver: %w", err)
	}
	defer order.Close()
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return nil // the peer connection closed: why is already known
		}
		if s := p.sess.Load(); s != nil {
			s.AddIn(pkt.MarshalSize())
		}
		pkts, _ := order.ProcessPacket2(pkt, time.Now(), in.format.PTSEqualsDTS(pkt))
		for _, pkt := range pkts {
			pts, ok := p.times.Decode(in.format, pkt)
			if !ok {
				continue // the timeline starts at a picture whose PTS is its DTS
			}
			if err := in.media.Packet(pkt, pts); err != nil {
				return fmt.Errorf("webrtc publish %s: %w", in.format.Codec(), err)
			}
		}
	}
}

// keyframes asks the publisher for a keyframe at once, again whenever keyframeEvery has
// passed without one, and when a viewer asks (the relay passes on one request a second).
func (p *publisher) keyframes(in *input) {
	tick := time.NewTicker(keyframeEvery / 4)
	defer tick.Stop()
	var asked time.Time
	pli := func() error {
		asked = time.Now()
		return p.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: in.ssrc.Load()}})
	}
	for {
		if last := time.Unix(0, in.key.Load()); time.Since(last) >= keyframeEvery && time.Since(asked) >= keyframeEvery/2 {
			if pli() != nil {
				return
			}
		}
		select {
		case <-tick.C:
		case <-in.askKey:
			if pli() != nil {
				return
			}
		case <-p.ctx.Done():
			return
		}
	}
}

// errPublisherLeft is a publisher that hung up or sent DELETE.
var errPublisherLeft = errors.New("publisher left")

// run publishes until the peer leaves or is ended, then ends the stream's publisher (the
// stream waits out the grace window).
func (p *publisher) run(remote string) {
	sess := p.srv.cfg.Sessions.Open(session.Info{Protocol: "webrtc", Kind: session.Publish, Path: p.path, Remote: remote, Transport: "WebRTC"})
	sess.OnKick(func() { p.stop(session.ErrKicked) })
	p.sess.Store(sess)
	p.log.Info("publish start", "remote", remote, "tracks", p.describe())
	timer := time.NewTimer(p.srv.cfg.Failed)
	select {
	case <-p.connected:
	case <-timer.C:
		p.stop(errors.New("the peer never connected"))
	case <-p.ctx.Done():
	}
	timer.Stop()
	<-p.ctx.Done()
	p.pc.Close() // ends the tracks' reads
	p.mu.Lock()  // a track starting now sees the end
	p.mu.Unlock()
	p.tracks.Wait()
	_ = p.frames.Flush()
	for _, l := range p.layers {
		if l.frames != nil {
			_ = l.frames.Flush()
		}
	}
	p.pub.Close() // and the layers' renditions
	err := context.Cause(p.ctx)
	sess.Close(err)
	p.log.Info("publish stop", "reason", err)
}

// describe names the codecs a publisher sends.
func (p *publisher) describe() string {
	var c []string
	for _, k := range []pwebrtc.RTPCodecType{pwebrtc.RTPCodecTypeVideo, pwebrtc.RTPCodecTypeAudio} {
		if in := p.inputs[k]; in != nil {
			c = append(c, in.format.Codec())
		}
	}
	if len(p.layers) > 0 {
		rids := []string{p.inputs[pwebrtc.RTPCodecTypeVideo].rid}
		for _, l := range p.layers {
			rids = append(rids, l.in.rid)
		}
		c = append(c, "simulcast "+strings.Join(rids, " "))
	}
	return strings.Join(c, ", ")
}

func (p *publisher) Path() string { return p.path }
func (p *publisher) end(reason error) {
	if errors.Is(reason, session.ErrLeft) {
		reason = errPublisherLeft
	}
	p.stop(reason)
}

func (p *publisher) ice() (*pwebrtc.PeerConnection, *iceSession) { return p.pc, &p.iceSession }
