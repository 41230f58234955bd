package podinit

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// podManifestSeeds are manifests as stage0 writes them, and some that are
// not.
var podManifestSeeds = []string{
	appcManifest,
	`{"acVersion":"0.8.11","acKind":"PodManifest","apps":[{"name":"busybox-oci","image":{"name":"localhost/busybox-oci","id":"sha512-8c"},"app":{"exec":["/bin/true"],"user":"0","group":"0","workingDirectory":"/","environment":[{"name":"PATH","value":"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},{"name":"HOME","value":"/root"}]},"annotations":[{"name":"rkt.dev/image-id","value":"sha256-a2"}]}],"volumes":null,"isolators":null,"annotations":null,"ports":null}`,
	`{"acVersion":"0.8.11","acKind":"PodManifest","apps":[{"name":"a","app":{"exec":["/x"],"user":"0","group":"0","isolators":[{"name":"os/linux/capabilities-retain-set","value":{"set":["CAP_NET_ADMIN"]}},{"name":"resource/memory","value":{"limit":"1G","x":[1,2.5e3,null,true,"<&>"]}}],"ports":[{"name":"http","protocol":"tcp","port":80,"count":2}],"eventHandlers":[{"name":"pre-start","exec":["/bin/sh","-c","true"]}],"mountPoints":[{"name":"d","path":"/d","readOnly":true}],"supplementaryGIDs":[1,2]}}],"ports":[{"name":"http","hostPort":8080,"hostIP":"127.0.0.1","podPort":{"name":"p","protocol":"udp","port":53}}]}`,
	`{"acVersion":"1","acKind":"PodManifest","apps":[{"name":"a","app":null,"mounts":[{"volume":"v","path":"/v","appVolume":{"name":"v","kind":"empty","readOnly":null,"recursive":true,"mode":"0700","uid":null,"gid":5}}]}],"volumes":[{"name":"e","kind":"empty"}]}`,
	` {"ACKIND":"PodManifest","AcVersion":"1","apps":[null,{}],"unknown":{"a":[{}]}} `,
	`{"acKind":"PodManifest","apps":[{"name":5}]}`,
	`{"acKind":"PodManifest","apps":[{"app":{"supplementaryGIDs":[1.5]}}]}`,
	`{"acKind":"PodManifest","ports":[{"hostPort":-1}]}`,
	`{"acKind":"PodManifest","apps":{}}`,
	`{"acKind":"PodManifest"} x`,
	"{\"acKind\":\"PodManifest\",\"apps\":[{\"app\":{\"isolators\":[{\"name\":\"n\", \"value\" :\n\t{ \"a\" : [ 1 , \"\\u003c\" ] } },{\"value\": 7 ,\"name\":\"m\"}]}}]}",
	`[]`,
	`null`,
	`{"a":`,
}

// hasDuplicateKeys reports whether some object of data gives a key twice
// (case-insensitively), where decodePodManifest replaces the value and
// json.Unmarshal merges into it.
func hasDuplicateKeys(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		object bool
		keys   []string
		key    bool // the next token of an object is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.key {
			if s, ok := tok.(string); ok {
				for _, k := range top.keys {
					if strings.EqualFold(k, s) {
						return true
					}
				}
				top.keys = append(top.keys, s)
				top.key = false
				continue
			}
		}
		if top != nil && top.object {
			top.key = true
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, key: true})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) > 0 && stack[len(stack)-1].object {
				stack[len(stack)-1].key = true
			}
		}
	}
}

func checkAgainstUnmarshal(t *testing.T, data []byte) {
	var want PodManifest
	werr := json.Unmarshal(data, &want)
	got, gerr := decodePodManifest(data)
	if hasDuplicateKeys(data) {
		return
	}
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("decodePodManifest(%q): error %v; json.Unmarshal: %v", data, gerr, werr)
	}
	if werr != nil {
		return
	}
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("decodePodManifest(%q):\n got %+v\nwant %+v", data, *got, want)
	}
}

func TestDecodePodManifest(t *testing.T) {
	for _, s := range podManifestSeeds {
		checkAgainstUnmarshal(t, []byte(s))
	}
	// The raw bytes of an isolator value, as the input gives them (and
	// json.Unmarshal's json.RawMessage keeps them).
	pm, err := decodePodManifest([]byte(podManifestSeeds[2]))
	if err != nil {
		t.Fatal(err)
	}
	if v := string(pm.Apps[0].App.Isolators[1].Value); v != `{"limit":"1G","x":[1,2.5e3,null,true,"<&>"]}` {
		t.Errorf("isolator value = %s", v)
	}
	// A value of the wrong type is named by the keys that lead to it.
	if _, err := decodePodManifest([]byte(`{"acKind":"PodManifest","apps":[{"app":{"supplementaryGIDs":["x"]}}]}`)); err == nil || !strings.Contains(err.Error(), "field apps.app.supplementaryGIDs of type int") {
		t.Errorf("a string GID: error %v, want one naming apps.app.supplementaryGIDs", err)
	}
	if _, err := decodePodManifest([]byte(`{"acKind":"PodManifest"} x`)); err == nil {
		t.Error("trailing data accepted")
	}
}

// FuzzDecodePodManifest holds decodePodManifest to json.Unmarshal: both
// accept the same inputs (but those with a key given twice) and decode
// them alike.
func FuzzDecodePodManifest(f *testing.F) {
	for _, s := range podManifestSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkAgainstUnmarshal(t, data)
	})
}

// TestHasDuplicateKeys: the fuzz test's filter sees duplicates at any
// depth, case-insensitively, and nothing else.
func TestHasDuplicateKeys(t *testing.T) {
	for in, want := range map[string]bool{
		`{"a":1,"b":{"a":2}}`:                  false,
		`{"a":1,"A":2}`:                        true,
		`[{"x":[{"k":1,"k":2}]}]`:              true,
		`{"a":{"b":1},"c":{"b":1}}`:            false,
		`{"a":["a","a"],"b":"a"}`:              false,
		`{"apps":[{"name":"a"},{"name":"b"}]}`: false,
	} {
		if got := hasDuplicateKeys([]byte(in)); got != want {
			t.Errorf("hasDuplicateKeys(%s) = %v, want %v", in, got, want)
		}
	}
}
