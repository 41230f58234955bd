package podinit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// decodePodManifest decodes a pod manifest as json.Unmarshal would into a
// PodManifest, but from encoding/json's token stream rather than by
// reflection: json.Unmarshal's per-type set-up (field lists, decoders) is
// built anew in every process, and it cost pod init about 0.15 ms a start
// against 0.01 ms for the decoding itself.
//
// The rules are encoding/json's: an object key matches a field by its
// exact name, else case-insensitively; unknown keys are skipped; null
// leaves a value zero (nil for slices and pointers); an empty array is an
// empty slice; numbers go into integers only when they are integers in
// range; an isolator's value is kept as its raw bytes; a value of the
// wrong type is an error. One difference: a key given twice replaces the
// value, where json.Unmarshal merges objects into what an earlier key
// left. FuzzDecodePodManifest holds it to json.Unmarshal.
func decodePodManifest(data []byte) (*PodManifest, error) {
	d := &tokens{dec: json.NewDecoder(bytes.NewReader(data))}
	d.dec.UseNumber()
	var pm PodManifest
	tok, err := d.dec.Token()
	if err != nil {
		return nil, err
	}
	if err := d.podManifest(tok, &pm); err != nil {
		return nil, err
	}
	// Nothing but white space may follow the value.
	if _, err := d.dec.Token(); !errors.Is(err, io.EOF) {
		if err == nil {
			err = errors.New("invalid character after top-level value")
		}
		return nil, err
	}
	return &pm, nil
}

// tokens reads JSON values from a decoder's token stream. Each reader
// gets the first token of its value, already read.
type tokens struct {
	dec *json.Decoder
}

// fieldName returns the name of fields that key selects: the exact one,
// else the first that matches it case-insensitively, else "".
func fieldName(key string, fields ...string) string {
	for _, f := range fields {
		if f == key {
			return f
		}
	}
	for _, f := range fields {
		if strings.EqualFold(f, key) {
			return f
		}
	}
	return ""
}

