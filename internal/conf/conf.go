// Package conf is relaycast's configuration: one set of fields, each settable in the YAML
// file, the environment and flags, validated at start with errors that name the field.
package conf

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/pion/stun/v4"
	"github.com/relaycast/relaycast/ladder"
	"github.com/relaycast/relaycast/relay"
	"github.com/relaycast/relaycast/vod"
)

// Config is everything an operator can set. Each field has one name, used as the YAML key,
// the flag (with - for _) and the environment variable (RELAYCAST_ + upper case).
// Precedence: defaults, then the YAML file, then the environment, then flags.
type Config struct {
	RTMP              string        `yaml:"rtmp"`
	RTSP              string        `yaml:"rtsp"`
	HTTP              string        `yaml:"http"`
	Metrics           string        `yaml:"metrics"`
	RTMPS             string        `yaml:"rtmps"`
	RTSPS             string        `yaml:"rtsps"`
	HTTPS             string        `yaml:"https"`
	SRT               string        `yaml:"srt"`
	SRTPassphrase     string        `yaml:"srt_passphrase"`
	SRTLatency        time.Duration `yaml:"srt_latency"`
	WebRTC            string        `yaml:"webrtc"`
	WebRTCHosts       List          `yaml:"webrtc_hosts"`
	WebRTCICEServers  List          `yaml:"webrtc_ice_servers"`
	TLSCert           string        `yaml:"tls_cert"`
	TLSKey            string        `yaml:"tls_key"`
	RTSPRTPPort       int           `yaml:"rtsp_rtp_port"`
	RTSPRTCPPort      int           `yaml:"rtsp_rtcp_port"`
	RTSPMulticast     string        `yaml:"rtsp_multicast"`
	Demo              bool          `yaml:"demo"`
	MediaDir          string        `yaml:"media_dir"`
	MaxUpload         int           `yaml:"max_upload"`
	LogLevel          string        `yaml:"log_level"`
	LogFormat         string        `yaml:"log_format"`
	Grace             time.Duration `yaml:"grace"`
	Slate             string        `yaml:"slate"`
	LadderEncoder     string        `yaml:"ladder_encoder"`
	RecordRenditions  string        `yaml:"record_renditions"`
	LadderCloseAfter  time.Duration `yaml:"ladder_close_after"`
	MaxLag            time.Duration `yaml:"max_lag"`
	MaxStreams        int           `yaml:"max_streams"`
	MaxConns          int           `yaml:"max_conns"`
	MaxConnsPerIP     int           `yaml:"max_conns_per_ip"`
	RTMPNoDelay       bool          `yaml:"rtmp_nodelay"`
	Pprof             bool          `yaml:"pprof"`
	PyroscopeURL      string        `yaml:"pyroscope_url"`
	PyroscopeApp      string        `yaml:"pyroscope_app"`
	PyroscopeTags     string        `yaml:"pyroscope_tags"`
	PublishKey        string        `yaml:"publish_key"`
	ReadKey           string        `yaml:"read_key"`
	URLSigningKey     string        `yaml:"url_signing_key"`
	JWTKey            string        `yaml:"jwt_key"`
	JWTJWKS           string        `yaml:"jwt_jwks"`
	OnPublish         string        `yaml:"on_publish"`
	WebhookURLs       List          `yaml:"webhook_urls"`
	WebhookSecret     string        `yaml:"webhook_secret"`
	APIKey            string        `yaml:"api_key"`
	AllowOrigin       List          `yaml:"allow_origin"`
	HLSSessions       bool          `yaml:"hls_sessions"`
	APIAllowOrigin    List          `yaml:"api_allow_origin"`
	APIKeyLoopback    bool          `yaml:"api_key_loopback"`
	Record            bool          `yaml:"record"`
	RecordSegment     time.Duration `yaml:"record_segment"`
	RecordDeleteAfter time.Duration `yaml:"record_delete_after"`
	RecordMaxBytes    int           `yaml:"record_max_bytes"`
	DVR               time.Duration `yaml:"dvr"`
	// Origin makes this server an edge: it pulls any live path it does not have from the
	// first of these servers that has it.
	Origin List `yaml:"origin"`
	// PublishKeys gives paths their own publish key (YAML only).
	PublishKeys map[string]string `yaml:"publish_keys"`
	// Users log in to publish and read the paths their patterns match, which then only
	// they may (YAML only).
	Users map[string]User `yaml:"users"`
	// Paths sets what differs for one live path (YAML only).
	Paths map[string]Path `yaml:"paths"`
	// File is the YAML file the configuration was read from (-config), which a reload
	// reads again; empty: none.
	File string `yaml:"-"`
}

