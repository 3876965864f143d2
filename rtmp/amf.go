package rtmp

import (
	"bytes"

	"github.com/yutopp/go-amf0"
)

// status is an onStatus info object.
type status struct {
	level, code, description string
}

var (
	statusPublishBadName  = status{"error", "NetStream.Publish.BadName", ""}
	statusPlayNotFound    = status{"error", "NetStream.Play.StreamNotFound", ""}
	statusPlayFailed      = status{"error", "NetStream.Play.Failed", ""}
	statusPlayUnpublished = status{"status", "NetStream.Play.UnpublishNotify", ""}
	statusServerShutdown  = status{"status", "NetStream.Unpublish.Success", "the server is shutting down"}
)

func (s status) with(description string) status {
	s.description = description
	return s
}

// args encodes the arguments of an onStatus command after its name and transaction id:
// a null command object and the info object.
func (s status) args() []byte {
	var b bytes.Buffer
	enc := amf0.NewEncoder(&b)
	_ = enc.Encode(nil)
	_ = enc.Encode(map[string]interface{}{"level": s.level, "code": s.code, "description": s.description})
	return b.Bytes()
}

// command encodes a whole onStatus command message body.
func (s status) command() []byte {
	var b bytes.Buffer
	enc := amf0.NewEncoder(&b)
	_ = enc.Encode("onStatus")
	_ = enc.Encode(float64(0))
	b.Write(s.args())
	return b.Bytes()
}

// fourCCList reads the fourCcList of a connect command (enhanced RTMP v2): the codecs the
// client can take, "*" for any. The guard has checked body.
func fourCCList(body []byte) []string {
	dec := amf0.NewDecoder(bytes.NewReader(body))
	var name, txid, obj any
	if dec.Decode(&name) != nil || dec.Decode(&txid) != nil || dec.Decode(&obj) != nil {
		return nil
	}
	m, _ := obj.(map[string]any)
	list, _ := m["fourCcList"].([]any)
	var out []string
	for _, v := range list {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
