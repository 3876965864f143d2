// Package ertmpclient publishes relay frames over enhanced RTMP with gortmplib, as OBS 30
// does H.265, AV1 and VP9: for tests and the load tool.
package ertmpclient

import (
	"cmp"
	"context"
	"net/url"
	"slices"
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

// dial connects to rawURL (rtmp://HOST/APP/NAME) to publish.
func dial(ctx context.Context, rawURL string) (*gortmplib.Client, error) {
	u, err := URL(rawURL)
	if err != nil {
		return nil, err
	}
	c := &gortmplib.Client{URL: u, Publish: true}
	if err := c.Initialize(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Publish publishes frames (H.265, AV1 or VP9; AAC or Opus) to rawURL, looped in real time
// until ctx ends (nil) or the server hangs up (its error). published, when set, is closed
// once the tracks are announced; sent, when set, hears each video frame as it goes out.
func Publish(ctx context.Context, rawURL string, frames []*relay.Frame, published chan<- struct{}, sent func(*relay.Frame)) error {
	c, err := dial(ctx, rawURL)
	if err != nil {
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

// PublishRenditions publishes an encoder's renditions of one source in one connection, as
// OBS's multitrack streaming does: renditions[i] are the H.264 pictures of track i (the
// same instants in each), audio the sound; looped in real time until ctx ends (nil) or the
// server hangs up.
func PublishRenditions(ctx context.Context, rawURL string, renditions [][]*relay.Frame, audio []*relay.Frame) error {
	c, err := dial(ctx, rawURL)
	if err != nil {
		return err
	}
	defer c.Close()
	var all []*gortmplib.Track
	nals := make([]codec.NALConfig, len(renditions))
	for i, r := range renditions {
		nal, err := codec.ParseNALConfig(r[0].Track)
		if err != nil {
			return err
		}
		ps := nal.Params()
		nals[i] = nal
		all = append(all, &gortmplib.Track{Codec: &rtmpcodecs.H264{SPS: ps[0], PPS: ps[1]}})
	}
	_, at, _ := tracks(audio)
	if at != nil {
		all = append(all, at)
	}
	w := &gortmplib.Writer{Conn: c, Tracks: all}
	if err := w.Initialize(); err != nil {
		return err
	}
	// one timeline of pictures (each instant in every track) and sound, in DTS order
	type event struct {
		at    time.Duration
		video int // index of the picture; -1: audio
		audio *relay.Frame
	}
	var events []event
	for i, f := range renditions[0] {
		events = append(events, event{at: f.DTS, video: i})
	}
	for _, f := range audio {
		events = append(events, event{at: f.DTS, video: -1, audio: f})
	}
	slices.SortStableFunc(events, func(a, b event) int { return cmp.Compare(a.at, b.at) })
	span := renditions[0][len(renditions[0])-1].DTS - renditions[0][0].DTS + 33*time.Millisecond
	start := time.Now()
	var au [][]byte
	for loop := time.Duration(0); ; loop++ {
		for _, e := range events {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Until(start.Add(e.at + loop*span))):
			}
			if e.video < 0 {
				if err := w.WriteMPEG4Audio(at, e.audio.PTS+loop*span, e.audio.Payload); err != nil {
					return err
				}
				continue
			}
			for i, r := range renditions {
				if e.video >= len(r) {
					continue
				}
				f := r[e.video]
				au, _ = nals[i].AccessUnit(au[:0], f.Payload)
				if err := w.WriteH264(all[i], f.PTS+loop*span, f.DTS+loop*span, au); err != nil {
					return err
				}
			}
		}
	}
}