// User is a login with rights by path pattern (live/* is every stream of live).
type User struct {
	Password string   `yaml:"password"`
	Publish  []string `yaml:"publish,omitempty"`
	Read     []string `yaml:"read,omitempty"`
}

// Path is the settings of one live path.
type Path struct {
	// Record overrides the server's record for this path.
	Record *bool `yaml:"record"`
	// Playlist makes the path a live stream of these stored files (e.g. [intro.mp4,
	// shows/ep1.mp4]), played one after the other; Loop false stops after the last.
	Playlist []string `yaml:"playlist"`
	Loop     *bool    `yaml:"loop"`
	// Source pulls the path from another server or a camera (rtsp://, rtmp://, srt://,
	// http(s)://…/index.m3u8);
	// OnDemand (default true) connects at the first viewer and hangs up
	// OnDemandCloseAfter (default 10s) after the last.
	Source             string        `yaml:"source,omitempty"`
	OnDemand           *bool         `yaml:"on_demand,omitempty"`
	OnDemandCloseAfter time.Duration `yaml:"on_demand_close_after,omitempty"`
	// Push restreams the path, whenever it is live, to each of these (rtmp://, rtmps://,
	// srt://, rtsp://, rtsps://).
	Push []string `yaml:"push,omitempty"`
	// Slate overrides the server's slate for this path ("none" for no slate).
	Slate string `yaml:"slate,omitempty"`
	// DVR overrides the server's dvr window for this path (0s: none).
	DVR *time.Duration `yaml:"dvr,omitempty"`
	// Renditions is the path's ladder ([720p@2500k, 480p@1200k, 360p@600k]): each rung
	// below the publisher's picture is transcoded, while someone watches it, into the
	// rendition APP/NAME~480p, which HLS lists beside the stream.
	Renditions []string `yaml:"renditions,omitempty"`
	// MainRendition is which of an encoder's renditions is the stream itself, what players
	// that know one stream get: an enhanced RTMP multitrack track id ("1") or a WHIP
	// simulcast rid; empty: the first. The others are renditions APP/NAME~ID.
	MainRendition string `yaml:"main_rendition,omitempty"`
}

// List is a list of values, given in YAML as a list or, like in flags and the environment,
// separated by commas.
type List []string

// UnmarshalYAML takes [a, b] or "a,b".
func (l *List) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = splitList(n.Value)
		return nil
	}
	var v []string
	if err := n.Decode(&v); err != nil {
		return err
	}
	*l = nil
	if len(v) > 0 {
		*l = v
	}
	return nil
}

