package webrtc

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// pionLogs sends pion's logs to log at debug level: pion reports a peer's every hang-up and
// lost packet, which is news to nobody running a server.
func pionLogs(log *slog.Logger) logging.LoggerFactory { return loggerFactory{log} }

type loggerFactory struct{ log *slog.Logger }

func (f loggerFactory) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{f.log.With("pion", scope)}
}

type pionLogger struct{ log *slog.Logger }

func (l pionLogger) Trace(string)                 {}
func (l pionLogger) Tracef(string, ...any)        {}
func (l pionLogger) Debug(msg string)             { l.log.Debug(msg) }
func (l pionLogger) Debugf(f string, args ...any) { l.logf(f, args...) }
func (l pionLogger) Info(msg string)              { l.log.Debug(msg) }
func (l pionLogger) Infof(f string, args ...any)  { l.logf(f, args...) }
func (l pionLogger) Warn(msg string)              { l.log.Debug(msg) }
func (l pionLogger) Warnf(f string, args ...any)  { l.logf(f, args...) }
func (l pionLogger) Error(msg string)             { l.log.Debug(msg) }
func (l pionLogger) Errorf(f string, args ...any) { l.logf(f, args...) }

// logf formats only when the line would be written: pion logs per packet in places.
func (l pionLogger) logf(f string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug(fmt.Sprintf(f, args...))
	}
}
