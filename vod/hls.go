package vod

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	mfmp4 "github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"

	"github.com/relaycast/relaycast/codec"
	"github.com/relaycast/relaycast/relay"
)

// hlsTarget is the shortest HLS VOD segment: a segment starts at the first video keyframe
// at least this far from the previous start.
const hlsTarget = 2 * time.Second

// segment is a run of samples [first, end) of an Index that starts at a keyframe.
type segment struct {
	first, end int
	start, dur time.Duration
}

// cut cuts an index into HLS segments.
func (ix *Index) cut() []segment {
	var out []segment
	hasVideo := false
	for _, t := range ix.Tracks {
		hasVideo = hasVideo || t.Codec.IsVideo()
	}
	cur := segment{}
	for i, s := range ix.Samples {
		cut := i > 0 && s.DTS-cur.start >= hlsTarget && (!hasVideo || s.Key && ix.Tracks[s.Track].Codec.IsVideo())
		if cut {
			cur.end, cur.dur = i, s.DTS-cur.start
			out = append(out, cur)
			cur = segment{first: i, start: s.DTS}
		}
	}
	cur.end, cur.dur = len(ix.Samples), ix.Duration-cur.start
	return append(out, cur)
}

// ServeHLS answers the HLS VOD files of media name: index.m3u8, init.mp4 and segN.mp4
// (file is what follows NAME/). The playlists pass the request's query (a read key) on.
func (h *HTTP) ServeHLS(w http.ResponseWriter, r *http.Request, name, file string) {
	f, ix, err := h.Lib.openIndexed(name)
	if err != nil {
		httpError(w, err)
		return
	}
	defer f.Close()
	w.Header().Set("Cache-Control", "max-age=60")
	switch {
	case file == "index.m3u8":
		w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
		_, _ = io.WriteString(w, playlist(ix, r.URL.RawQuery))
	case file == "init.mp4":
		init, _, err := codec.FMP4Init(ix.track(relay.CodecH264), ix.track(relay.CodecAAC))
		if err != nil {
			httpError(w, err)
			return
		}
		w.Header().Set("Content-Type", "video/mp4")
		_, _ = w.Write(init)
	default:
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(file, "seg"), ".mp4"))
		segs := ix.segments
		if err != nil || n < 0 || n >= len(segs) || file != "seg"+strconv.Itoa(n)+".mp4" {
			http.NotFound(w, r)
			return
		}
		b, err := ix.fragment(f, segs[n], n)
		if err != nil {
			h.Log.Warn("hls vod segment", "name", name, "segment", n, "err", err)
			http.Error(w, "segment unavailable", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "video/mp4")
		_, _ = w.Write(b)
	}
}

func (ix *Index) track(c relay.Codec) *relay.Track {
	for _, t := range ix.Tracks {
		if t.Codec == c {
			return t
		}
	}
	return nil
}

func playlist(ix *Index, query string) string {
	if query != "" {
		query = "?" + query
	}
	segs := ix.segments
	var longest time.Duration
	for _, s := range segs {
		longest = max(longest, s.dur)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:%d\n#EXT-X-PLAYLIST-TYPE:VOD\n", int(math.Ceil(longest.Seconds())))
	fmt.Fprintf(&b, "#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"init.mp4%s\"\n", query)
	for i, s := range segs {
		fmt.Fprintf(&b, "#EXTINF:%.5f,\nseg%d.mp4%s\n", s.dur.Seconds(), i, query)
	}
	b.WriteString("#EXT-X-ENDLIST\n")
	return b.String()
}

// fragment reads a segment's samples and writes them as one moof+mdat. A sample lasts until
// the next sample of its track (the last one of the file as long as the one before it).
func (ix *Index) fragment(f io.ReaderAt, seg segment, n int) ([]byte, error) {
	part := mfmp4.Part{SequenceNumber: uint32(n + 1)}
	tracks := map[uint8]*mfmp4.PartTrack{}
	scales := map[uint8]int64{}
	for i, t := range ix.Tracks {
		id, scale := codec.FMP4AudioID, int64(t.ClockRate)
		if t.Codec == relay.CodecH264 {
			id, scale = codec.FMP4VideoID, codec.FMP4VideoScale
		}
		scales[uint8(i)] = scale
		tracks[uint8(i)] = &mfmp4.PartTrack{ID: id}
	}
	ticks := func(tr uint8, d time.Duration) int64 { return int64(d) * scales[tr] / int64(time.Second) }
	for i := seg.first; i < seg.end; i++ {
		s := ix.Samples[i]
		pt := tracks[s.Track]
		if len(pt.Samples) == 0 {
			pt.BaseTime = uint64(max(0, ticks(s.Track, s.DTS)))
		}
		payload := make([]byte, s.Size)
		if _, err := f.ReadAt(payload, s.Offset); err != nil {
			return nil, err
		}
		next := ix.nextDTS(i)
		pt.Samples = append(pt.Samples, &mfmp4.Sample{
			Duration:        uint32(max(1, ticks(s.Track, next)-ticks(s.Track, s.DTS))),
			PTSOffset:       int32(ticks(s.Track, s.PTS) - ticks(s.Track, s.DTS)),
			IsNonSyncSample: !s.Key,
			Payload:         payload,
		})
	}
	for i := range ix.Tracks {
		if pt := tracks[uint8(i)]; len(pt.Samples) > 0 {
			part.Tracks = append(part.Tracks, pt)
		}
	}
	var buf seekablebuffer.Buffer
	if err := part.Marshal(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// nextDTS is when sample i ends: the next sample of its track starts, or, for the track's
// last sample, as long after it as the one before lasted.
func (ix *Index) nextDTS(i int) time.Duration {
	s := ix.Samples[i]
	prev := time.Duration(-1)
	for j := i + 1; j < len(ix.Samples); j++ {
		if ix.Samples[j].Track == s.Track {
			return ix.Samples[j].DTS
		}
	}
	for j := i - 1; j >= 0; j-- {
		if ix.Samples[j].Track == s.Track {
			prev = ix.Samples[j].DTS
			break
		}
	}
	if prev < 0 {
		return s.DTS + time.Second/30
	}
	return s.DTS + (s.DTS - prev)
}
