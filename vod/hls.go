package vod

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/relaycast/relaycast/format"
	"github.com/relaycast/relaycast/relay"
)

// hlsTarget is the shortest HLS VOD segment: a segment starts at the first video keyframe
// at least this far from the previous start.
const hlsTarget = 2 * time.Second

// HLSSegment is a run of samples [First, End) of an Index that starts at a keyframe.
type HLSSegment struct {
	First, End int
	Start, Dur time.Duration
}

// CutHLS cuts an index into HLS segments: each starts at a video keyframe at least
// hlsTarget after the one before.
func CutHLS(ix *format.Index) []HLSSegment {
	var out []HLSSegment
	hasVideo := false
	for _, t := range ix.Tracks {
		hasVideo = hasVideo || t.Codec.IsVideo()
	}
	cur := HLSSegment{}
	for i, s := range ix.Samples {
		cut := i > 0 && s.DTS-cur.Start >= hlsTarget && (!hasVideo || s.Key && ix.Tracks[s.Track].Codec.IsVideo())
		if cut {
			cur.End, cur.Dur = i, s.DTS-cur.Start
			out = append(out, cur)
			cur = HLSSegment{First: i, Start: s.DTS}
		}
	}
	cur.End, cur.Dur = len(ix.Samples), ix.Duration-cur.Start
	if n := len(out); n > 0 && cur.Dur < hlsTarget/4 {
		// a sliver after the last cut (a range that ends just past a keyframe) goes with
		// the segment before it: players take an EXTINF of a millisecond for a broken one
		out[n-1].End, out[n-1].Dur = cur.End, out[n-1].Dur+cur.Dur
		return out
	}
	return append(out, cur)
}

// ServeHLS answers the HLS VOD files of media name: index.m3u8 and segN.ts (file is what
// follows NAME/). The playlists pass the request's query (a read key) on.
//
// Segments are MPEG-TS, not fMP4: every HLS player reads TS, and ffmpeg 5.1 (Debian's) cannot
// seek in fMP4 HLS at all: its mov demuxer keeps the fragments it read before the seek and
// yields no frame after it, so `ffmpeg -ss` over an fMP4 playlist gets nothing.
func (h *HTTP) ServeHLS(w http.ResponseWriter, r *http.Request, name, file string) {
	f, c, e, err := h.Lib.indexed(name)
	if err != nil {
		httpError(w, err)
		return
	}
	defer f.Close()
	ix := c.ix
	// A file may be replaced under its name: a cache keeps the responses a minute, then
	// revalidates them against the version of the file they were made from.
	w.Header().Set("Cache-Control", "public, max-age=60")
	w.Header().Set("ETag", fmt.Sprintf(`"%s-%x-%x"`, file, e.Size, e.modTime.UnixNano()))
	if _, _, err := tsTracks(ix); err != nil {
		w.Header().Del("ETag")
		http.Error(w, err.Error(), http.StatusUnprocessableEntity)
		return
	}
	var body []byte
	if file == "index.m3u8" {
		w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
		body = []byte(playlist(c.segments, r.URL.RawQuery))
	} else {
		segs := c.segments
		n, ok := HLSSegmentNumber(file, len(segs))
		if !ok {
			w.Header().Del("ETag")
			http.NotFound(w, r)
			return
		}
		if notModified(w, r) {
			return
		}
		if body, err = TSSegment(ix, f, segs[n], 0); err != nil {
			h.Log.Warn("hls vod segment", "name", name, "segment", n, "err", err)
			w.Header().Del("ETag")
			http.Error(w, "segment unavailable", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "video/mp2t")
	}
	http.ServeContent(w, r, file, e.modTime, bytes.NewReader(body))
}

// HLSSegmentFile is the name of segment n of an HLS VOD playlist.
func HLSSegmentFile(n int) string { return "seg" + strconv.Itoa(n) + ".ts" }

// HLSSegmentNumber reads a segment's name (HLSSegmentFile) back: its number, if it is one of
// count.
func HLSSegmentNumber(file string, count int) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(file, "seg"), ".ts"))
	return n, err == nil && n >= 0 && n < count && file == HLSSegmentFile(n)
}

