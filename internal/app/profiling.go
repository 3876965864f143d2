package app

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/grafana/pyroscope-go"

	"github.com/relaycast/relaycast/internal/conf"
)

// startProfiling sends CPU, allocation and goroutine profiles to a Pyroscope server every
// uploadRate, when one is configured. Goroutines that serve a stream carry a "stream" label
// (and "protocol"), so a profile can be split by stream.
func startProfiling(cfg conf.Config, uploadRate time.Duration, log *slog.Logger) (stop func(), err error) {
	if cfg.PyroscopeURL == "" {
		return func() {}, nil
	}
	tags := map[string]string{}
	for _, kv := range strings.Split(cfg.PyroscopeTags, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			tags[k] = v
		}
	}
	p, err := pyroscope.Start(pyroscope.Config{
		ApplicationName: cfg.PyroscopeApp,
		ServerAddress:   cfg.PyroscopeURL,
		Tags:            tags,
		UploadRate:      uploadRate,
		Logger:          pyroscopeLogger{log},
		ProfileTypes: []pyroscope.ProfileType{
			pyroscope.ProfileCPU, pyroscope.ProfileAllocObjects, pyroscope.ProfileAllocSpace,
			pyroscope.ProfileInuseObjects, pyroscope.ProfileInuseSpace, pyroscope.ProfileGoroutines,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("pyroscope %s: %w", cfg.PyroscopeURL, err)
	}
	log.Info("continuous profiling on", "pyroscope", cfg.PyroscopeURL, "app", cfg.PyroscopeApp)
	return func() { _ = p.Stop() }, nil
}

// pyroscopeLogger puts the profiler's messages in our log, debug and info at debug level.
type pyroscopeLogger struct{ log *slog.Logger }

func (l pyroscopeLogger) Infof(f string, a ...any) {
	l.log.Debug(fmt.Sprintf(f, a...), "from", "pyroscope")
}
func (l pyroscopeLogger) Debugf(f string, a ...any) {
	l.log.Debug(fmt.Sprintf(f, a...), "from", "pyroscope")
}
func (l pyroscopeLogger) Errorf(f string, a ...any) {
	l.log.Warn(fmt.Sprintf(f, a...), "from", "pyroscope")
}
