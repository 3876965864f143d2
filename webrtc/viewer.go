package webrtc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	pwebrtc "github.com/pion/webrtc/v4"

	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/session"
)

// viewer is one WHEP session: a peer connection fed from the derived stream's packets.
type viewer struct {
	srv     *Server
	pc      *pwebrtc.PeerConnection
	stream  *relay.Stream // the derived one
	feed    *feed
	reader  *relay.Reader // the send goroutine's: the layer sent's
	video   *sendTrack    // nil: not sent
	audio   *sendTrack
	senders map[*pwebrtc.RTPSender]*sendTrack
	batch   batch
	abr     *abr // nil: one layer only

	current       atomic.Pointer[relay.Reader] // reader, for the session's count of frames dropped
	droppedBefore atomic.Uint64                // by the readers of layers left

	link
}

// newViewer answers offer with the tracks of f that the offer can receive.
func newViewer(ctx context.Context, s *Server, api *pwebrtc.API, f *feed, stream *relay.Stream, offer []byte) (*viewer, []byte, error) {
	o, err := parseOffer(offer)
	if err != nil {
		return nil, nil, err
	}
	// A player that asks for video gets it or a reason: a black picture would not say why.
	if o.video && f.noVideo != nil {
		return nil, nil, f.noVideo
	}
	if o.video && f.hasVideo && !o.takes(f.videoCodec) {
		return nil, nil, fmt.Errorf("%w: the stream's video is %s, which the offer does not take", ErrNoCodec, f.videoCodec)
	}
	video, audio := o.video && f.hasVideo, o.audio && f.hasAudio
	if !video && !audio {
		return nil, nil, fmt.Errorf("%w: the stream has %s, the offer takes neither", ErrNoCodec, f.describe())
	}
	pc, err := api.NewPeerConnection(pwebrtc.Configuration{})
	if err != nil {
		return nil, nil, fmt.Errorf("webrtc peer: %w", err)
	}
	v := &viewer{srv: s, pc: pc, stream: stream, feed: f, senders: map[*pwebrtc.RTPSender]*sendTrack{}}
	v.link.init()
	v.batch.follow(pc)
	pc.OnConnectionStateChange(v.onState(session.ErrLeft))
	answer, err := v.negotiate(ctx, f, offer, video, audio)
	if err != nil {
		v.stop(err)
		pc.Close()
		return nil, nil, err
	}
	// The reader starts now, at the latest keyframe, and waits for the connection.
	v.reader = stream.NewReader()
	v.current.Store(v.reader)
	return v, answer, nil
}

// negotiate adds a sending track of each kind wanted, answers the offer and waits for every
// candidate to be in the answer.
func (v *viewer) negotiate(ctx context.Context, f *feed, offer []byte, video, audio bool) ([]byte, error) {
	pc := v.pc
	if err := pc.SetRemoteDescription(pwebrtc.SessionDescription{Type: pwebrtc.SDPTypeOffer, SDP: string(offer)}); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	if video {
		v.video = newSendTrack(pwebrtc.RTPCodecTypeVideo, mimeTypes[f.videoCodec], &f.videoHistory)
		ask := f.src.RequestKeyframe
		v.video.askKey.Store(&ask)
		if err := v.add(v.video); err != nil {
			return nil, err
		}
	}
	if audio {
		v.audio = newSendTrack(pwebrtc.RTPCodecTypeAudio, pwebrtc.MimeTypeOpus, &f.audioHistory)
		if err := v.add(v.audio); err != nil {
			return nil, err
		}
	}
	return answer(ctx, pc, v.srv.cfg.GatherTimeout)
}

