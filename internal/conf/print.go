package conf

import (
	"bytes"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// YAML is the configuration as a YAML file with every key, each under a comment saying
// what it is: what `relaycast -print-config` prints, ready to edit and pass to -config.
func (c Config) YAML() []byte {
	var b bytes.Buffer
	b.WriteString("# relaycast configuration (relaycast -print-config). Every key is also a flag\n" +
		"# (-key-name) and an environment variable (RELAYCAST_KEY_NAME), which win over this file.\n")
	for _, f := range c.fields() {
		fmt.Fprintf(&b, "\n# %s\n%s: %s\n", f.usage, f.name, scalar(deref(f.ptr)))
	}
	b.WriteString("\n# publish keys of their own for some paths, required from every publisher, loopback too\n" +
		"# (vod/NAME: who may upload and delete NAME), e.g.\n#   live/show: SECRET\n")
	block(&b, "publish_keys", c.PublishKeys)
	b.WriteString("\n# what differs for one live path: record (true or false, over the server's record),\n" +
		"# playlist (stored files played as a live stream) and loop (false: stop after the last),\n" +
		"# source (pulled from a camera or server: rtsp://, rtsps://, rtmp://, rtmps://, srt://) with\n" +
		"# on_demand (default true: at the first viewer) and on_demand_close_after (default 10s), and\n" +
		"# push (restreamed whenever live to rtmp:// or rtmps:// targets), e.g.\n" +
		"#   live/private: {record: false}\n#   live/tv: {playlist: [intro.mp4, shows/ep1.mp4], loop: true}\n" +
		"#   live/cam: {source: rtsp://192.168.1.20:554/stream1}\n" +
		"#   live/show: {push: [rtmp://a.rtmp.youtube.com/live2/KEY]}\n")
	block(&b, "paths", c.Paths)
	return b.Bytes()
}

// scalar is v as one YAML value.
func scalar(v any) string {
	if l, ok := v.([]string); ok {
		items := make([]string, len(l))
		for i, e := range l {
			items[i] = scalar(e) // "*" is quoted: bare, YAML reads an alias
		}
		return "[" + strings.Join(items, ", ") + "]"
	}
	out, err := yaml.Marshal(v)
	if err != nil {
		return `""`
	}
	return strings.TrimSpace(string(out))
}

// block writes key: v, v a map, as a block (or {} when empty).
func block[M ~map[string]V, V any](b *bytes.Buffer, key string, v M) {
	if len(v) == 0 {
		fmt.Fprintf(b, "%s: {}\n", key)
		return
	}
	out, err := yaml.Marshal(map[string]M{key: v})
	if err != nil {
		fmt.Fprintf(b, "%s: {}\n", key)
		return
	}
	b.Write(out)
}