func splitList(s string) List {
	var out List
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// Recorded says whether a live path is recorded; a rendition is with record_renditions: all,
// where its stream is.
func (c Config) Recorded(path string) bool {
	if relay.IsRendition(path) {
		return c.RecordRenditions == RecordAllRenditions && c.Recorded(relay.MainPath(path))
	}
	if p, ok := c.Paths[path]; ok && p.Record != nil {
		return *p.Record
	}
	return c.Record
}

// MainRenditionOf is which of an encoder's renditions publishes path itself ("": the first).
func (c Config) MainRenditionOf(path string) string { return c.Paths[path].MainRendition }

// Record_renditions: the stream alone (its first rendition: an encoder's track 0, the
// source of a ladder), or every rendition too.
const (
	RecordTopRendition  = "top"
	RecordAllRenditions = "all"
)

// SlateNone, as a path's slate, turns off the server's slate for that path.
const SlateNone = "none"

// SlateOf is what path shows while its publisher is away past grace: "card", a stored file's
// name, or "" for nothing.
func (c Config) SlateOf(path string) string {
	if p, ok := c.Paths[path]; ok && p.Slate != "" {
		if p.Slate == SlateNone {
			return ""
		}
		return p.Slate
	}
	return c.Slate
}

// validSlate checks a slate setting: card, none (for a path), or a stored file's name.
func validSlate(s string, path bool) error {
	if s == "" || s == "card" || path && s == SlateNone {
		return nil
	}
	if _, _, err := vod.SplitFile(s); err != nil {
		return fmt.Errorf("%w, card or empty", err)
	}
	return nil
}

// DVRWindow is how far behind live a path's viewers may rewind (dvr.m3u8); 0: not at all.
// A rendition has none: its stream's window is the one to rewind in.
func (c Config) DVRWindow(path string) time.Duration {
	if relay.IsRendition(path) {
		return 0
	}
	if p, ok := c.Paths[path]; ok && p.DVR != nil {
		return *p.DVR
	}
	return c.DVR
}

// RecordedForDVR says whether a path is recorded for its DVR window alone (not recorded
// otherwise): its files go once they leave the window.
func (c Config) RecordedForDVR(path string) bool { return !c.Recorded(path) && c.DVRWindow(path) > 0 }

// Default returns the configuration with nothing set: what `make run` serves.
func Default() Config {
	return Config{
		RTMP: ":1935", RTSP: ":8554", HTTP: ":8080",
		RTMPS: ":1936", RTSPS: ":8322", HTTPS: ":8443",
		RTSPRTPPort: 8000, RTSPRTCPPort: 8001,
		SRT: ":8890", SRTLatency: 120 * time.Millisecond,
		WebRTC: ":8189",
		Demo:   true, LogLevel: "info", LogFormat: "text",
		MediaDir: "media", MaxUpload: 4 << 30,
		Grace: 10 * time.Second, MaxLag: 2 * time.Second,
		MaxStreams: 1000, MaxConns: 10000, MaxConnsPerIP: 200,
		PyroscopeApp:  "relaycast",
		RecordSegment: time.Hour,
		AllowOrigin:   List{"*"},
		HLSSessions:   true,
		LadderEncoder: "auto", LadderCloseAfter: 10 * time.Second, RecordRenditions: RecordTopRendition,
	}
}

// field ties one config field to its flag and its environment variable.
type field struct {
	name  string // YAML key
	usage string
	ptr   any
}

func (c *Config) fields() []field {
	return []field{
		{"rtmp", "RTMP listen address (publish and play)", &c.RTMP},
		{"rtsp", "RTSP listen address", &c.RTSP},
		{"http", "HTTP listen address (web player, API)", &c.HTTP},
		{"metrics", "listen address of a separate Prometheus /metrics port (empty: /metrics on the HTTP port)", &c.Metrics},
		{"rtmps", "RTMPS listen address, with tls_cert (empty: off)", &c.RTMPS},
		{"rtsps", "RTSPS listen address, with tls_cert (empty: off)", &c.RTSPS},
		{"https", "HTTPS listen address, with tls_cert (empty: off)", &c.HTTPS},
		{"srt", "SRT listen address, UDP (publish and read MPEG-TS; empty: off)", &c.SRT},
		{"srt_passphrase", "passphrase every SRT caller must encrypt with, 10-79 characters (empty: no encryption)", &c.SRTPassphrase},
		{"srt_latency", "SRT latency: how long both sides wait for a lost packet's retransmission", &c.SRTLatency},
		{"webrtc", "WebRTC ICE address, one UDP and one TCP port for every peer (WHEP at /APP/NAME/whep; empty: off)", &c.WebRTC},
		{"webrtc_hosts", "more addresses to offer WebRTC peers as host candidates, e.g. a NAT's public IP (empty: the bound address's)", &c.WebRTCHosts},
		{"webrtc_ice_servers", "STUN and TURN servers WHEP and WHIP clients are told of (Link headers), e.g. stun:stun.example.net:3478,turn:USER:PASS@turn.example.net:3478?transport=udp", &c.WebRTCICEServers},
		{"tls_cert", "TLS certificate file (PEM, the chain after the certificate) for rtmps, rtsps and https", &c.TLSCert},
		{"tls_key", "TLS private key file (PEM) of tls_cert", &c.TLSKey},
		{"rtsp_rtp_port", "RTSP RTP/UDP port, even (0: no RTP over UDP, only TCP)", &c.RTSPRTPPort},
		{"rtsp_rtcp_port", "RTSP RTCP/UDP port, the RTP port + 1", &c.RTSPRTCPPort},
		{"rtsp_multicast", "RTSP UDP multicast address range, e.g. 224.1.0.0/16 (empty: off)", &c.RTSPMulticast},
		{"demo", "publish the built-in demo stream at live/demo", &c.Demo},
		{"media_dir", "directory of stored media: uploads and files copied in, served at /vod/", &c.MediaDir},
		{"max_upload", "largest upload accepted, in bytes", &c.MaxUpload},
		{"log_level", "log level: debug, info, warn or error", &c.LogLevel},
		{"log_format", "log format: text (key=value lines) or json (one object per line)", &c.LogFormat},
		{"grace", "how long a stream whose publisher left keeps its viewers", &c.Grace},
		{"slate", "what a live path shows, in its own codecs, while its publisher is away past grace: card (\"Stream offline\"), a stored file NAME.mp4, or empty: the stream ends (paths: can set it per path)", &c.Slate},
		{"ladder_encoder", "H.264 encoder of the renditions paths: ladders make (renditions:): auto (NVENC, VAAPI or QSV where the machine has one, else libx264), libx264, h264_nvenc, h264_vaapi or h264_qsv", &c.LadderEncoder},
		{"ladder_close_after", "how long a transcoded rendition runs on after its last viewer", &c.LadderCloseAfter},
		{"max_lag", "how far behind live a viewer may fall before it skips to a keyframe", &c.MaxLag},
		{"max_streams", "live streams at most", &c.MaxStreams},
		{"max_conns", "connections the server holds at most, on all ports together", &c.MaxConns},
		{"max_conns_per_ip", "connections per client address (loopback exempt)", &c.MaxConnsPerIP},
		{"rtmp_nodelay", "never let the kernel merge writes to RTMP players (Nagle): lowest delay under heavy load, more CPU", &c.RTMPNoDelay},
		{"pprof", "serve net/http/pprof at /debug/pprof/ on the HTTP port (trusted networks only)", &c.Pprof},
		{"pyroscope_url", "send continuous profiles to this Pyroscope server (empty: off)", &c.PyroscopeURL},
		{"pyroscope_app", "application name in Pyroscope", &c.PyroscopeApp},
		{"pyroscope_tags", "static Pyroscope tags, k=v,k=v", &c.PyroscopeTags},
		{"publish_key", "stream key remote publishers must add as ?key= (loopback needs none)", &c.PublishKey},
		{"read_key", "key every viewer must add as ?key= (RTSP also: user relaycast, this password)", &c.ReadKey},
		{"url_signing_key", "checks signed URLs (?expires=UNIX&token=HMAC), which then let viewers in; relaycast -sign-url PATH makes one", &c.URLSigningKey},
		{"jwt_key", "HMAC key of JSON Web Tokens (HS256) your site issues (?jwt=); their relaycast claim gives publish and read by path pattern", &c.JWTKey},
		{"jwt_jwks", "URL of the JWKS whose keys check JSON Web Tokens (RS256, ES256, EdDSA…)", &c.JWTJWKS},
		{"on_publish", "URL to POST each publish to; a 2xx answer allows it", &c.OnPublish},
		{"webhook_urls", "URLs that get a JSON POST of each event: publish and read start/stop, recording segments, links up/down (empty: none)", &c.WebhookURLs},
		{"webhook_secret", "signs each webhook body (HMAC-SHA256 in X-Relaycast-Signature; empty: unsigned)", &c.WebhookSecret},
		{"api_key", "key of the control API (Authorization: Bearer KEY); without it only loopback clients may use it", &c.APIKey},
		{"allow_origin", "origins whose pages may play the media, use WHEP/WHIP and read the lists (CORS), e.g. https://example.com; * any; empty: none but the server's own", &c.AllowOrigin},
		{"api_allow_origin", "origins whose pages may use the control API (CORS; empty: none but the server's own)", &c.APIAllowOrigin},
		{"hls_sessions", "count HLS clients as sessions (a session id in their playlist URLs, whose reloads then pass a CDN; parts and segments stay shared)", &c.HLSSessions},
		{"api_key_loopback", "loopback clients of the control API need the key too", &c.APIKeyLoopback},
		{"origin", "servers this edge pulls the live paths it does not have from, in order, e.g. rtmp://origin1:1935,rtmp://origin2:1935 (empty: not an edge)", &c.Origin},
		{"record", "record every live path to MEDIA_DIR/recordings/APP/NAME/TIME.mp4 (paths: can set it per path)", &c.Record},
		{"record_renditions", "which renditions of a recorded path are recorded: top (the stream itself: an encoder's first track, a ladder's source) or all (each also to recordings/APP/NAME~LABEL/)", &c.RecordRenditions},
		{"record_segment", "length of one recording file; the next starts at the first keyframe after it", &c.RecordSegment},
		{"record_delete_after", "delete recordings older than this (0: keep them)", &c.RecordDeleteAfter},
		{"dvr", "how far behind live viewers may rewind a path (dvr.m3u8), kept on disk by the recorder (0: off; paths: can set it per path)", &c.DVR},
		{"record_max_bytes", "delete the oldest recordings while all of them take more bytes than this (0: no limit)", &c.RecordMaxBytes},
	}
}

// Command is what the command line asks besides the configuration.
type Command struct {
	Version     bool // print the version and exit
	PrintConfig bool // print the configuration as YAML, with comments, and exit
	// SignURL, when set, is a stream path whose signed query (url_signing_key) to print:
	// for SignAction (read or publish), valid for SignFor.
	SignURL, SignAction string
	SignFor             time.Duration
}

// Load reads the configuration from args, the environment and the YAML file named by
// -config. Errors name the field and where its value came from.
func Load(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	c, _, err := LoadCommand(args, getenv, stderr)
	return c, err
}

// LoadCommand is Load, and also says what else the command line asks.
func LoadCommand(args []string, getenv func(string) string, stderr io.Writer) (Config, Command, error) {
	c, cmd := Default(), Command{}
	fs := flag.NewFlagSet("relaycast", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "", "YAML configuration file")
	fs.BoolVar(&cmd.Version, "version", false, "print the version and exit")
	fs.BoolVar(&cmd.PrintConfig, "print-config", false, "print the configuration (defaults, the file, the environment and flags) as YAML with comments, and exit")
	fs.StringVar(&cmd.SignURL, "sign-url", "", "print the query that signs a stream path (APP/NAME) with url_signing_key, and exit")
	fs.StringVar(&cmd.SignAction, "sign-action", "read", "what -sign-url allows: read or publish")
	fs.DurationVar(&cmd.SignFor, "sign-for", 24*time.Hour, "how long a -sign-url signature lasts")
	flagVals := map[string]*string{}
	for _, f := range c.fields() {
		name := strings.ReplaceAll(f.name, "_", "-")
		if _, ok := f.ptr.(*bool); ok {
			flagVals[f.name] = new(string)
			fs.Var(boolFlag{flagVals[f.name]}, name, fmt.Sprintf("%s (default %v)", f.usage, deref(f.ptr)))
			continue
		}
		flagVals[f.name] = fs.String(name, "", fmt.Sprintf("%s (default %v)", f.usage, deref(f.ptr)))
	}
	if err := fs.Parse(args); err != nil {
		return c, cmd, err
	}
	if fs.NArg() > 0 {
		return c, cmd, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *file != "" {
		if err := c.ReadFile(*file); err != nil {
			return c, cmd, err
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[strings.ReplaceAll(f.Name, "-", "_")] = true })
	for _, f := range c.fields() {
		env := "RELAYCAST_" + strings.ToUpper(f.name)
		if v := getenv(env); v != "" {
			if err := setField(f.ptr, v); err != nil {
				return c, cmd, fmt.Errorf("environment %s: %w", env, err)
			}
		}
		if set[f.name] {
			if err := setField(f.ptr, *flagVals[f.name]); err != nil {
				return c, cmd, fmt.Errorf("flag -%s: %w", strings.ReplaceAll(f.name, "_", "-"), err)
			}
		}
	}
	return c, cmd, c.Validate()
}

// ReadFile sets what the YAML file at path sets, and remembers the file (File). Unknown keys
// and values of the wrong type are errors that name the key.
func (c *Config) ReadFile(path string) error {
	c.File = path
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config file %s: %w", path, blame(data, err))
	}
	return nil
}

// blame names the top-level key whose value err is about (yaml.v3 gives only a line for a
// value of the wrong type), by decoding each key on its own.
func blame(data []byte, err error) error {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil || len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return err
	}
	m := root.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		one := &yaml.Node{Kind: yaml.MappingNode, Content: m.Content[i : i+2]}
		var probe Config
		if kerr := one.Decode(&probe); kerr != nil {
			return fmt.Errorf("%s: %w", m.Content[i].Value, kerr)
		}
	}
	return err
}

