package testenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// TokenIssuer is an operator's site issuing JSON Web Tokens: RS256 or ES256 with keys its
// JWKS URL serves, or HS256 with a key it shares with the server.
type TokenIssuer struct {
	JWKSURL string
	HSKey   string
	rsa     *rsa.PrivateKey
	ec      *ecdsa.PrivateKey
}

// NewTokenIssuer starts the issuer's JWKS server, for the test.
func NewTokenIssuer(t testing.TB) *TokenIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set := jwkset.NewMemoryStorage()
	for _, k := range []struct {
		key any
		kid string
		alg jwkset.ALG
	}{{&key.PublicKey, "site-1", jwkset.AlgRS256}, {&ec.PublicKey, "site-2", jwkset.AlgES256}} {
		jwk, err := jwkset.NewJWKFromKey(k.key, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: k.kid, ALG: k.alg}})
		if err != nil {
			t.Fatal(err)
		}
		if err := set.KeyWrite(context.Background(), jwk); err != nil {
			t.Fatal(err)
		}
	}
	body, err := set.JSONPublic(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return &TokenIssuer{JWKSURL: srv.URL + "/.well-known/jwks.json", HSKey: "shared-hs256-key-of-the-site", rsa: key, ec: ec}
}

// Token is a token of alg (RS256, ES256 or HS256) expiring in exp (negative: expired), giving read
// and publish on these path patterns.
func (i *TokenIssuer) Token(t testing.TB, alg string, exp time.Duration, read, publish []string) string {
	t.Helper()
	claims := jwt.MapClaims{"exp": time.Now().Add(exp).Unix(), "iat": time.Now().Unix(),
		"relaycast": map[string]any{"read": read, "publish": publish}}
	var s string
	var err error
	switch alg {
	case "RS256":
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
		tok.Header["kid"] = "site-1"
		s, err = tok.SignedString(i.rsa)
	case "ES256":
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
		tok.Header["kid"] = "site-2"
		s, err = tok.SignedString(i.ec)
	case "HS256":
		s, err = jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(i.HSKey))
	default:
		t.Fatalf("no %s tokens", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}
