package srt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"

	gosrt "github.com/datarhei/gosrt"

	"github.com/relaycast/relaycast/access"
	"github.com/relaycast/relaycast/format"
	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/session"
)

// payloadSize is the media bytes of one SRT packet: seven MPEG-TS packets, what every SRT
// player expects (libsrt's live mode default).
const payloadSize = 7 * 188

// muxer is the one reader of a relay stream for SRT: it turns frames into MPEG-TS, once,
// and publishes each frame's packets as a frame of a derived relay stream that every SRT
// reader reads.
type muxer struct {
	out *relay.Publisher

	ts           *format.TSFramer
	video, audio *relay.Track // source tracks of track
	track        *relay.Track // derived track
}

func (s *Server) newMuxer(src *relay.Stream, tracks []*relay.Track, out *relay.Publisher) (*muxer, error) {
	for _, t := range tracks {
		if !format.TSCarries(t.Codec) {
			s.log.Info("track not sent to SRT readers: MPEG-TS carries no "+t.Codec.String(), "path", src.Path(), "codec", t.Codec)
		}
	}
	ts, err := format.NewTSFramer(tracks)
	if err != nil {
		return nil, fmt.Errorf("srt mpegts: %w", err)
	}
	return &muxer{out: out, ts: ts}, nil
}

// Frame muxes one source frame into the packets of one derived frame (relay.Deriver).
func (m *muxer) Frame(_ context.Context, f *relay.Frame) error {
	b, err := m.ts.Frame(f)
	if err != nil || len(b) == 0 {
		return err
	}
	if video, audio := m.ts.Tracks(); m.track == nil || video != m.video || audio != m.audio {
		m.video, m.audio = video, audio
		info := relay.Track{Codec: relay.CodecMPEGTS}
		if video != nil {
			info.Width, info.Height = video.Width, video.Height
		}
		if audio != nil {
			info.SampleRate, info.Channels = audio.SampleRate, audio.Channels
		}
		m.track = &info
	}
	key := f.Key && f.Track.Codec.IsVideo() || m.video == nil
	return m.out.WriteFrame(&relay.Frame{Track: m.track, DTS: f.DTS, PTS: f.PTS, Key: key, Payload: bytes.Clone(b)})
}

// read serves one SRT reader: the stream's MPEG-TS from the latest keyframe (program tables
// first), as it is made.
func (s *Server) read(req gosrt.ConnRequest, id StreamID) {
	src, err := s.relays.Demand(context.Background(), id.Path, id.Key)
	if err != nil {
		s.refusals.Add("play", access.Reason(err))
		req.Reject(gosrt.REJX_NOTFOUND)
		return
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	m, err := s.muxers.Get(ctx, src)
	if err != nil {
		s.refusals.Add("play", access.Reason(err))
		s.log.Warn("read refused", "path", id.Path, "err", err)
		req.Reject(gosrt.REJX_NOTFOUND)
		return
	}
	reader := m.Stream().NewReader()
	defer reader.Close()
	conn, err := s.accept(req)
	if err != nil {
		s.log.Warn("read failed", "path", id.Path, "err", err)
		return
	}
	defer s.forget(conn)
	v := s.cfg.Sessions.Join(s.viewerLog, session.Info{Protocol: "srt", Path: id.Path, Remote: conn.RemoteAddr().String(),
		Transport: "MPEG-TS"}, reader.Dropped, func() { cancel(session.ErrKicked) })
	done := make(chan struct{})
	defer func() { <-done }()
	go func() { // a reader sends nothing; this notices it hang up
		defer close(done)
		b := make([]byte, 1500)
		for {
			if _, err := conn.Read(b); err != nil {
				cancel(session.ErrLeft)
				return
			}
		}
	}()
	err = send(ctx, conn, reader, v.Session)
	if cause := context.Cause(ctx); cause != nil && errors.Is(err, context.Canceled) {
		err = cause
	}
	conn.Close() // ends the goroutine above
	v.Leave(err, "link", linkStats(conn))
}

// send writes each MPEG-TS frame in packets of payloadSize bytes, the GOP the reader starts
// with paced (relay.CatchUp: gosrt sends what it is given at once). gosrt queues them without
// blocking and fails when its queue is full: a reader that far behind is dropped.
func send(ctx context.Context, conn gosrt.Conn, reader *relay.Reader, sess *session.Session) error {
	pace := relay.CatchUp{Speed: 2}
	for {
		f, err := reader.Next(ctx)
		if err != nil {
			return err
		}
		if err := pace.Wait(ctx, f.DTS); err != nil {
			return err
		}
		for b := f.Payload; len(b) > 0; {
			n := min(len(b), payloadSize)
			if _, err := conn.Write(b[:n]); err != nil {
				return fmt.Errorf("%w: the send queue is full or the connection closed", relay.ErrTooSlow)
			}
			sess.AddOut(n)
			b = b[n:]
		}
	}
}

// linkStats sums up how the network treated a connection, for its leave line: what an
// operator reads first when a viewer or publisher on a lossy uplink complains.
func linkStats(conn gosrt.Conn) slog.Value {
	var st gosrt.Statistics
	conn.Stats(&st)
	a := st.Accumulated
	return slog.GroupValue(
		slog.Uint64("sent", a.PktSent), slog.Uint64("retransmitted", a.PktRetrans), slog.Uint64("naks_in", a.PktRecvNAK),
		slog.Uint64("send_dropped", a.PktSendDrop), slog.Uint64("received", a.PktRecv), slog.Uint64("lost", a.PktRecvLoss),
		slog.Uint64("recv_dropped", a.PktRecvDrop), slog.Float64("rtt_ms", st.Instantaneous.MsRTT))
}
