package srt

import (
	"testing"
)

func TestParseStreamID(t *testing.T) {
	for _, c := range []struct {
		in        string
		mode      Mode
		path, key string
		wantErr   bool
	}{
		{"publish:live/a", Publish, "live/a", "", false},
		{"publish:live/a:s3cret", Publish, "live/a", "s3cret", false},
		{"publish:live/a?key=k2", Publish, "live/a", "k2", false},
		{"read:live/a", Read, "live/a", "", false},
		{"read:live/a:rk", Read, "live/a", "rk", false},
		{"live/a", Read, "live/a", "", false},
		{"#!::r=live/a,m=publish", Publish, "live/a", "", false},
		{"#!::r=live/a,m=publish,s=k", Publish, "live/a", "k", false},
		{"#!::m=request,r=live/b", Read, "live/b", "", false},
		{"#!::r=live/b", Read, "live/b", "", false},
		{"%23%21%3A%3Ar%3Dlive%2Fs%2Cm%3Dpublish", Publish, "live/s", "", false},
		{"publish%3Alive%2Fs", Publish, "live/s", "", false},
		{"#!::r=live/b,m=bidirectional", "", "", "", true},
		{"#!::r=live/b,junk", "", "", "", true},
		{"#!::m=publish", "", "", "", true},
		{"", "", "", "", true},
		{"publish:", "", "", "", true},
		{"publish:live/a?%zz", "", "", "", true},
	} {
		got, err := ParseStreamID(c.in)
		if (err != nil) != c.wantErr {
			t.Errorf("%q: err %v, want error %v", c.in, err, c.wantErr)
			continue
		}
		if err == nil && (got.Mode != c.mode || got.Path != c.path || got.Key != c.key) {
			t.Errorf("%q: %+v, want mode %s path %s key %s", c.in, got, c.mode, c.path, c.key)
		}
	}
}

func FuzzStreamID(f *testing.F) {
	for _, s := range []string{"publish:live/a:k", "read:live/a?key=x", "#!::r=live/a,m=publish,s=k", "live/a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		s, err := ParseStreamID(id)
		if err == nil && (s.Path == "" || s.Mode != Publish && s.Mode != Read) {
			t.Fatalf("%q: %+v", id, s)
		}
	})
}