func setField(ptr any, v string) error {
	switch p := ptr.(type) {
	case *string:
		*p = v
	case *int:
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
		*p = n
	case *bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		*p = b
	case *time.Duration:
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%q is not a duration like 10s", v)
		}
		*p = d
	case *List:
		*p = splitList(v)
	}
	return nil
}

func deref(ptr any) any {
	switch p := ptr.(type) {
	case *string:
		return *p
	case *int:
		return *p
	case *bool:
		return *p
	case *time.Duration:
		return *p
	case *List:
		return []string(*p)
	}
	return nil
}

// Validate checks every field; the error names the first bad one.
func (c Config) Validate() error {
	addrs := []struct{ name, addr string }{{"rtmp", c.RTMP}, {"rtsp", c.RTSP}, {"http", c.HTTP}}
	for _, a := range []struct{ name, addr string }{{"metrics", c.Metrics}, {"rtmps", c.RTMPS}, {"rtsps", c.RTSPS}, {"https", c.HTTPS}, {"srt", c.SRT}, {"webrtc", c.WebRTC}} {
		if a.addr != "" {
			addrs = append(addrs, a)
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("config tls_cert/tls_key: set both or neither")
	}
	for _, a := range addrs {
		if _, port, err := net.SplitHostPort(a.addr); err != nil {
			return fmt.Errorf("config %s: %q is not a listen address like :1935 or 127.0.0.1:1935", a.name, a.addr)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return fmt.Errorf("config %s: port %q out of range", a.name, port)
		}
	}
	for _, p := range []struct {
		name string
		port int
	}{{"rtsp_rtp_port", c.RTSPRTPPort}, {"rtsp_rtcp_port", c.RTSPRTCPPort}} {
		if p.port < 0 || p.port > 65535 {
			return fmt.Errorf("config %s: %d out of range 0-65535", p.name, p.port)
		}
	}
	for _, h := range c.WebRTCHosts {
		if net.ParseIP(h) == nil {
			return fmt.Errorf("config webrtc_hosts: %q is not an IP address", h)
		}
	}
	for _, f := range []struct {
		name    string
		origins List
	}{{"allow_origin", c.AllowOrigin}, {"api_allow_origin", c.APIAllowOrigin}} {
		for _, o := range f.origins {
			if err := validOrigin(o); err != nil {
				return fmt.Errorf("config %s: %w", f.name, err)
			}
		}
	}
	if c.JWTJWKS != "" {
		if p, err := url.Parse(c.JWTJWKS); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("config jwt_jwks: %q is not an http(s) URL", c.JWTJWKS)
		}
	}
	for name, u := range c.Users {
		if name == "" || strings.ContainsAny(name, ":@/ ") || u.Password == "" {
			return fmt.Errorf("config users: %q: a name without : @ / or spaces, and a password", name)
		}
		for _, p := range append(slices.Clone(u.Publish), u.Read...) {
			if _, err := path.Match(p, ""); err != nil {
				return fmt.Errorf("config users: %s: pattern %q: %w", name, p, err)
			}
		}
	}
	for _, u := range c.WebhookURLs {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("config webhook_urls: %q is not an http(s) URL", u)
		}
	}
	for _, s := range c.WebRTCICEServers {
		if _, err := ParseICEServer(s); err != nil {
			return fmt.Errorf("config webrtc_ice_servers: %w", err)
		}
	}
	if c.RTSPRTPPort != 0 && (c.RTSPRTPPort%2 != 0 || c.RTSPRTCPPort != c.RTSPRTPPort+1) {
		return fmt.Errorf("config rtsp_rtp_port/rtsp_rtcp_port: %d/%d: want an even RTP port and RTCP one above it", c.RTSPRTPPort, c.RTSPRTCPPort)
	}
	if c.RTSPMulticast != "" {
		if ip, _, err := net.ParseCIDR(c.RTSPMulticast); err != nil || !ip.IsMulticast() {
			return fmt.Errorf("config rtsp_multicast: %q is not a multicast range like 224.1.0.0/16", c.RTSPMulticast)
		}
	}
	if n := len(c.SRTPassphrase); n != 0 && (n < 10 || n > 79) {
		return fmt.Errorf("config srt_passphrase: %d characters, SRT wants 10 to 79", n)
	}
	if c.SRTLatency < 0 || c.SRTLatency > 10*time.Second {
		return fmt.Errorf("config srt_latency: %v, want 0 to 10s", c.SRTLatency)
	}
	if c.MediaDir == "" {
		return fmt.Errorf("config media_dir: empty, want a directory")
	}
	if c.MaxUpload < 1 {
		return fmt.Errorf("config max_upload: %d, want at least 1 byte", c.MaxUpload)
	}
	if c.MaxStreams < 1 {
		return fmt.Errorf("config max_streams: %d, want at least 1", c.MaxStreams)
	}
	if c.MaxConns < 1 {
		return fmt.Errorf("config max_conns: %d, want at least 1", c.MaxConns)
	}
	if c.MaxConnsPerIP < 1 {
		return fmt.Errorf("config max_conns_per_ip: %d, want at least 1", c.MaxConnsPerIP)
	}
	if c.PyroscopeURL != "" {
		if u, err := url.Parse(c.PyroscopeURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("config pyroscope_url: %q is not an http(s) URL", c.PyroscopeURL)
		}
	}
	if c.OnPublish != "" {
		if u, err := url.Parse(c.OnPublish); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("config on_publish: %q is not an http(s) URL", c.OnPublish)
		}
	}
	for path, key := range c.PublishKeys {
		if name, ok := strings.CutPrefix(path, relay.StoredPrefix); ok { // who may upload and delete NAME
			if err := vod.ValidateName(name); err != nil {
				return fmt.Errorf("config publish_keys: %w", err)
			}
		} else if err := relay.ValidatePath(path); err != nil {
			return fmt.Errorf("config publish_keys: %w", err)
		}
		if key == "" {
			return fmt.Errorf("config publish_keys: %s has an empty key", path)
		}
	}
	for path, p := range c.Paths {
		if err := relay.ValidatePath(path); err != nil {
			return fmt.Errorf("config paths: %w", err)
		}
		for _, file := range p.Playlist {
			if _, _, err := vod.SplitFile(file); err != nil {
				return fmt.Errorf("config paths: %s: playlist: %w", path, err)
			}
		}
		if p.DVR != nil && *p.DVR < 0 {
			return fmt.Errorf("config paths: %s: dvr: %v is negative", path, *p.DVR)
		}
		if err := validSlate(p.Slate, true); err != nil {
			return fmt.Errorf("config paths: %s: slate: %w", path, err)
		}
		if p.MainRendition != "" && relay.ValidatePath("x/x"+relay.RenditionSep+p.MainRendition) != nil {
			return fmt.Errorf("config paths: %s: main_rendition: %q is not a track id or rid (A-Z a-z 0-9 _ . -)", path, p.MainRendition)
		}
		if _, err := ladder.ParseLadder(p.Renditions); err != nil {
			return fmt.Errorf("config paths: %s: renditions: %w", path, err)
		}
		if p.Source != "" && len(p.Playlist) > 0 {
			return fmt.Errorf("config paths: %s: source and playlist: a path has one or the other", path)
		}
	}
	if c.RecordSegment < time.Second {
		return fmt.Errorf("config record_segment: %v, want at least 1s", c.RecordSegment)
	}
	if c.RecordDeleteAfter < 0 {
		return fmt.Errorf("config record_delete_after: %v is negative", c.RecordDeleteAfter)
	}
	if c.DVR < 0 {
		return fmt.Errorf("config dvr: %v is negative", c.DVR)
	}
	if c.RecordMaxBytes < 0 {
		return fmt.Errorf("config record_max_bytes: %d is negative", c.RecordMaxBytes)
	}
	if _, err := ParseLevel(c.LogLevel); err != nil {
		return fmt.Errorf("config log_level: %w", err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("config log_format: %q is not text or json", c.LogFormat)
	}
	if err := validSlate(c.Slate, false); err != nil {
		return fmt.Errorf("config slate: %w", err)
	}
	if c.RecordRenditions != RecordTopRendition && c.RecordRenditions != RecordAllRenditions {
		return fmt.Errorf("config record_renditions: %q is not top or all", c.RecordRenditions)
	}
	switch c.LadderEncoder {
	case ladder.EncoderAuto, ladder.EncoderX264, ladder.EncoderNVENC, ladder.EncoderVAAPI, ladder.EncoderQSV:
	default:
		return fmt.Errorf("config ladder_encoder: %q is not auto, libx264, h264_nvenc, h264_vaapi or h264_qsv", c.LadderEncoder)
	}
	if c.LadderCloseAfter < time.Second {
		return fmt.Errorf("config ladder_close_after: %v, want at least 1s", c.LadderCloseAfter)
	}
	if c.Grace < 0 {
		return fmt.Errorf("config grace: %v is negative", c.Grace)
	}
	if c.MaxLag <= 0 {
		return fmt.Errorf("config max_lag: %v must be positive", c.MaxLag)
	}
	return nil
}

