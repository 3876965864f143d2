// Package ertmpclient publishes relay frames over enhanced RTMP with gortmplib, as OBS 30
// does H.265, AV1 and VP9: for tests and the load tool.
package ertmpclient

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/bluenviron/gortmplib"
	rtmpcodecs "github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	mopus "github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/relay"
)

// URL turns rtmp://HOST/APP/NAME into gortmplib's form, rtmp://HOST/APP#NAME.
func URL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	app, name, found := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if found {
		u.Path, u.Fragment = "/"+app, name
	}
	return u, nil
}

// Publish publishes frames (H.265, AV1 or VP9; AAC or Opus) to rawURL, looped in real time
// until ctx ends (nil) or the server hangs up (its error). published, when set, is closed
// once the tracks are announced; sent, when set, hears each video frame as it goes out.
func Publish(ctx context.Context, rawURL string, frames []*relay.Frame, published chan<- struct{}, sent func(*relay.Frame)) error {
	u, err := URL(rawURL)
	if err != nil {
		return err
	}
	c := &gortmplib.Client{URL: u, Publish: true}
	if err := c.Initialize(ctx); err != nil {
		return err
	}
	defer c.Close()
	vt, at, nal := tracks(frames)
	w := &gortmplib.Writer{Conn: c, Tracks: []*gortmplib.Track{vt, at}}
	if err := w.Initialize(); err != nil {
		return err
	}
	if published != nil {
		close(published)
	}
	span := frames[len(frames)-1].DTS - frames[0].DTS + 33*time.Millisecond
	start := time.Now()
	for loop := time.Duration(0); ; loop++ {
		for _, f := range frames {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Until(start.Add(f.DTS + loop*span))):
			}
			if sent != nil && f.Track.Codec.IsVideo() {
				sent(f)
			}
			pts, dts := f.PTS+loop*span, f.DTS+loop*span
			var err error
			switch f.Track.Codec {
			case relay.CodecH265:
				au, _ := nal.AccessUnit(nil, f.Payload)
				err = w.WriteH265(vt, pts, dts, au)
			case relay.CodecAV1:
				tu, _ := codec.AV1Units(f.Payload)
				err = w.WriteAV1(vt, pts, tu)
			case relay.CodecVP9:
				err = w.WriteVP9(vt, pts, f.Payload)
			case relay.CodecAAC:
				err = w.WriteMPEG4Audio(at, pts, f.Payload)
			case relay.CodecOpus:
				err = w.WriteOpus(at, pts, f.Payload)
			}
			if err != nil {
				return err
			}
		}
	}
}

// tracks are gortmplib's tracks of the frames' first video and audio tracks.
func tracks(frames []*relay.Frame) (video, audio *gortmplib.Track, nal codec.NALConfig) {
	for _, f := range frames {
		switch {
		case f.Track.Codec == relay.CodecH265 && video == nil:
			nal, _ = codec.ParseNALConfig(f.Track)
			ps := nal.Params()
			video = &gortmplib.Track{Codec: &rtmpcodecs.H265{VPS: ps[0], SPS: ps[1], PPS: ps[2]}}
		case f.Track.Codec == relay.CodecAV1 && video == nil:
			video = &gortmplib.Track{Codec: &rtmpcodecs.AV1{}}
		case f.Track.Codec == relay.CodecVP9 && video == nil:
			video = &gortmplib.Track{Codec: &rtmpcodecs.VP9{}}
		case f.Track.Codec == relay.CodecAAC && audio == nil:
			var asc mpeg4audio.AudioSpecificConfig
			_ = asc.Unmarshal(f.Track.Config)
			audio = &gortmplib.Track{Codec: &rtmpcodecs.MPEG4Audio{Config: &asc}}
		case f.Track.Codec == relay.CodecOpus && audio == nil:
			audio = &gortmplib.Track{Codec: &rtmpcodecs.Opus{IDHeader: &mopus.IDHeader{Version: 1,
				ChannelCount: uint8(f.Track.Channels), PreSkip: 312, InputSampleRate: 48000}}}
		}
	}
	return video, audio, nal
}
