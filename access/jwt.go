package access

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// JWT verifies JSON Web Tokens the operator's own site issues: signed with a shared key
// (HS256/384/512), or with a key of a JWKS URL (RS, PS, ES, EdDSA). A token's relaycast claim
// says what it gives, as path patterns (path.Match: live/* is every stream of live):
//
//	{"exp": 1765100000, "relaycast": {"publish": ["live/studio"], "read": ["live/*"]}}
//
// A token must expire (exp). It comes as ?jwt=TOKEN, or in a stream key's place (?key=,
// Authorization: Bearer for WHEP and WHIP).
type JWT struct {
	key     []byte // HMAC; nil: none
	jwksURL string // "": none
	parser  *jwt.Parser

	mu      sync.Mutex
	keys    jwkset.Storage // the JWKS as last fetched; nil before the first token
	fetched time.Time
}

// jwksRefetch bounds how often the JWKS is fetched again for a key it does not have (a key
// rotation), and jwksMaxAge how long a fetched set is used.
const (
	jwksRefetch = time.Minute
	jwksMaxAge  = time.Hour
)

// NewJWT verifies with key (HMAC) and the keys of jwksURL; either may be empty.
func NewJWT(key, jwksURL string) *JWT {
	j := &JWT{jwksURL: jwksURL, parser: jwt.NewParser(
		jwt.WithValidMethods([]string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
			"ES256", "ES384", "ES512", "EdDSA"}),
		jwt.WithExpirationRequired(), jwt.WithLeeway(30*time.Second))}
	if key != "" {
		j.key = []byte(key)
	}
	return j
}

// claims are a token's: the registered ones and what it gives.
type claims struct {
	jwt.RegisteredClaims
	Relaycast struct {
		Publish []string `json:"publish"`
		Read    []string `json:"read"`
	} `json:"relaycast"`
}

// tokenOf is the JWT a request carries, or "".
func tokenOf(q url.Values) string {
	if t := q.Get("jwt"); t != "" {
		return t
	}
	if k := q.Get("key"); strings.Count(k, ".") == 2 && strings.HasPrefix(k, "eyJ") {
		return k
	}
	return ""
}

// allow says why token does not give action on streamPath, or nil.
func (j *JWT) allow(action, streamPath, token string) error {
	var c claims
	if _, err := j.parser.ParseWithClaims(token, &c, j.keyFor); err != nil {
		return fmt.Errorf("%w: token: %v", ErrUnauthorized, err)
	}
	patterns := c.Relaycast.Read
	if action == "publish" {
		patterns = c.Relaycast.Publish
	}
	for _, p := range patterns {
		if ok, _ := path.Match(p, streamPath); ok {
			return nil
		}
	}
	return fmt.Errorf("%w: the token does not give %s on %s", ErrUnauthorized, action, streamPath)
}

// keyFor finds the key that checks t's signature.
func (j *JWT) keyFor(t *jwt.Token) (any, error) {
	if _, ok := t.Method.(*jwt.SigningMethodHMAC); ok {
		if j.key == nil {
			return nil, errors.New("HMAC tokens are not taken here (no jwt_key)")
		}
		return j.key, nil
	}
	if j.jwksURL == "" {
		return nil, fmt.Errorf("%s tokens are not taken here (no jwt_jwks)", t.Method.Alg())
	}
	kid, _ := t.Header["kid"].(string)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	k, err := j.jwks(ctx, kid)
	if err != nil {
		return nil, err
	}
	return k.Key(), nil
}

// jwks returns the JWK of kid, fetching the set when it is old or lacks kid (at most once
// a jwksRefetch).
func (j *JWT) jwks(ctx context.Context, kid string) (jwkset.JWK, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.keys != nil && time.Since(j.fetched) < jwksMaxAge {
		if k, err := j.keys.KeyRead(ctx, kid); err == nil {
			return k, nil
		}
		if time.Since(j.fetched) < jwksRefetch {
			return jwkset.JWK{}, fmt.Errorf("no key %q in the JWKS", kid)
		}
	}
	keys, err := jwkset.NewStorageFromHTTP(j.jwksURL, jwkset.HTTPClientStorageOptions{Ctx: ctx, HTTPTimeout: 5 * time.Second})
	if err != nil {
		return jwkset.JWK{}, fmt.Errorf("JWKS: %w", err)
	}
	j.keys, j.fetched = keys, time.Now()
	k, err := keys.KeyRead(ctx, kid)
	if err != nil {
		return jwkset.JWK{}, fmt.Errorf("no key %q in the JWKS", kid)
	}
	return k, nil
}
