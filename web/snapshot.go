package web

import (
	"net/http"
	"strconv"

	"github.com/relaycast/relaycast/relay"
)

// snapshots serves /APP/NAME/snapshot.jpg[?width=N]: the stream's latest keyframe as a
// JPEG, made at most once a second whatever the number of requests.
type snapshots struct {
	streams StreamLister
	maker   Snapshotter
}

// maxSnapshotWidth bounds ?width=: a thumbnail, or the picture as it is.
const maxSnapshotWidth = 3840

func (sn snapshots) ServeMedia(w http.ResponseWriter, r *http.Request, path string) error {
	width := 0
	if v := r.URL.Query().Get("width"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 16 || n > maxSnapshotWidth {
			http.Error(w, "width: a number of pixels from 16 to 3840", http.StatusBadRequest)
			return nil
		}
		width = n &^ 1 // even, as the encoder needs
	}
	var stream *relay.Stream
	for _, s := range sn.streams.Streams() {
		if s.Path() == path {
			stream = s
		}
	}
	if stream == nil {
		return relay.ErrNotFound
	}
	jpeg, at, err := sn.maker.JPEG(r.Context(), stream, width)
	if r.Context().Err() != nil {
		return nil // the client left
	}
	if err != nil {
		http.Error(w, "no picture: "+err.Error(), http.StatusServiceUnavailable)
		return nil
	}
	h := w.Header()
	h.Set("Content-Type", "image/jpeg")
	h.Set("Cache-Control", "public, max-age=1")
	h.Set("Last-Modified", at.UTC().Format(http.TimeFormat))
	h.Set("Content-Length", strconv.Itoa(len(jpeg)))
	_, _ = w.Write(jpeg)
	return nil
}
