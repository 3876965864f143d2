package relay

import "errors"

var (
	// ErrNotFound is returned for a path that has no live stream.
	ErrNotFound = errors.New("stream not found")
	// ErrAlreadyPublishing is returned when a path already has a publisher.
	ErrAlreadyPublishing = errors.New("stream is already being published")
	// ErrEnded is returned to readers once the stream has ended for good.
	ErrEnded = errors.New("stream ended")
	// ErrTooSlow is returned to a reader that kept falling behind after skipping ahead.
	ErrTooSlow = errors.New("reader too slow: kept falling behind the live edge")
	// ErrClosed is returned after the registry has been closed.
	ErrClosed = errors.New("relay closed")
	// ErrTooManyStreams is returned when a new stream would pass Config.MaxStreams.
	ErrTooManyStreams = errors.New("too many live streams")
	// ErrInvalidPath is returned for a stream path that is not of the form app/name.
	ErrInvalidPath = errors.New("invalid stream path")
)
