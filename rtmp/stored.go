package rtmp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/yutopp/go-amf0"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/relay"
)

// stored is what a viewer of a stored file has that a live viewer has not: the file's
// timeline, its description, and the seeks and pauses its player asked for.
type stored struct {
	ctl  relay.Control // its Start is the file's time at the stream's zero: RTMP timestamps are the file's
	name string
	meta []byte // onMetaData, with the duration players show a seek bar for

	mu   sync.Mutex
	asks []control // from the player's input, for the shard to apply
}

// control is a seek, a pause or an unpause (which seeks to where the player is).
type control struct {
	kind string // "seek", "pause", "unpause"
	at   time.Duration
}

// playStored starts media name for one viewer at start.
func playStored(p relay.StoredMedia, name string, start time.Duration) (*relay.Reader, *stored, error) {
	tracks, duration, err := p.Describe(name)
	if err != nil {
		return nil, nil, err
	}
	reader, ctl, err := p.Open(name, start)
	if err != nil {
		return nil, nil, err
	}
	return reader, &stored{ctl: ctl, name: name, meta: metadata(tracks, duration)}, nil
}

// metadata is an onMetaData body for a file: FLV's codec ids, the picture size and the
// duration.
func metadata(tracks []*relay.Track, duration time.Duration) []byte {
	m := amf0.ECMAArray{"duration": duration.Seconds()}
	for _, t := range tracks {
		switch t.Codec {
		case relay.CodecH264:
			m["videocodecid"] = float64(7)
			if c, err := codec.ParseH264Config(t.Config); err == nil {
				if w, h, err := c.Size(); err == nil {
					m["width"], m["height"] = float64(w), float64(h)
				}
			}
		case relay.CodecAAC:
			m["audiocodecid"] = float64(10)
			m["audiosamplerate"] = float64(t.ClockRate)
		}
	}
	var b bytes.Buffer
	enc := amf0.NewEncoder(&b)
	_ = enc.Encode("onMetaData")
	_ = enc.Encode(m)
	return b.Bytes()
}

// hear takes a seek or pause command (its AMF0 body, checked) from the player's input.
func (s *stored) hear(name string, body []byte) {
	args := commandArgs(body)
	var c control
	switch {
	case name == "seek" && len(args) >= 4:
		ms, ok := args[3].(float64)
		if !ok {
			return
		}
		c = control{kind: "seek", at: millis(ms)}
	case name == "pause" && len(args) >= 5:
		pause, ok1 := args[3].(bool)
		ms, ok2 := args[4].(float64)
		if !ok1 || !ok2 {
			return
		}
		c = control{kind: "unpause", at: millis(ms)}
		if pause {
			c.kind = "pause"
		}
	default:
		return
	}
	s.mu.Lock()
	s.asks = append(s.asks, c)
	s.mu.Unlock()
}

func millis(ms float64) time.Duration {
	if math.IsNaN(ms) || ms < 0 {
		return 0
	}
	return time.Duration(min(ms, float64(math.MaxInt64/int64(time.Millisecond)))) * time.Millisecond
}

// taken returns and forgets the player's asks since the last call.
func (s *stored) taken() []control {
	s.mu.Lock()
	defer s.mu.Unlock()
	asks := s.asks
	s.asks = nil
	return asks
}

var (
	statusSeekNotify    = status{"status", "NetStream.Seek.Notify", ""}
	statusSeekFailed    = status{"error", "NetStream.Seek.Failed", ""}
	statusPlayStart     = status{"status", "NetStream.Play.Start", ""}
	statusPauseNotify   = status{"status", "NetStream.Pause.Notify", ""}
	statusUnpauseNotify = status{"status", "NetStream.Unpause.Notify", ""}
)

// applyControls carries out the player's seeks and pauses, on the shard's goroutine while
// no write is in progress. What was queued and not written belongs to the old position and
// is dropped; after a seek the player is sent the stream's preface again, then the file from
// the keyframe, its decoder having been flushed.
func (v *viewer) applyControls() {
	for _, c := range v.vod.taken() {
		v.sent()
		if c.kind == "pause" {
			if err := v.vod.ctl.Pause(); err != nil {
				return // the file has ended: the end is on its way
			}
			v.addStatus(statusPauseNotify.with("paused " + v.vod.name))
			v.heldVideo = true // write now
			continue
		}
		at, err := v.vod.ctl.Seek(c.at)
		if err != nil {
			v.addStatus(statusSeekFailed.with(err.Error()))
			v.heldVideo = true
			continue
		}
		v.log.Debug("viewer "+c.kind, "path", v.path(), "to", c.at, "keyframe", at)
		if c.kind == "seek" {
			v.addStatus(statusSeekNotify.with(fmt.Sprintf("seeking %s to %v", v.vod.name, at)))
		} else {
			v.addStatus(statusUnpauseNotify.with(fmt.Sprintf("playing %s from %v", v.vod.name, at)))
		}
		v.addStatus(statusPlayStart.with(fmt.Sprintf("playing %s from %v", v.vod.name, at)))
		v.sentPreface, v.sentVideo, v.sentAudio = false, nil, nil
		v.heldVideo = true
	}
}

// addStatus queues an onStatus on the viewer's message stream.
func (v *viewer) addStatus(s status) {
	v.ch.add(csidCommand, typeCommandAMF0, v.streamID, 0, nil, s.command())
}

// commandArgs decodes the leading strings, numbers, booleans and nulls of a checked AMF0
// command, up to the first value of another type.
func commandArgs(b []byte) []any {
	var out []any
	for len(b) > 0 {
		switch b[0] {
		case 0x00: // number
			if len(b) < 9 {
				return out
			}
			out = append(out, math.Float64frombits(binary.BigEndian.Uint64(b[1:9])))
			b = b[9:]
		case 0x01: // boolean
			if len(b) < 2 {
				return out
			}
			out = append(out, b[1] != 0)
			b = b[2:]
		case 0x02: // string
			if len(b) < 3 || len(b) < 3+int(binary.BigEndian.Uint16(b[1:])) {
				return out
			}
			n := 3 + int(binary.BigEndian.Uint16(b[1:]))
			out = append(out, string(b[3:n]))
			b = b[n:]
		case 0x05: // null
			out = append(out, nil)
			b = b[1:]
		default:
			return out
		}
	}
	return out
}
