package srt

import (
	"errors"
	"fmt"
	"io"
	"time"

	gosrt "github.com/datarhei/gosrt"

	"github.com/relaycast/relaycast/access"
	"github.com/relaycast/relaycast/ingest"
	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/session"
)

// publish makes the caller the path's publisher, as an RTMP one would be (a second one is
// refused; one that takes over within the grace window keeps the viewers), and demuxes its
// MPEG-TS into the stream until it leaves.
func (s *Server) publish(req gosrt.ConnRequest, id StreamID) {
	pub, err := s.relays.Publish(id.Path)
	if err != nil {
		s.refusals.Add("publish", access.Reason(err))
		s.log.Warn("publish refused", "path", id.Path, "remote", req.RemoteAddr(), "err", err)
		reason := gosrt.REJX_OVERLOAD
		if errors.Is(err, relay.ErrAlreadyPublishing) {
			reason = gosrt.REJX_CONFLICT
		}
		req.Reject(reason)
		return
	}
	defer pub.Close()
	pub.SetProtocol("srt")
	conn, err := s.accept(req)
	if err != nil {
		s.log.Warn("publish failed", "path", id.Path, "err", err)
		return
	}
	defer s.forget(conn)
	sess := s.cfg.Sessions.Open(session.Info{Protocol: "srt", Kind: session.Publish, Path: id.Path,
		Remote: conn.RemoteAddr().String(), Transport: "MPEG-TS"})
	sess.OnKick(func() { conn.Close() })
	log := s.log.With("path", id.Path, "remote", sess.Remote)
	log.Info("publish start")
	err = s.demux(conn, pub, sess, log)
	sess.Close(err)
	log.Info("publish end", "reason", err, "link", linkStats(conn))
}

// demux reads the caller's MPEG-TS into pub; it returns why it stopped.
func (s *Server) demux(conn gosrt.Conn, pub *relay.Publisher, sess *session.Session, log interface {
	Info(string, ...any)
	Warn(string, ...any)
}) error {
	idle := time.AfterFunc(s.cfg.IdleTimeout, func() { conn.Close() })
	defer idle.Stop()
	in := &input{conn: conn, sess: sess, idle: idle, timeout: s.cfg.IdleTimeout}
	x, err := ingest.NewMPEGTS(in, pub)
	if err != nil {
		err = fmt.Errorf("srt publish %s: %w", pub.Stream().Path(), in.why(err))
		log.Warn("publisher refused", "err", err)
		return err
	}
	x.Live = true
	x.OnClockJump = ingest.LogClockJump(log)
	if skipped := x.Skipped(); len(skipped) > 0 {
		log.Info("publisher tracks not carried", "tracks", skipped)
	}
	decodeErrs := 0
	x.OnDecodeError = func(err error) {
		if decodeErrs++; decodeErrs <= 3 { // a damaged input says so, not once per packet
			log.Warn("publisher input skipped", "err", err)
		}
	}
	for {
		if err := x.Read(); err != nil {
			return in.why(err)
		}
	}
}

// input is the publisher's connection as the demuxer reads it: counted, and closed by the
// idle timer when no data comes.
type input struct {
	conn     gosrt.Conn
	sess     *session.Session
	idle     *time.Timer
	timeout  time.Duration
	lastRead time.Time
}

func (in *input) Read(b []byte) (int, error) {
	n, err := in.conn.Read(b)
	if n > 0 {
		in.sess.AddIn(n)
		in.idle.Reset(in.timeout)
		in.lastRead = time.Now()
	}
	return n, err
}

// why turns the end of the connection into a reason a person reads.
func (in *input) why(err error) error {
	if errors.Is(err, io.EOF) && !in.lastRead.IsZero() && time.Since(in.lastRead) >= in.timeout {
		return fmt.Errorf("no media for %v", in.timeout)
	}
	if errors.Is(err, io.EOF) {
		return errors.New("caller left")
	}
	return err
}
