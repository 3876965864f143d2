package webrtc

import (
	"context"
	"errors"
	"sync"

	pwebrtc "github.com/pion/webrtc/v4"
)

// peer is a WebRTC session: a WHEP viewer or a WHIP publisher.
type peer interface {
	Path() string
	// run serves the peer until it ends, one of remote
	run(remote string)
	end(reason error)
	ice() (*pwebrtc.PeerConnection, *iceSession)
}

// link is what viewers and publishers share of their peer connection's life: its ICE
// session as PATCH sees it, its connection, and its end.
type link struct {
	iceSession
	connected chan struct{} // closed once the peer connection is up
	once      sync.Once
	ctx       context.Context // done when the peer ends, with why as its cause
	stop      context.CancelCauseFunc
}

func (l *link) init() {
	l.connected = make(chan struct{})
	l.ctx, l.stop = context.WithCancelCause(context.Background())
}

// onState is the peer connection's state handler; left is why a closed one ended.
func (l *link) onState(left error) func(pwebrtc.PeerConnectionState) {
	return func(st pwebrtc.PeerConnectionState) {
		switch st {
		case pwebrtc.PeerConnectionStateConnected:
			l.once.Do(func() { close(l.connected) })
		case pwebrtc.PeerConnectionStateFailed:
			l.stop(errors.New("the peer stopped answering (ICE failed)"))
		case pwebrtc.PeerConnectionStateClosed:
			l.stop(left)
		}
	}
}