// notModified answers 304 when the client holds this version, before a segment is muxed.
func notModified(w http.ResponseWriter, r *http.Request) bool {
	match := r.Header.Get("If-None-Match")
	if match == "" || !strings.Contains(match, w.Header().Get("ETag")) {
		return false
	}
	w.WriteHeader(http.StatusNotModified)
	return true
}

// errNotInTS is the answer for a file whose video MPEG-TS cannot carry (AV1, VP9).
var errNotInTS = errors.New("HLS of stored files is MPEG-TS, which carries no AV1 or VP9 video: play the file as MP4, over RTSP or over RTMP")

// tsTracks are the first video and audio track of the file MPEG-TS carries.
func tsTracks(ix *format.Index) (video, audio *relay.Track, err error) {
	if v, _ := relay.FirstTracks(ix.Tracks, nil); v != nil && !format.TSCarries(v.Codec) {
		return nil, nil, errNotInTS
	}
	video, audio = relay.FirstTracks(ix.Tracks, format.TSCarries)
	return video, audio, nil
}

func playlist(segs []HLSSegment, query string) string {
	if query != "" {
		query = "?" + query
	}
	var longest time.Duration
	for _, s := range segs {
		longest = max(longest, s.Dur)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:%d\n#EXT-X-PLAYLIST-TYPE:VOD\n", int(math.Ceil(longest.Seconds())))
	b.WriteString("#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	for i, s := range segs {
		fmt.Fprintf(&b, "#EXTINF:%.5f,\n%s%s\n", s.Dur.Seconds(), HLSSegmentFile(i), query)
	}
	b.WriteString("#EXT-X-ENDLIST\n")
	return b.String()
}

// TSSegment reads a segment's samples and writes them as MPEG-TS, each timestamp moved by
// shift (where the file sits on a longer timeline: a range of recordings).
func TSSegment(ix *format.Index, f io.ReaderAt, seg HLSSegment, shift time.Duration) ([]byte, error) {
	var buf bytes.Buffer
	video, audio, err := tsTracks(ix)
	if err != nil {
		return nil, err
	}
	w, err := format.NewTSWriter(&buf, video, audio, format.TSOffset)
	if err != nil {
		return nil, err
	}
	for i := seg.First; i < seg.End; i++ {
		s := ix.Samples[i]
		if t := ix.Tracks[s.Track]; t != video && t != audio {
			continue
		}
		payload := make([]byte, s.Size)
		if _, err := f.ReadAt(payload, s.Offset); err != nil {
			return nil, err
		}
		if err := w.Write(ix.Tracks[s.Track].Codec, s.DTS+shift, s.PTS+shift, payload); err != nil {
			return nil, fmt.Errorf("sample %d: %w", i, err)
		}
	}
	b := buf.Bytes()
	markDiscontinuity(b, w.PIDs())
	return b, nil
}

// markDiscontinuity sets the discontinuity indicator on the first packet of each track of a
// segment. Each segment is made alone, so its continuity counters start afresh; without
// the mark, a player that reads segments in a row takes the jump for a lost packet and
// calls the last frame of the segment before corrupt (ffmpeg: "Packet corrupt"). The first
// packet of a track always has an adaptation field here: the writer gives one to every key
// frame (a segment starts with one) and to every audio frame.
func markDiscontinuity(b []byte, pids []uint16) {
	pending := map[uint16]bool{}
	for _, pid := range pids {
		pending[pid] = true
	}
	for ; len(b) >= 188 && len(pending) > 0; b = b[188:] {
		pid := uint16(b[1]&0x1f)<<8 | uint16(b[2])
		if !pending[pid] {
			continue
		}
		delete(pending, pid)
		if b[3]&0x20 != 0 && b[4] > 0 {
			b[5] |= 0x80
		}
	}
}
