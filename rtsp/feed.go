package rtsp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/aler9/gortsplib/v2"
	"github.com/aler9/gortsplib/v2/pkg/codecs/mpeg4audio"
	"github.com/aler9/gortsplib/v2/pkg/format"
	"github.com/aler9/gortsplib/v2/pkg/formatdecenc/rtph264"
	"github.com/aler9/gortsplib/v2/pkg/formatdecenc/rtpmpeg4audio"
	"github.com/aler9/gortsplib/v2/pkg/media"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/relay"
)

// maxReplay bounds the packets kept for a joining session (the current GOP). A longer GOP is
// not replayed: such a session starts at the next keyframe, as with no cache at all.
const maxReplay = 2048

// holdTimeout bounds how long a joining session may hold the feed (see hold).
const holdTimeout = 250 * time.Millisecond

// feed is the one reader of a relay stream for RTSP: it packetizes each frame once and writes
// the packets to a gortsplib ServerStream, which sends the same bytes to every session.
type feed struct {
	rs     *relay.Stream
	stream *gortsplib.ServerStream
	log    *slog.Logger

	video, audio *media.Media
	venc         *rtph264.Encoder
	aenc         *rtpmpeg4audio.Encoder
	params       codec.H264Config
	paramsOf     *relay.Track
	nalus        [][]byte
	epoch        time.Time // wall-clock time of stream time zero, for RTCP sender reports

	mu      sync.Mutex
	replay  []replayPacket // packets since the latest video keyframe
	holds   int            // sessions between their PLAY and its response
	release chan struct{}  // closed when holds drops to zero

	cancel context.CancelFunc
	done   chan struct{}
}

type replayPacket struct {
	media *media.Media
	pkt   *rtp.Packet
}

// newFeed builds the SDP medias from the relay tracks and starts packetizing.
func newFeed(rs *relay.Stream, tracks []*relay.Track, log *slog.Logger) (*feed, error) {
	f := &feed{rs: rs, log: log, done: make(chan struct{})}
	var medias media.Medias
	for _, t := range tracks {
		switch t.Codec {
		case relay.CodecH264:
			p, err := codec.ParseH264Config(t.Config)
			if err != nil {
				return nil, fmt.Errorf("rtsp: %w", err)
			}
			forma := &format.H264{PayloadTyp: 96, SPS: p.SPS[0], PPS: p.PPS[0], PacketizationMode: 1}
			f.video = &media.Media{Type: media.TypeVideo, Formats: []format.Format{forma}}
			f.venc, f.params, f.paramsOf = forma.CreateEncoder(), p, t
			medias = append(medias, f.video)
		case relay.CodecAAC:
			var conf mpeg4audio.Config
			if err := conf.Unmarshal(t.Config); err != nil {
				return nil, fmt.Errorf("rtsp: aac config: %w", err)
			}
			forma := &format.MPEG4Audio{PayloadTyp: 97, Config: &conf, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}
			f.audio = &media.Media{Type: media.TypeAudio, Formats: []format.Format{forma}}
			f.aenc = forma.CreateEncoder()
			medias = append(medias, f.audio)
		}
	}
	if len(medias) == 0 {
		return nil, errors.New("rtsp: stream has no H.264 or AAC track")
	}
	f.stream = gortsplib.NewServerStream(medias)
	return f, nil
}

// start runs the feed until the relay stream ends or stop is called, then says goodbye and
// hands the feed to onEnd.
func (f *feed) start(onEnd func(*feed)) {
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	r := f.rs.NewReader()
	go pprof.Do(ctx, pprof.Labels("stream", f.rs.Path(), "protocol", "rtsp"), func(ctx context.Context) {
		defer close(f.done)
		defer onEnd(f) // which closes the ServerStream once its sessions are gone
		defer r.Close()
		for {
			fr, err := r.Next(ctx)
			if err != nil {
				if !errors.Is(err, context.Canceled) && !errors.Is(err, relay.ErrEnded) {
					f.log.Warn("rtsp feed stopped", "err", err)
				}
				f.goodbye()
				return
			}
			if err := f.write(ctx, fr); err != nil {
				f.log.Warn("rtsp: frame not sent", "err", err)
			}
		}
	})
}

// goodbye sends RTCP BYE on every media, so players know the stream is over and not lost.
func (f *feed) goodbye() {
	if f.video != nil {
		f.stream.WritePacketRTCP(f.video, &rtcp.Goodbye{Sources: []uint32{*f.venc.SSRC}})
	}
	if f.audio != nil {
		f.stream.WritePacketRTCP(f.audio, &rtcp.Goodbye{Sources: []uint32{*f.aenc.SSRC}})
	}
}

func (f *feed) stop() {
	f.cancel()
	<-f.done
}

// write packetizes one frame and sends it to every session.
func (f *feed) write(ctx context.Context, fr *relay.Frame) error {
	if f.epoch.IsZero() {
		f.epoch = time.Now().Add(-fr.PTS)
	}
	var (
		m    *media.Media
		pkts []*rtp.Packet
		err  error
	)
	switch {
	case fr.Track.Codec == relay.CodecH264 && f.video != nil:
		if fr.Track != f.paramsOf {
			if f.params, err = codec.ParseH264Config(fr.Track.Config); err != nil {
				return fmt.Errorf("rtsp: %w", err)
			}
			f.paramsOf = fr.Track
		}
		if f.nalus, err = f.params.AccessUnit(f.nalus[:0], fr.Payload); err != nil {
			return fmt.Errorf("rtsp: %w", err)
		}
		m = f.video
		pkts, err = f.venc.Encode(f.nalus, fr.PTS)
		clear(f.nalus)
	case fr.Track.Codec == relay.CodecAAC && f.audio != nil:
		m = f.audio
		pkts, err = f.aenc.Encode([][]byte{fr.Payload}, fr.PTS)
	default:
		return nil // a track the SDP does not have
	}
	if err != nil {
		return fmt.Errorf("rtsp packetize %s: %w", fr.Track.Codec, err)
	}
	if err := f.waitHolds(ctx); err != nil {
		return err
	}
	ntp := f.epoch.Add(fr.PTS)
	f.mu.Lock()
	defer f.mu.Unlock()
	if fr.Key && m == f.video {
		clear(f.replay)
		f.replay = f.replay[:0]
	}
	for _, p := range pkts {
		f.stream.WritePacketRTPWithNTP(m, p, ntp)
		if len(f.replay) < maxReplay {
			f.replay = append(f.replay, replayPacket{m, p})
		}
	}
	return nil
}

// join sends the current GOP to a session that is about to start playing, so its first
// picture comes at once instead of at the next keyframe. gortsplib makes the session live
// only after OnPlay returns; until the PLAY response goes out (unhold) the feed holds back
// new packets, so the session gets neither a gap nor a packet twice.
func (f *feed) join(ss *gortsplib.ServerSession) {
	setup := map[*media.Media]bool{}
	for _, m := range ss.SetuppedMedias() {
		setup[m] = true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.replay) < maxReplay {
		for _, p := range f.replay {
			if setup[p.media] {
				ss.WritePacketRTP(p.media, p.pkt)
			}
		}
	}
	if f.holds == 0 {
		f.release = make(chan struct{})
	}
	f.holds++
}

// unhold ends a hold taken by join.
func (f *feed) unhold() {
	f.mu.Lock()
	defer f.mu.Unlock()
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