// secrets are the fields Shown hides.
var secrets = map[string]bool{"publish_key": true, "read_key": true, "api_key": true, "publish_keys": true, "srt_passphrase": true}

// Shown is the configuration as the control API shows it: by YAML key, with every key
// and password replaced by "(set)".
func (c Config) Shown() map[string]any {
	out := c.raw()
	if paths, ok := out["paths"].(map[string]any); ok {
		for _, p := range paths {
			if p, ok := p.(map[string]any); ok {
				hideURLs(p, "source", "push")
			}
		}
	}
	if origins, ok := out["origin"].([]any); ok {
		for i, o := range origins {
			origins[i] = hideURL(fmt.Sprint(o))
		}
	}
	for k, v := range out {
		if !secrets[k] {
			continue
		}
		switch v := v.(type) {
		case string:
			if v != "" {
				out[k] = "(set)"
			}
		case map[string]any:
			for p := range v {
				v[p] = "(set)"
			}
		}
	}
	return out
}

// hideURLs replaces the URLs under keys of m with what hideURL shows of them.
func hideURLs(m map[string]any, keys ...string) {
	for _, k := range keys {
		switch v := m[k].(type) {
		case string:
			m[k] = hideURL(v)
		case []any:
			for i, u := range v {
				v[i] = hideURL(fmt.Sprint(u))
			}
		}
	}
}