// mismatch reads the rest of a value of the wrong type, whose first token
// was tok, and the rest of the input, then says what did not fit: as with
// json.Unmarshal, a syntax error anywhere in the input comes first.
func (d *tokens) mismatch(tok json.Token, want string) error {
	if delim, ok := tok.(json.Delim); ok && (delim == '{' || delim == '[') {
		if err := d.skipRest(); err != nil {
			return err
		}
	}
	for {
		_, err := d.dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	var got string
	switch v := tok.(type) {
	case json.Delim:
		got = "array"
		if v == '{' {
			got = "object"
		}
	case string:
		got = "string"
	case json.Number:
		got = "number " + string(v)
	case bool:
		got = "bool"
	}
	return fmt.Errorf("json: cannot unmarshal %s into a value of type %s", got, want)
}

// next reads the first token of the next value.
func (d *tokens) next() (json.Token, error) { return d.dec.Token() }

// skip discards a value whose first token was tok.
func (d *tokens) skip(tok json.Token) error {
	if delim, ok := tok.(json.Delim); ok && (delim == '{' || delim == '[') {
		return d.skipRest()
	}
	return nil
}

// skipRest reads to the end of an object or array whose opening token was
// read.
func (d *tokens) skipRest() error {
	for depth := 1; depth > 0; {
		tok, err := d.dec.Token()
		if err != nil {
			return err
		}
		if delim, ok := tok.(json.Delim); ok {
			switch delim {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
		}
	}
	return nil
}

// object reads an object whose first token was tok (null leaves it
// alone), calling field with each key and the first token of its value;
// field must read the rest of that value.
func (d *tokens) object(tok json.Token, want string, field func(key string, tok json.Token) error) error {
	if tok == nil {
		return nil
	}
	if tok != json.Delim('{') {
		return d.mismatch(tok, want)
	}
	for d.dec.More() {
		kt, err := d.dec.Token()
		if err != nil {
			return err
		}
		k, ok := kt.(string)
		if !ok {
			return fmt.Errorf("json: object key %v is not a string", kt)
		}
		vt, err := d.next()
		if err != nil {
			return err
		}
		if err := field(k, vt); err != nil {
			return err
		}
	}
	_, err := d.dec.Token() // '}'
	return err
}

// decodeSlice reads an array whose first token was tok into *p (null
// makes it nil, [] empty), each element by elem.
func decodeSlice[T any](d *tokens, tok json.Token, p *[]T, elem func(json.Token, *T) error) error {
	if tok == nil {
		*p = nil
		return nil
	}
	if tok != json.Delim('[') {
		return d.mismatch(tok, "array")
	}
	out := make([]T, 0)
	for d.dec.More() {
		et, err := d.next()
		if err != nil {
			return err
		}
		var v T
		if err := elem(et, &v); err != nil {
			return err
		}
		out = append(out, v)
	}
	if _, err := d.dec.Token(); err != nil { // ']'
		return err
	}
	*p = out
	return nil
}

// ptr reads a value whose first token was tok into a new *T, or makes *p
// nil for null.
func ptr[T any](tok json.Token, p **T, read func(json.Token, *T) error) error {
	if tok == nil {
		*p = nil
		return nil
	}
	v := new(T)
	if err := read(tok, v); err != nil {
		return err
	}
	*p = v
	return nil
}

func (d *tokens) str(tok json.Token, p *string) error {
	switch v := tok.(type) {
	case nil:
		*p = ""
	case string:
		*p = v
	default:
		return d.mismatch(tok, "string")
	}
	return nil
}

func (d *tokens) boolean(tok json.Token, p *bool) error {
	switch v := tok.(type) {
	case nil:
		*p = false
	case bool:
		*p = v
	default:
		return d.mismatch(tok, "bool")
	}
	return nil
}

func (d *tokens) integer(tok json.Token, p *int) error {
	switch v := tok.(type) {
	case nil:
		*p = 0
	case json.Number:
		n, err := strconv.ParseInt(string(v), 10, strconv.IntSize)
		if err != nil {
			return d.mismatch(tok, "int")
		}
		*p = int(n)
	default:
		return d.mismatch(tok, "int")
	}
	return nil
}

func (d *tokens) unsigned(tok json.Token, p *uint) error {
	switch v := tok.(type) {
	case nil:
		*p = 0
	case json.Number:
		n, err := strconv.ParseUint(string(v), 10, strconv.IntSize)
		if err != nil {
			return d.mismatch(tok, "uint")
		}
		*p = uint(n)
	default:
		return d.mismatch(tok, "uint")
	}
	return nil
}

func (d *tokens) strs(tok json.Token, p *[]string) error {
	return decodeSlice(d, tok, p, d.str)
}

func (d *tokens) podManifest(tok json.Token, pm *PodManifest) error {
	return d.object(tok, "PodManifest", func(k string, tok json.Token) error {
		switch fieldName(k, "acVersion", "acKind", "apps", "volumes", "ports") {
		case "acVersion":
			return d.str(tok, &pm.ACVersion)
		case "acKind":
			return d.str(tok, &pm.ACKind)
		case "apps":
			return decodeSlice(d, tok, &pm.Apps, d.runtimeApp)
		case "volumes":
			return decodeSlice(d, tok, &pm.Volumes, d.volume)
		case "ports":
			return decodeSlice(d, tok, &pm.Ports, d.exposedPort)
		}
		return d.skip(tok)
	})
}

func (d *tokens) runtimeApp(tok json.Token, ra *RuntimeApp) error {
	return d.object(tok, "RuntimeApp", func(k string, tok json.Token) error {
		switch fieldName(k, "name", "app", "readOnlyRootFS", "mounts") {
		case "name":
			return d.str(tok, &ra.Name)
		case "app":
			return ptr(tok, &ra.App, d.app)
		case "readOnlyRootFS":
			return d.boolean(tok, &ra.ReadOnlyRootFS)
		case "mounts":
			return decodeSlice(d, tok, &ra.Mounts, d.mount)
		}
		return d.skip(tok)
	})
}

func (d *tokens) app(tok json.Token, a *App) error {
	return d.object(tok, "App", func(k string, tok json.Token) error {
		switch fieldName(k, "exec", "user", "group", "supplementaryGIDs", "workingDirectory", "environment", "mountPoints", "isolators", "ports", "eventHandlers") {
		case "exec":
			return d.strs(tok, &a.Exec)
		case "user":
			return d.str(tok, &a.User)
		case "group":
			return d.str(tok, &a.Group)
		case "supplementaryGIDs":
			return decodeSlice(d, tok, &a.SupplementaryGIDs, d.integer)
		case "workingDirectory":
			return d.str(tok, &a.WorkingDirectory)
		case "environment":
			return decodeSlice(d, tok, &a.Environment, d.envVar)
		case "mountPoints":
			return decodeSlice(d, tok, &a.MountPoints, d.mountPoint)
		case "isolators":
			return decodeSlice(d, tok, &a.Isolators, d.isolator)
		case "ports":
			return decodeSlice(d, tok, &a.Ports, d.port)
		case "eventHandlers":
			return decodeSlice(d, tok, &a.EventHandlers, d.eventHandler)
		}
		return d.skip(tok)
	})
}

func (d *tokens) envVar(tok json.Token, e *EnvVar) error {
	return d.object(tok, "EnvVar", func(k string, tok json.Token) error {
		switch fieldName(k, "name", "value") {
		case "name":
			return d.str(tok, &e.Name)
		case "value":
			return d.str(tok, &e.Value)
		}
		return d.skip(tok)
	})
}

func (d *tokens) mountPoint(tok json.Token, m *MountPoint) error {
	return d.object(tok, "MountPoint", func(k string, tok json.Token) error {
		switch fieldName(k, "name", "path", "readOnly") {
		case "name":
			return d.str(tok, &m.Name)
		case "path":
			return d.str(tok, &m.Path)
		case "readOnly":
			return d.boolean(tok, &m.ReadOnly)
		}
		return d.skip(tok)
	})
}

func (d *tokens) eventHandler(tok json.Token, h *EventHandler) error {
	return d.object(tok, "EventHandler", func(k string, tok json.Token) error {
		switch fieldName(k, "name", "exec") {
		case "name":
			return d.str(tok, &h.Name)
		case "exec":
			return d.strs(tok, &h.Exec)
		}
		return d.skip(tok)
	})
}

// isolator keeps the value's raw bytes: the isolator that knows the name
// decodes them (isolators.go).
func (d *tokens) isolator(tok json.Token, iso *Isolator) error {
	return d.object(tok, "Isolator", func(k string, tok json.Token) error {
		switch fieldName(k, "name", "value") {
		case "name":
			return d.str(tok, &iso.Name)
		case "value":
			raw, err := d.raw(tok)
			iso.Value = raw
			return err
		}
		return d.skip(tok)
	})
}

// raw re-encodes the value whose first token was tok: the compact form
// json.Unmarshal's json.RawMessage would hold, up to white space, which
// json.Compact then removes from both.
func (d *tokens) raw(tok json.Token) (json.RawMessage, error) {
	var b bytes.Buffer
	if err := d.encode(&b, tok); err != nil {
		return nil, err
	}
	return json.RawMessage(b.Bytes()), nil
}

func (d *tokens) encode(b *bytes.Buffer, tok json.Token) error {
	switch v := tok.(type) {
	case nil:
		b.WriteString("null")
	case json.Number:
		b.WriteString(string(v))
	case string, bool:
		s, err := json.Marshal(v)
		if err != nil {
			return err
		}
		b.Write(s)
	case json.Delim:
		first := true
		switch v {
		case '{':
			b.WriteByte('{')
			for d.dec.More() {
				kt, err := d.dec.Token()
				if err != nil {
					return err
				}
				if !first {
					b.WriteByte(',')
				}
				first = false
				if err := d.encode(b, kt); err != nil {
					return err
				}
				b.WriteByte(':')
				vt, err := d.next()
				if err != nil {
					return err
				}
				if err := d.encode(b, vt); err != nil {
					return err
				}
			}
			b.WriteByte('}')
		case '[':
			b.WriteByte('[')
			for d.dec.More() {
				et, err := d.next()
				if err != nil {
					return err
				}
				if !first {
					b.WriteByte(',')
				}
				first = false
				if err := d.encode(b, et); err != nil {
					return err
				}
			}
			b.WriteByte(']')
		}
		_, err := d.dec.Token() // the closing delimiter
		return err
	}
	return nil
}

func (d *tokens) port(tok json.Token, p *Port) error {
	return d.object(tok, "Port", func(k string, tok json.Token) error {
		switch fieldName(k, "name", "protocol", "port", "count") {
		case "name":
			return d.str(tok, &p.Name)
		case "protocol":
			return d.str(tok, &p.Protocol)
		case "port":
			return d.unsigned(tok, &p.Port)
		case "count":
			return d.unsigned(tok, &p.Count)
		}
		return d.skip(tok)
	})
}

func (d *tokens) exposedPort(tok json.Token, p *ExposedPort) error {
	return d.object(tok, "ExposedPort", func(k string, tok json.Token) error {
		switch fieldName(k, "name", "hostPort", "hostIP", "podPort") {
		case "name":
			return d.str(tok, &p.Name)
		case "hostPort":
			return d.unsigned(tok, &p.HostPort)
		case "hostIP":
			return d.str(tok, &p.HostIP)
		case "podPort":
			return ptr(tok, &p.PodPort, d.port)
		}
		return d.skip(tok)
	})
}

func (d *tokens) mount(tok json.Token, m *Mount) error {
	return d.object(tok, "Mount", func(k string, tok json.Token) error {
		switch fieldName(k, "volume", "path", "appVolume") {
		case "volume":
			return d.str(tok, &m.Volume)
		case "path":
			return d.str(tok, &m.Path)
		case "appVolume":
			return ptr(tok, &m.AppVolume, d.volume)
		}
		return d.skip(tok)
	})
}

func (d *tokens) volume(tok json.Token, v *Volume) error {
	return d.object(tok, "Volume", func(k string, tok json.Token) error {
		switch fieldName(k, "name", "kind", "source", "readOnly", "recursive", "mode", "uid", "gid") {
		case "name":
			return d.str(tok, &v.Name)
		case "kind":
			return d.str(tok, &v.Kind)
		case "source":
			return d.str(tok, &v.Source)
		case "readOnly":
			return ptr(tok, &v.ReadOnly, d.boolean)
		case "recursive":
			return ptr(tok, &v.Recursive, d.boolean)
		case "mode":
			return ptr(tok, &v.Mode, d.str)
		case "uid":
			return ptr(tok, &v.UID, d.integer)
		case "gid":
			return ptr(tok, &v.GID, d.integer)
		}
		return d.skip(tok)
	})
}
