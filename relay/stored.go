package relay

import "time"

// StoredPrefix is where stored media are, on every protocol: rtmp://HOST/vod/NAME,
// rtsp://HOST:8554/vod/NAME, http://HOST:8080/vod/NAME.
const StoredPrefix = "vod/"

// StoredMedia plays stored media to one viewer (vod.Player is one): a reader of a stream of
// the viewer's own, paced in real time from the keyframe at or before a position, ended at
// the file's end or by stop, which the viewer's protocol seeks in and pauses. Every protocol
// drives it the same way.
type StoredMedia interface {
	// Tracks returns the file's tracks and duration.
	Tracks(name string) ([]*Track, time.Duration, error)
	// KeyframeBefore is the file's time where Play(name, t) starts, its stream's zero.
	KeyframeBefore(name string, t time.Duration) (time.Duration, error)
	Play(name string, start time.Duration) (reader *Reader, stop func(), err error)
	// Seek moves r's playback to the keyframe at or before t, dropping what r has not read
	// yet, and returns the keyframe's time; r's goroutine calls it.
	Seek(r *Reader, t time.Duration) (time.Duration, error)
	// Pause holds r's playback until the next Seek.
	Pause(r *Reader) error
}
