package rtsp

import (
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/description"

	"github.com/relaycast/relaycast/session"
)

// connState is what the server keeps of one RTSP connection, in its gortsplib user data (set at
// OnConnOpen, before any request). Its fields are guarded by the server's mu: a feed, a
// tcpViewer and the handlers of the connection's sessions reach them from other goroutines.
type connState struct {
	join   *joining   // a PLAY until its response: the feed it holds back
	detach *detaching // a TCP PLAY whose viewer takes the connection at the response
	// the interleaved channel of each media a TCP session set up, from the SETUP responses
	channels map[*description.Media]int
	// the length of the stored file a DESCRIBE is answered with (describing: one is)
	describing  bool
	length      time.Duration
	liveOptions bool // an OPTIONS of a live path is being answered
}

// sessionState is what the server keeps of one RTSP session, in its gortsplib user data (set
// at OnSessionOpen, before its first SETUP or ANNOUNCE). Its fields are guarded by the
// server's mu.
type sessionState struct {
	playing *session.Session // its entry in the book, once it plays
	lagging bool             // told of a full write queue
	rec     *recording       // a publisher's (record.go)
	stored  *storedSession   // a viewer's of a stored file (stored.go)
}

// OnConnOpen implements gortsplib.ServerHandlerOnConnOpen.
func (s *Server) OnConnOpen(ctx *gortsplib.ServerHandlerOnConnOpenCtx) {
	ctx.Conn.SetUserData(&connState{})
}

// OnSessionOpen implements gortsplib.ServerHandlerOnSessionOpen.
func (s *Server) OnSessionOpen(ctx *gortsplib.ServerHandlerOnSessionOpenCtx) {
	ctx.Session.SetUserData(&sessionState{})
}

// connOf returns sc's state.
func connOf(sc *gortsplib.ServerConn) *connState { return sc.UserData().(*connState) }

// stateOf returns ss's state.
func stateOf(ss *gortsplib.ServerSession) *sessionState { return ss.UserData().(*sessionState) }
