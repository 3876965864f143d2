package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/relaycast/relaycast/internal/conf"
)

// certs holds the TLS certificate every TLS port serves, and replaces it when its files change
// or the configuration names others; handshakes in progress keep the one they started with.
type certs struct {
	cur       atomic.Pointer[tls.Certificate]
	mu        sync.Mutex
	cert, key string
	config    *tls.Config
}

func newCerts() *certs {
	c := &certs{}
	c.config = &tls.Config{MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.cur.Load(), nil }}
	return c
}

// load reads the certificate and key from their files; on error the one in use stays.
func (c *certs) load(cert, key string) error {
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return fmt.Errorf("config tls_cert/tls_key: %w", err)
	}
	c.mu.Lock()
	c.cert, c.key = cert, key
	c.mu.Unlock()
	c.cur.Store(&pair)
	return nil
}

// files are the certificate's and key's files now in use.
func (c *certs) files() (string, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cert, c.key
}

// followCerts reloads the certificate whenever its files change, until the app stops or
// followCerts is called again (the configuration names other files).
func (a *App) followCerts() {
	cert, key := a.certs.files()
	a.certMu.Lock()
	defer a.certMu.Unlock()
	if a.stopCerts != nil {
		a.stopCerts()
	}
	if cert == "" {
		return
	}
	a.sources.mu.Lock() // stop takes it too: nothing starts after the app stops
	defer a.sources.mu.Unlock()
	if a.sources.ctx.Err() != nil {
		return
	}
	ctx, cancel := context.WithCancel(a.sources.ctx)
	a.stopCerts = cancel
	for _, file := range []string{cert, key} {
		a.wg.Go(func() {
			err := conf.Watch(ctx, file, func() {
				if err := a.certs.load(cert, key); err != nil {
					a.log.Error("TLS certificate not reloaded: the one in use stays", "file", file, "err", err)
					return
				}
				a.log.Info("TLS certificate reloaded", "cert", cert)
			})
			if err != nil {
				a.log.Error("TLS certificate files not watched", "file", file, "err", err)
			}
		})
	}
}