// hideURL shows a URL's scheme and host only: stream keys go in its path and query, and
// credentials in its user part.
func hideURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(set)"
	}
	if u.Path == "" && u.RawQuery == "" && u.User == nil {
		return u.Scheme + "://" + u.Host
	}
	return u.Scheme + "://" + u.Host + "/(set)"
}

// ParseLevel reads a log level name.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("%q is not debug, info, warn or error", s)
	}
	return l, nil
}

// boolFlag takes -name, -name=true and -name=false, and keeps the text for setField.
type boolFlag struct{ v *string }

func (b boolFlag) String() string {
	if b.v == nil {
		return ""
	}
	return *b.v
}
func (b boolFlag) Set(s string) error { *b.v = s; return nil }
func (b boolFlag) IsBoolFlag() bool   { return true }

// Changed names the settings that differ between a and b, by YAML key (values are not
// shown: some are secrets).
func Changed(a, b Config) []string {
	am, bm := a.raw(), b.raw()
	var keys []string
	for k, v := range bm {
		if fmt.Sprint(am[k]) != fmt.Sprint(v) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// raw is the configuration by YAML key.
func (c Config) raw() map[string]any {
	out := map[string]any{}
	if b, err := yaml.Marshal(c); err == nil {
		_ = yaml.Unmarshal(b, &out)
	}
	return out
}

// ICEServer is a STUN or TURN server WebRTC clients are told of.
type ICEServer struct {
	URL                  string // stun:, stuns:, turn: or turns: (RFC 7064, 7065)
	Username, Credential string // TURN's
}

// ParseICEServer reads a server as webrtc_ice_servers gives it: a STUN or TURN URI, a TURN
// one with USER:PASS@ before its host (turn:USER:PASS@HOST:PORT?transport=udp).
func ParseICEServer(s string) (ICEServer, error) {
	scheme, rest, _ := strings.Cut(s, ":")
	var srv ICEServer
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if scheme != "turn" && scheme != "turns" {
			return srv, fmt.Errorf("%q: only a TURN server takes a user and password", s)
		}
		user, pass, ok := strings.Cut(rest[:at], ":")
		if !ok || user == "" {
			return srv, fmt.Errorf("%q: want turn:USER:PASS@HOST:PORT", s)
		}
		srv.Username, srv.Credential, rest = user, pass, rest[at+1:]
	}
	srv.URL = scheme + ":" + rest
	if _, err := stun.ParseURI(srv.URL); err != nil {
		return srv, fmt.Errorf("%q: %w (want stun:HOST:PORT or turn:USER:PASS@HOST:PORT?transport=udp)", srv.URL, err)
	}
	return srv, nil
}

// validOrigin takes "*" or an origin as browsers send it: scheme://host[:port], no path.
func validOrigin(o string) error {
	if o == "*" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.TrimSuffix(u.Path, "/") != "" ||
		u.RawQuery != "" || u.User != nil {
		return fmt.Errorf("%q is not an origin like https://example.com or *", o)
	}
	return nil
}
