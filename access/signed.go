package access

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// Signed URLs: a site that embeds a stream signs its URL for a while, so a copied link stops
// working (hotlinking). The query carries expires=UNIX&token=HEX, HEX being the HMAC-SHA256
// under the server's URL key of "ACTION\nPATH\nUNIX" (ACTION read or publish, PATH the
// stream's, e.g. live/cam). A playlist carries its query on to what it lists, so one signed
// playlist URL signs its parts and segments.

// SignURL returns the query that signs action on path until expires.
func SignURL(key, action, path string, expires time.Time) url.Values {
	exp := strconv.FormatInt(expires.Unix(), 10)
	return url.Values{"expires": {exp}, "token": {urlMAC(key, action, path, exp)}}
}

func urlMAC(key, action, path, expires string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(action + "\n" + path + "\n" + expires))
	return hex.EncodeToString(m.Sum(nil))
}

// hasSignature says whether a query carries a signed URL's token.
func hasSignature(q url.Values) bool { return q.Get("token") != "" }

// checkSigned says why the signed query q does not give action on path, or nil.
func checkSigned(key, action, path string, q url.Values, now time.Time) error {
	exp, token := q.Get("expires"), q.Get("token")
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: signed URL without a valid expires", ErrUnauthorized)
	}
	if !hmac.Equal([]byte(token), []byte(urlMAC(key, action, path, exp))) {
		return fmt.Errorf("%w: the signed URL is not for %s %s (or was altered)", ErrUnauthorized, action, path)
	}
	if now.Unix() > unix {
		return fmt.Errorf("%w: the signed URL expired at %s", ErrUnauthorized, time.Unix(unix, 0).UTC().Format(time.RFC3339))
	}
	return nil
}
