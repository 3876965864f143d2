package relay

import (
	"errors"
	"time"
)

// StoredPrefix is where stored media are, on every protocol: rtmp://HOST/vod/NAME,
// rtsp://HOST:8554/vod/NAME, http://HOST:8080/vod/NAME.
const StoredPrefix = "vod/"

// WindowPrefix names a live path's DVR window among stored media: vod/dvr/APP/NAME.
const WindowPrefix = "dvr/"

// StoredMedia plays stored media to viewers (vod.Player is one). Each viewer gets a stream of
// its own, paced in real time from the keyframe at or before where it starts, and a Control
// of it; every protocol drives it the same way.
type StoredMedia interface {
	// Describe returns the tracks and length of media name without playing it (an RTSP
	// DESCRIBE, an RTMP onMetaData).
	Describe(name string) ([]*Track, time.Duration, error)
	// Open plays name to one viewer from the keyframe at or before start. The reader exists
	// before the first frame is written, so it gets every frame however late it reads.
	Open(name string, start time.Duration) (*Reader, Control, error)
}

// ErrNoTime is a time stored media has nothing at: before or after it, or a wall-clock time
// of media not on the wall clock.
var ErrNoTime = errors.New("no media at that time")

// ClockedMedia is stored media on the wall clock (a live path's DVR window): it opens by
// wall-clock time too, from the keyframe at or before at, and says when its time zero was:
// the stream's time t was shown at zero+t.
type ClockedMedia interface {
	OpenAt(name string, at time.Time) (r *Reader, c Control, zero time.Time, err error)
}

// Control is a viewer's hold on media played to it alone (a stored file; a live stream's
// past next): where its stream is in the media, seeking and pausing. Seek and Pause are
// called by the goroutine that reads the viewer's reader.
type Control interface {
	// Start is the media time of the stream's zero: the keyframe playback started from.
	// A Seek keeps the stream on the media's timeline, so it stays the same.
	Start() time.Duration
	// Duration is the media's length.
	Duration() time.Duration
	// Seek moves playback to the keyframe at or before t, dropping what the reader has not
	// read yet, and returns that keyframe's time. It fails with ErrEnded once the media
	// has played to its end.
	Seek(t time.Duration) (time.Duration, error)
	// Pause holds playback until the next Seek; what was sent ahead still arrives.
	Pause() error
	// Close ends the playback and its stream. It is idempotent.
	Close()
}
