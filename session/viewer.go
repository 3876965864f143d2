package session

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"syscall"

	"github.com/relaycast/relaycast/relay"
)

// ErrLeft is a viewer that hung up or asked to stop: the usual end of a viewer.
var ErrLeft = errors.New("viewer left")

// Reason is how a leave line names why a viewer ended: "viewer left" for one that hung up
// (nil, ErrLeft, its request cancelled, its connection closed or reset by the peer),
// "stream ended" when its stream did, and the error itself otherwise (too slow, kicked).
func Reason(err error) string {
	switch {
	case err == nil, errors.Is(err, ErrLeft), errors.Is(err, context.Canceled), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "viewer left"
	case errors.Is(err, relay.ErrEnded):
		return "stream ended"
	}
	return err.Error()
}

// Viewer is one viewer's entry in the book with its join and leave lines: the ceremony every
// protocol's viewers go through, in one place.
type Viewer struct {
	*Session
	log     *slog.Logger
	dropped func() uint64
}

// Join enters a viewer in the book (Kind Read) and logs "viewer join" with info's path,
// protocol, remote and transport. dropped counts the frames it missed for falling behind
// (its relay reader's); kick ends it when the book is asked to (the control API).
func (t *Table) Join(log *slog.Logger, info Info, dropped func() uint64, kick func()) *Viewer {
	info.Kind = Read
	s := t.Open(info)
	s.CountFrom(func() Counts { return Counts{Dropped: dropped()} })
	s.OnKick(kick)
	attrs := []any{"path", info.Path, "protocol", info.Protocol, "remote", info.Remote}
	if info.Transport != "" {
		attrs = append(attrs, "transport", info.Transport)
	}
	v := &Viewer{Session: s, log: log.With(attrs...), dropped: dropped}
	v.log.Info("viewer join")
	return v
}

// Leave takes the viewer out of the book, err being why it ended, and logs "viewer leave"
// with the frames it dropped, the Reason and attrs.
func (v *Viewer) Leave(err error, attrs ...any) {
	v.Close(err)
	v.log.Info("viewer leave", append([]any{"dropped_frames", v.dropped(), "reason", Reason(err)}, attrs...)...)
}
