package rtsp

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/pion/rtp"

	"github.com/relaycast/relaycast/access"
	"github.com/relaycast/relaycast/ingest"
	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/session"
)

// recording is one RTSP publisher (ANNOUNCE, SETUP, RECORD): its packets are depacketized
// once, by gortsplib's decoders, into the relay stream it publishes.
type recording struct {
	pub    *relay.Publisher
	sess   *session.Session
	frames *ingest.Interleaver
}

// OnAnnounce implements gortsplib.ServerHandlerOnAnnounce: the publisher's key (?key= or the
// password of user relaycast) and its tracks are checked before it may set up.
func (s *Server) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	path := relayPath(ctx.Path)
	if err := relay.ValidatePath(path); err != nil {
		s.refusals.Add("publish", access.Reason(err))
		return &base.Response{StatusCode: base.StatusBadRequest}, fmt.Errorf("rtsp announce %s: %w", path, err)
	}
	if s.cfg.Access != nil {
		q, _ := url.ParseQuery(ctx.Query)
		r := access.Request{Protocol: "rtsp", Path: path, Addr: ctx.Conn.NetConn().RemoteAddr(), Query: q,
			Secret: func(key string) bool { return ctx.Conn.VerifyCredentials(ctx.Request, readUser, key) },
			Login:  func(user, pass string) bool { return ctx.Conn.VerifyCredentials(ctx.Request, user, pass) }}
		if err := s.cfg.Access.AllowPublish(context.Background(), r); err != nil {
			if _, tried := ctx.Request.Header["Authorization"]; tried || q.Has("key") {
				s.refusals.Add("publish", access.Reason(err))
				s.log.Warn("publish refused", "path", path, "protocol", "rtsp", "err", err)
			}
			return &base.Response{StatusCode: base.StatusUnauthorized}, liberrors.ErrServerAuth{}
		}
	}
	if supported(ctx.Description) == 0 {
		s.refusals.Add("publish", "unsupported_codec")
		return &base.Response{StatusCode: base.StatusUnsupportedMediaType},
			fmt.Errorf("rtsp announce %s: no track the server carries (H.264, H.265, AAC)", path)
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// supported counts the formats of desc that the relay carries.
func supported(desc *description.Session) int {
	n := 0
	for _, m := range desc.Medias {
		for _, f := range m.Formats {
			if _, err := ingest.NewRTPMedia(f, nil); err == nil {
				n++
			}
		}
	}
	return n
}

// OnRecord implements gortsplib.ServerHandlerOnRecord: the session becomes the path's
// publisher, as an RTMP one would (a second one is refused; one that takes over within the
// grace window keeps the viewers).
func (s *Server) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	path := relayPath(ctx.Path)
	pub, err := s.relays.Publish(path)
	if err != nil {
		s.refusals.Add("publish", access.Reason(err))
		s.log.Warn("publish refused", "path", path, "protocol", "rtsp", "err", err)
		status := base.StatusServiceUnavailable
		if errors.Is(err, relay.ErrAlreadyPublishing) {
			status = base.StatusBadRequest
		}
		return &base.Response{StatusCode: status}, fmt.Errorf("rtsp record %s: %w", path, err)
	}
	pub.SetProtocol("rtsp")
	ss := ctx.Session
	sess := s.cfg.Sessions.Open(session.Info{Protocol: "rtsp", Kind: session.Publish, Path: path,
		Remote: ctx.Conn.NetConn().RemoteAddr().String(), Transport: transportName(ss)})
	sess.CountFrom(func() session.Counts { return sessionCounts(ss) })
	sess.OnKick(ss.Close)
	log := s.log.With("path", path, "protocol", "rtsp")
	// Each media comes on RTP of its own, audio often well ahead of video: frames go out in
	// DTS order.
	il := ingest.NewInterleaver(pub)
	il.OnClockJump = ingest.LogClockJump(log)
	for _, m := range ss.AnnouncedDescription().Medias {
		for _, f := range m.Formats {
			if _, err := ingest.NewRTPMedia(f, nil); err != nil {
				log.Info("publisher track not carried", "codec", f.Codec(), "err", err)
				continue
			}
			media, err := ingest.NewRTPMedia(f, il.Track())
			if err != nil {
				log.Info("publisher track not carried", "codec", f.Codec(), "err", err)
				continue
			}
			ss.OnPacketRTP(m, f, s.onPacket(ss, m, f, media, log))
		}
	}
	s.mu.Lock()
	stateOf(ss).rec = &recording{pub: pub, sess: sess, frames: il}
	s.mu.Unlock()
	log.Info("publish start", "transport", transportName(ss), "remote", sess.Remote)
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// onPacket feeds one format's packets to its depacketizer; input it cannot take ends the
// publisher, with the reason in the log.
func (s *Server) onPacket(ss *gortsplib.ServerSession, m *description.Media, f format.Format, media ingest.RTPMedia,
	log interface{ Warn(string, ...any) }) func(*rtp.Packet) {
	return func(pkt *rtp.Packet) {
		pts, ok := ss.PacketPTS(m, pkt)
		if !ok {
			return // not yet synchronized with the other tracks
		}
		if err := media.Packet(pkt, pts); err != nil {
			if !errors.Is(err, relay.ErrEnded) {
				log.Warn("rtsp publisher dropped", "codec", f.Codec(), "err", err)
			}
			ss.Close()
		}
	}
}

// endRecording ends a publisher's session: its stream waits out the grace window.
func (s *Server) endRecording(ss *gortsplib.ServerSession, reason error) {
	st := stateOf(ss)
	s.mu.Lock()
	rec := st.rec
	st.rec = nil
	s.mu.Unlock()
	if rec == nil {
		return
	}
	_ = rec.frames.Flush()
	rec.pub.Close()
	rec.sess.Close(reason)
	why := "publisher left" // its connection closed: gortsplib says the session is not in use
	if reason != nil && !errors.As(reason, new(liberrors.ErrServerSessionNotInUse)) && !errors.As(reason, new(liberrors.ErrServerSessionTornDown)) {
		why = reason.Error()
	}
	s.log.Info("publish stop", "path", rec.sess.Path, "protocol", "rtsp", "reason", why)
}

// OnPacketsLost hears of RTP packets a publisher sent over UDP that never came (the
// depacketizers drop the pictures they belonged to). gortsplib would print each to the
// standard logger.
func (s *Server) OnPacketsLost(ctx *gortsplib.ServerHandlerOnPacketsLostCtx) {
	s.log.Debug("rtp packets lost", "path", ctx.Session.Path(), "lost", ctx.Lost)
}

// OnDecodeError hears of packets gortsplib could not read (gortsplib would print them).
func (s *Server) OnDecodeError(ctx *gortsplib.ServerHandlerOnDecodeErrorCtx) {
	s.log.Debug("rtp input skipped", "path", ctx.Session.Path(), "err", ctx.Error)
}
