package push

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	gosrt "github.com/datarhei/gosrt"
	"github.com/pion/rtp"

	"github.com/relaycast/relaycast/ingest"
	"github.com/relaycast/relaycast/internal/rtmpclient"
	"github.com/relaycast/relaycast/relay"
)

// readTimeout bounds how long a pulled connection may send nothing before it is taken for
// dead and reconnected.
const readTimeout = 10 * time.Second

// errSourceEnded is a source's news that its stream ended (RTMP UnpublishNotify, StreamEOF).
var errSourceEnded = errors.New("the source's stream ended")

// pull connects to u and writes what it sends to out until the connection ends; it returns
// nil only when ctx ended.
func pull(ctx context.Context, u *url.URL, out ingest.FrameWriter, log *slog.Logger) error {
	var err error
	switch u.Scheme {
	case "rtmp", "rtmps":
		err = pullRTMP(ctx, u, out, log)
	case "rtsp", "rtsps":
		err = pullRTSP(ctx, u, out, log)
	case "srt":
		err = pullSRT(ctx, u, out, log)
	case "http", "https":
		err = pullHLS(ctx, u, out, log)
	default:
		err = fmt.Errorf("%s: pulls are rtmp://, rtmps://, rtsp://, rtsps://, srt:// or http(s)://…/index.m3u8", u.Scheme)
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// enhancedFourCCs are the codecs a pull asks an RTMP server for besides H.264 and AAC.
var enhancedFourCCs = []string{"hvc1", "av01", "vp09", "Opus"}

func pullRTMP(ctx context.Context, u *url.URL, out ingest.FrameWriter, log *slog.Logger) error {
	p, err := rtmpclient.Play(ctx, u.String(), rtmpclient.Options{FourCCs: enhancedFourCCs})
	if err != nil {
		return err
	}
	defer p.Close()
	defer context.AfterFunc(ctx, p.Close)()
	x := ingest.NewFLV(out)
	x.OnClockJump = ingest.LogClockJump(log)
	for {
		_ = p.Conn().SetReadDeadline(time.Now().Add(readTimeout))
		m, err := p.Next()
		if err != nil {
			return fmt.Errorf("rtmp pull: %w", err)
		}
		switch m.Kind {
		case rtmpclient.Status:
			switch {
			case m.Code == "NetStream.Play.UnpublishNotify":
				return errSourceEnded
			case m.Level == "error" || m.Code == "NetStream.Play.StreamNotFound" || m.Code == "NetStream.Play.Failed":
				return fmt.Errorf("rtmp pull: %s", m.Code)
			}
		case rtmpclient.EOF:
			return errSourceEnded
		case rtmpclient.Data:
			if bytes.HasPrefix(m.Body, []byte("\x02\x00\x0aonMetaData")) {
				x.Metadata(bytes.Clone(m.Body))
			}
		case rtmpclient.Video:
			err = x.Video(m.Timestamp, m.Body)
		case rtmpclient.Audio:
			err = x.Audio(m.Timestamp, m.Body)
		}
		if err != nil && !errors.Is(err, ingest.ErrUnsupported) {
			return fmt.Errorf("rtmp pull: %w", err)
		}
	}
}

func pullRTSP(ctx context.Context, u *url.URL, out ingest.FrameWriter, log *slog.Logger) error {
	bu, err := base.ParseURL(u.String())
	if err != nil {
		return fmt.Errorf("rtsp pull: %w", err)
	}
	// No protocol set: gortsplib tries UDP and falls back to TCP when no packet comes.
	c := &gortsplib.Client{Scheme: bu.Scheme, Host: bu.Host, ReadTimeout: readTimeout}
	quietRTSP(c, log)
	if err := c.Start(); err != nil {
		return fmt.Errorf("rtsp pull: %w", err)
	}
	defer c.Close()
	defer context.AfterFunc(ctx, c.Close)()
	desc, _, err := c.Describe(bu)
	if err != nil {
		return fmt.Errorf("rtsp pull: %w", err)
	}
	il := ingest.NewInterleaver(out)
	il.OnClockJump = ingest.LogClockJump(log)
	var (
		mu      sync.Mutex
		failure error
	)
	fail := func(err error) {
		mu.Lock()
		if failure == nil {
			failure = err
		}
		mu.Unlock()
		go c.Close() // not from a packet callback, which Close waits for
	}
	carried := 0
	for _, m := range desc.Medias {
		for _, f := range m.Formats {
			if _, err := ingest.NewRTPMedia(f, nil); err != nil {
				continue
			}
			media, err := ingest.NewRTPMedia(f, il.Track())
			if err != nil {
				continue
			}
			if _, err := c.Setup(desc.BaseURL, m, 0, 0); err != nil {
				return fmt.Errorf("rtsp pull: setup %s: %w", f.Codec(), err)
			}
			c.OnPacketRTP(m, f, func(pkt *rtp.Packet) {
				pts, ok := c.PacketPTS(m, pkt)
				if !ok {
					return
				}
				if err := media.Packet(pkt, pts); err != nil {
					fail(err)
				}
			})
			carried++
			break
		}
	}
	if carried == 0 {
		return fmt.Errorf("rtsp pull: %w", ingest.ErrNoTracks)
	}
	if _, err := c.Play(nil); err != nil {
		return fmt.Errorf("rtsp pull: %w", err)
	}
	err = c.Wait()
	mu.Lock()
	defer mu.Unlock()
	if failure != nil {
		err = failure
	}
	return fmt.Errorf("rtsp pull: %w", err)
}

func pullSRT(ctx context.Context, u *url.URL, out ingest.FrameWriter, log *slog.Logger) error {
	cfg := gosrt.DefaultConfig()
	addr, err := cfg.UnmarshalURL(u.String())
	if err != nil {
		return fmt.Errorf("srt pull: %w", err)
	}
	conn, err := gosrt.Dial("srt", addr, cfg)
	if err != nil {
		return fmt.Errorf("srt pull: %w", err)
	}
	defer conn.Close()
	defer context.AfterFunc(ctx, func() { conn.Close() })()
	_ = conn.SetReadDeadline(time.Now().Add(readTimeout))
	x, err := ingest.NewMPEGTS(deadlined{conn}, out)
	if err != nil {
		return fmt.Errorf("srt pull: %w", err)
	}
	x.Live = true
	x.OnClockJump = ingest.LogClockJump(log)
	for {
		if err := x.Read(); err != nil {
			return fmt.Errorf("srt pull: %w", err)
		}
	}
}

// quietRTSP sends what gortsplib's client would print to the standard logger to log.
func quietRTSP(c *gortsplib.Client, log *slog.Logger) {
	c.OnTransportSwitch = func(err error) { log.Info("rtsp: transport switched", "why", err) }
	c.OnPacketsLost = func(lost uint64) { log.Debug("rtsp: RTP packets lost", "lost", lost) }
	c.OnDecodeError = func(err error) { log.Debug("rtsp: input skipped", "err", err) }
}

// pullHLS plays an HLS stream (MPEG-TS or fMP4 segments, LL-HLS parts) with gohlslib's
// client, which paces it in real time from a few segments before the live edge.
func pullHLS(ctx context.Context, u *url.URL, out ingest.FrameWriter, log *slog.Logger) error {
	failed := make(chan error, 1)
	fail := func(err error) {
		select {
		case failed <- err:
		default:
		}
	}
	var c *gohlslib.Client
	quiet := func(string) {} // gohlslib logs every download by default
	c = &gohlslib.Client{URI: u.String(), HTTPClient: &http.Client{Timeout: readTimeout},
		OnDownloadPrimaryPlaylist: quiet, OnDownloadStreamPlaylist: quiet, OnDownloadSegment: quiet, OnDownloadPart: quiet,
		OnDecodeError: func(err error) { log.Debug("hls source: input skipped", "err", err) },
		OnTracks: func(tracks []*gohlslib.Track) error {
			_, err := ingest.NewHLS(c, tracks, out, fail)
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

// deadlined renews a connection's read deadline at every read.
type deadlined struct{ gosrt.Conn }

func (d deadlined) Read(b []byte) (int, error) {
	_ = d.Conn.SetReadDeadline(time.Now().Add(readTimeout))
	return d.Conn.Read(b)
}

// lazyPublisher publishes on a path at the first frame a source sends, so a source that
// answers with nothing leaves the path free (and its viewers waiting for another origin).
type lazyPublisher struct {
	open func() (*relay.Publisher, error)
	pub  *relay.Publisher
	err  error
	meta []byte
}

func (l *lazyPublisher) WriteFrame(f *relay.Frame) error {
	if l.pub == nil && l.err == nil {
		l.pub, l.err = l.open()
		if l.pub != nil && l.meta != nil {
			l.pub.SetMetadata(l.meta)
		}
	}
	if l.err != nil {
		return l.err
	}
	return l.pub.WriteFrame(f)
}

func (l *lazyPublisher) SetMetadata(b []byte) {
	if l.pub != nil {
		l.pub.SetMetadata(b)
		return
	}
	l.meta = b
}

// close ends the publish, if it began, and reports whether it did.
func (l *lazyPublisher) close() bool {
	if l.pub == nil {
		return false
	}
	l.pub.Close()
	return true
}
