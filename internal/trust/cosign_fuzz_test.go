package trust

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzParseCosignPayload feeds the simple-signing payload parser (signed,
// but by whoever holds a key: hostile until its checks pass) and checks
// that what it accepts is one JSON object whose critical fields are the
// ones returned.
func FuzzParseCosignPayload(f *testing.F) {
	for _, s := range []string{
		string(payloadFor(testRepo, testDigest)),
		`{"critical":{"identity":{"docker-reference":"a"},"image":{"docker-manifest-digest":"b"},"type":"c"},"optional":{"k":["v",1,{"x":null}]}}`,
		`{"critical":{"type":"t","type":"u"}}`, `{"critical":null}`, `{}`, `[]`, `null`, `{"critical":{}} {}`,
		`{"critical":{"identity":{"docker-reference":"a","docker-reference":"b"}}}`, "\xff", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseCosignPayload(b)
		if err != nil {
			if p != nil {
				t.Fatalf("payload %+v returned with error %v", p, err)
			}
			return
		}
		if !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
		var generic struct {
			Critical struct {
				Type     string `json:"type"`
				Identity struct {
					DockerReference string `json:"docker-reference"`
				} `json:"identity"`
				Image struct {
					DockerManifestDigest string `json:"docker-manifest-digest"`
				} `json:"image"`
			} `json:"critical"`
		}
		if err := json.Unmarshal(b, &generic); err != nil {
			t.Fatalf("accepted %q that encoding/json refuses: %v", b, err)
		}
		c := generic.Critical
		if c.Type != p.Type || c.Identity.DockerReference != p.DockerReference || c.Image.DockerManifestDigest != p.ManifestDigest {
			t.Fatalf("parsed %+v, encoding/json reads %+v", p, c)
		}
		if !strings.HasPrefix(strings.TrimLeft(string(b), " \t\r\n"), "{") {
			t.Fatalf("accepted a payload that is not an object: %q", b)
		}
	})
}
