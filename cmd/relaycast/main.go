// Command relaycast is a live streaming media server: publish over RTMP, watch over RTMP,
// RTSP and in the browser.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/relaycast/relaycast/access"
	"github.com/relaycast/relaycast/internal/app"
	"github.com/relaycast/relaycast/internal/conf"
)

// version is set at build time (-ldflags "-X main.version=v1.2.3"); else the module's.
var version = ""

func main() {
	args := os.Args[1:]
	cfg, cmd, err := conf.LoadCommand(args, os.Getenv, os.Stderr)
	switch {
	case cmd.Version:
		fmt.Println(versionLine())
		return
	case err != nil:
		fmt.Fprintln(os.Stderr, "relaycast:", err)
		os.Exit(2)
	case cmd.PrintConfig:
		_, _ = os.Stdout.Write(cfg.YAML())
		return
	case cmd.SignURL != "":
		if cfg.URLSigningKey == "" || (cmd.SignAction != "read" && cmd.SignAction != "publish") {
			fmt.Fprintln(os.Stderr, "relaycast: -sign-url needs url_signing_key, and -sign-action read or publish")
			os.Exit(2)
		}
		fmt.Println(access.SignURL(cfg.URLSigningKey, cmd.SignAction, cmd.SignURL, time.Now().Add(cmd.SignFor)).Encode())
		return
	}
	level := new(slog.LevelVar)
	l, _ := conf.ParseLevel(cfg.LogLevel)
	level.Set(l)
	opts := &slog.HandlerOptions{Level: level}
	var handler slog.Handler = slog.NewTextHandler(os.Stderr, opts)
	if cfg.LogFormat == "json" {
		handler = slog.NewJSONHandler(os.Stderr, opts)
	}
	log := slog.New(handler)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	log.Info("relaycast starting", "version", versionLine())
	err = run(ctx, cfg, log, level, hup, func() (conf.Config, error) { return conf.Load(args, os.Getenv, io.Discard) })
	if err != nil {
		log.Error("relaycast stopped", "err", err)
		os.Exit(1)
	}
}

// run serves cfg until ctx ends, reloading the configuration on SIGHUP and when its file
// changes.
func run(ctx context.Context, cfg conf.Config, log *slog.Logger, level *slog.LevelVar, hup <-chan os.Signal,
	load func() (conf.Config, error)) error {
	a, err := app.New(cfg, log, nil)
	if err != nil {
		return err
	}
	a.LogLevel = level
	stopReloads, err := a.ReloadOn(hup, load)
	if err != nil {
		_ = a.Close()
		return err
	}
	defer stopReloads()
	return a.Run(ctx)
}

// versionLine names the build: its version, the commit it was built from and the Go release.
func versionLine() string {
	v, commit, dirty := version, "", ""
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			switch {
			case s.Key == "vcs.revision" && len(s.Value) >= 12:
				commit = s.Value[:12]
			case s.Key == "vcs.modified" && s.Value == "true":
				dirty = "+changes"
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	line := "relaycast " + v
	if commit != "" {
		line += " (commit " + commit + dirty + ")"
	}
	return line + " " + runtime.Version()
}
