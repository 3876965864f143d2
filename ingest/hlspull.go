package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/bluenviron/gohlslib/v2"
)

// hlsTimeout bounds each request of an HLS pull.
const hlsTimeout = 10 * time.Second

// PullHLS plays the HLS stream at u (MPEG-TS or fMP4 segments, LL-HLS parts) with gohlslib's
// client, which paces it in real time from a few segments before the live edge, and writes
// its frames to out until it fails or ctx ends: a link's pull of http(s)://…/index.m3u8.
func PullHLS(ctx context.Context, u *url.URL, out FrameWriter, log *slog.Logger) error {
	failed := make(chan error, 1)
	fail := func(err error) {
		select {
		case failed <- err:
		default:
		}
	}
	var c *gohlslib.Client
	quiet := func(string) {} // gohlslib logs every download by default
	c = &gohlslib.Client{URI: u.String(), HTTPClient: &http.Client{Timeout: hlsTimeout},
		OnDownloadPrimaryPlaylist: quiet, OnDownloadStreamPlaylist: quiet, OnDownloadSegment: quiet, OnDownloadPart: quiet,
		OnDecodeError: func(err error) { log.Debug("hls source: input skipped", "err", err) },
		OnTracks: func(tracks []*gohlslib.Track) error {
			_, err := NewHLS(c, tracks, out, fail)
			return err
		}}
	if err := c.Start(); err != nil {
		return fmt.Errorf("hls pull: %w", err)
	}
	defer c.Close()
	select {
	case err := <-c.Wait():
		return fmt.Errorf("hls pull: %w", err)
	case err := <-failed:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
