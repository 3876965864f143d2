package ingest

import _ "embed"

// demoFLV is 6 s of a 1280x720 test pattern with a running clock and a tone (H.264 High with
// B-frames, AAC), made by testdata/make-media.sh. The server's demo stream is a playlist of
// it (internal/app.Demo); load tools publish it.
//
//go:embed demo/demo.flv
var demoFLV []byte

// DemoClip returns the embedded demo clip (an FLV file).
func DemoClip() []byte { return demoFLV }