// answer answers the offer set on pc, every candidate in it, gathered within timeout.
func answer(ctx context.Context, pc *pwebrtc.PeerConnection, timeout time.Duration) ([]byte, error) {
	a, err := pc.CreateAnswer(nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	gathered := pwebrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(a); err != nil {
		return nil, fmt.Errorf("webrtc answer: %w", err)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-gathered:
	case <-timer.C:
		return nil, errors.New("webrtc: gathering candidates timed out")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return []byte(pc.LocalDescription().SDP), nil
}

func (v *viewer) Path() string     { return v.stream.Path() }
func (v *viewer) end(reason error) { v.stop(reason) }

// add adds a sending track.
func (v *viewer) add(t *sendTrack) error {
	sender, err := v.pc.AddTrack(t)
	if err != nil {
		return fmt.Errorf("webrtc track: %w", err)
	}
	v.senders[sender] = t
	return nil
}

// offer is what a player's offer asks for: whether it receives video, in which codecs
// (their WebRTC names, lower case), and whether it takes Opus sound.
type offer struct {
	video  bool
	codecs map[string]bool
	audio  bool
}

func parseOffer(b []byte) (offer, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(string(b)); err != nil {
		return offer{}, fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	o := offer{codecs: map[string]bool{}}
	for _, m := range sd.MediaDescriptions {
		kind := m.MediaName.Media
		o.video = o.video || kind == "video"
		for _, a := range m.Attributes {
			if a.Key != "rtpmap" {
				continue
			}
			_, enc, _ := strings.Cut(a.Value, " ")
			name, _, _ := strings.Cut(strings.ToLower(enc), "/")
			o.codecs[kind+"/"+name] = true
			o.audio = o.audio || kind == "audio" && name == "opus"
		}
	}
	return o, nil
}

// takes says whether the offer takes codec c.
func (o offer) takes(c relay.Codec) bool { return o.codecs[strings.ToLower(mimeTypes[c])] }

// describe names the codecs a feed sends.
func (f *feed) describe() string {
	var c []string
	if f.hasVideo {
		c = append(c, f.videoCodec.String())
	}
	if f.hasAudio {
		c = append(c, "Opus")
	}
	return strings.Join(c, " and ")
}

// run serves the viewer until it leaves, is ended, or its stream ends.
func (v *viewer) run(remote string) {
	sv := v.srv.cfg.Sessions.Join(v.srv.log, session.Info{Protocol: "webrtc", Path: v.Path(), Remote: remote, Transport: "WebRTC"},
		v.dropped, func() { v.stop(session.ErrKicked) })
	var rtcp sync.WaitGroup
	for s, t := range v.senders {
		// The viewer's NACKs are answered here; its receiver reports reach the interceptors
		// only if read.
		rtcp.Go(func() {
			for {
				pkts, _, err := s.ReadRTCP()
				if err != nil {
					return
				}
				t.feedback(pkts)
			}
		})
	}
	err := v.send(sv.Session)
	if cause := context.Cause(v.ctx); cause != nil && errors.Is(err, context.Canceled) {
		err = cause
	}
	v.stop(err)
	if v.abr != nil {
		v.abr.close()
	}
	v.pc.Close()
	rtcp.Wait()
	v.reader.Close()
	sv.Leave(err)
}

// send waits for the connection, then writes the derived stream's packets from the keyframe
// the reader started at.
func (v *viewer) send(sess *session.Session) error {
	timer := time.NewTimer(v.srv.cfg.Failed)
	defer timer.Stop()
	select {
	case <-v.connected:
	case <-timer.C:
		return errors.New("the peer never connected")
	case <-v.ctx.Done():
		return v.ctx.Err()
	}
	var hdr rtp.Header // read again for every packet sent
	var reported time.Time
	defer v.batch.close()
	for {
		f, err := v.next()
		if err != nil {
			return err
		}
		if now := time.Now(); now.Sub(reported) >= reportEvery {
			reported = now
			if err := v.senderReports(now); err != nil {
				return err
			}
		}
		lt := v.audio
		if f.Track.Codec.IsVideo() {
			lt = v.video
		}
		if lt == nil {
			continue
		}
		v.batch.start()
		err = packets(f.Payload, func(pkt []byte) error {
			if err := lt.write(&hdr, pkt); err != nil {
				return err
			}
			sess.AddOut(len(pkt))
			return nil
		})
		if ferr := v.batch.finish(); err == nil {
			err = ferr
		}
		if err != nil {
			return err
		}
	}
}

// next is the next frame to send.
func (v *viewer) next() (*relay.Frame, error) {
	if v.abr != nil {
		return v.abr.next(v.ctx)
	}
	return v.reader.Next(v.ctx)
}

// dropped is how many frames the viewer's readers skipped because it fell behind.
func (v *viewer) dropped() uint64 { return v.droppedBefore.Load() + v.current.Load().Dropped() }

// reportEvery is how often a viewer gets sender reports.
const reportEvery = time.Second

// senderReports tells the viewer, for each track, which RTP time is now by the wall clock,
// both on the stream's one timeline (feed.epoch): pion's own reports would take each
// packet's send time, and the sound made from AAC leaves 50 ms after its picture.
func (v *viewer) senderReports(now time.Time) error {
	var pkts []rtcp.Packet
	if v.video != nil {
		if sr := v.video.senderReport(now, v.feed.rtpTime(videoRate, now)); sr != nil {
			pkts = append(pkts, sr)
		}
	}
	if v.audio != nil {
		if sr := v.audio.senderReport(now, v.feed.rtpTime(audioRate, now)); sr != nil {
			pkts = append(pkts, sr)
		}
	}
	if len(pkts) == 0 {
		return nil
	}
	if err := v.pc.WriteRTCP(pkts); err != nil {
		return fmt.Errorf("webrtc sender report: %w", err)
	}
	return nil
}

func (v *viewer) ice() (*pwebrtc.PeerConnection, *iceSession) { return v.pc, &v.iceSession }
