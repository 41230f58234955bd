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
// leaves a scalar as it was and makes a slice or pointer nil; an empty array is an
// empty slice; numbers go into integers only when they are integers in
// range; an isolator's value is kept as its raw bytes; a value of the
// wrong type is an error. One difference: a key given twice replaces the
// value, where json.Unmarshal merges objects into what an earlier key
// left. FuzzDecodePodManifest holds it to json.Unmarshal.
func decodePodManifest(data []byte) (*PodManifest, error) {
	d := &tokens{dec: json.NewDecoder(bytes.NewReader(data)), data: data}
	d.dec.UseNumber()
	var pm PodManifest
	tok, err := d.dec.Token()
	if err != nil {
		return nil, err
	}
	if err := d.podManifest(tok, &pm); err != nil {
		return nil, err
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	return &pm, nil
}

// end checks that nothing but white space follows the value read.
func (d *tokens) end() error {
	if _, err := d.dec.Token(); !errors.Is(err, io.EOF) {
		if err == nil {
			err = errors.New("invalid character after top-level value")
		}
		return err
	}
	return nil
}

// tokens reads JSON values from a decoder's token stream. Each reader
// gets the first token of its value, already read.
type tokens struct {
	dec *json.Decoder
	// data is what dec reads, and keyEnd the offset in it just past the
	// last object key read (raw).
	data   []byte
	keyEnd int64
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
	return &typeError{got: got, want: want}
}

// typeError is a value of the wrong type, at field: the keys that lead to
// it from the top, as encoding/json names them ("apps.app.user").
type typeError struct{ got, want, field string }

func (e *typeError) Error() string {
	if e.field == "" {
		return fmt.Sprintf("json: cannot unmarshal %s into a value of type %s", e.got, e.want)
	}
	return fmt.Sprintf("json: cannot unmarshal %s into field %s of type %s", e.got, e.field, e.want)
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

// field is a key of an object, and what reads its value from the value's
// first token.
type field struct {
	name string
	read func(json.Token) error
}

// object reads an object whose first token was tok (null leaves it
// alone): the value of each key goes to the field the key selects (its
// exact name, else the first that matches it case-insensitively), and
// keys that select none are skipped.
func (d *tokens) object(tok json.Token, want string, fields ...field) error {
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
		k, _ := kt.(string) // the decoder gives only strings as keys
		d.keyEnd = d.dec.InputOffset()
		vt, err := d.next()
		if err != nil {
			return err
		}
		read := d.skip
		if f := selectField(k, fields); f != nil {
			read = f.read
		}
		if err := read(vt); err != nil {
			var te *typeError
			if errors.As(err, &te) {
				te.field = strings.TrimSuffix(k+"."+te.field, ".")
			}
			return err
		}
	}
	_, err := d.dec.Token() // '}'
	return err
}

// selectField returns the field key selects, or nil.
func selectField(key string, fields []field) *field {
	for i := range fields {
		if fields[i].name == key {
			return &fields[i]
		}
	}
	for i := range fields {
		if strings.EqualFold(fields[i].name, key) {
			return &fields[i]
		}
	}
	return nil
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

// str, boolean and number read a scalar; null leaves it as it was, as
// encoding/json does.
func (d *tokens) str(tok json.Token, p *string) error {
	switch v := tok.(type) {
	case nil:
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
	case bool:
		*p = v
	default:
		return d.mismatch(tok, "bool")
	}
	return nil
}

func (d *tokens) integer(tok json.Token, p *int) error {
	return number(d, tok, p, "int", func(s string) (int, error) {
		n, err := strconv.ParseInt(s, 10, strconv.IntSize)
		return int(n), err
	})
}

func (d *tokens) unsigned(tok json.Token, p *uint) error {
	return number(d, tok, p, "uint", func(s string) (uint, error) {
		n, err := strconv.ParseUint(s, 10, strconv.IntSize)
		return uint(n), err
	})
}

// number reads an integer into *p: parse turns the literal into a T, and
// fails for one that is not an integer in range.
func number[T any](d *tokens, tok json.Token, p *T, want string, parse func(string) (T, error)) error {
	switch v := tok.(type) {
	case nil:
	case json.Number:
		n, err := parse(string(v))
		if err != nil {
			return d.mismatch(tok, want)
		}
		*p = n
	default:
		return d.mismatch(tok, want)
	}
	return nil
}

func (d *tokens) strs(tok json.Token, p *[]string) error {
	return decodeSlice(d, tok, p, d.str)
}

func (d *tokens) podManifest(tok json.Token, pm *PodManifest) error {
	return d.object(tok, "PodManifest",
		field{"acVersion", func(tok json.Token) error { return d.str(tok, &pm.ACVersion) }},
		field{"acKind", func(tok json.Token) error { return d.str(tok, &pm.ACKind) }},
		field{"apps", func(tok json.Token) error { return decodeSlice(d, tok, &pm.Apps, d.runtimeApp) }},
		field{"volumes", func(tok json.Token) error { return decodeSlice(d, tok, &pm.Volumes, d.volume) }},
		field{"ports", func(tok json.Token) error { return decodeSlice(d, tok, &pm.Ports, d.exposedPort) }},
	)
}

func (d *tokens) runtimeApp(tok json.Token, ra *RuntimeApp) error {
	return d.object(tok, "RuntimeApp",
		field{"name", func(tok json.Token) error { return d.str(tok, &ra.Name) }},
		field{"app", func(tok json.Token) error { return ptr(tok, &ra.App, d.app) }},
		field{"readOnlyRootFS", func(tok json.Token) error { return d.boolean(tok, &ra.ReadOnlyRootFS) }},
		field{"mounts", func(tok json.Token) error { return decodeSlice(d, tok, &ra.Mounts, d.mount) }},
	)
}

func (d *tokens) app(tok json.Token, a *App) error {
	return d.object(tok, "App",
		field{"exec", func(tok json.Token) error { return d.strs(tok, &a.Exec) }},
		field{"user", func(tok json.Token) error { return d.str(tok, &a.User) }},
		field{"group", func(tok json.Token) error { return d.str(tok, &a.Group) }},
		field{"supplementaryGIDs", func(tok json.Token) error { return decodeSlice(d, tok, &a.SupplementaryGIDs, d.integer) }},
		field{"workingDirectory", func(tok json.Token) error { return d.str(tok, &a.WorkingDirectory) }},
		field{"environment", func(tok json.Token) error { return decodeSlice(d, tok, &a.Environment, d.envVar) }},
		field{"mountPoints", func(tok json.Token) error { return decodeSlice(d, tok, &a.MountPoints, d.mountPoint) }},
		field{"isolators", func(tok json.Token) error { return decodeSlice(d, tok, &a.Isolators, d.isolator) }},
		field{"ports", func(tok json.Token) error { return decodeSlice(d, tok, &a.Ports, d.port) }},
		field{"eventHandlers", func(tok json.Token) error { return decodeSlice(d, tok, &a.EventHandlers, d.eventHandler) }},
	)
}

func (d *tokens) envVar(tok json.Token, e *EnvVar) error {
	return d.object(tok, "EnvVar",
		field{"name", func(tok json.Token) error { return d.str(tok, &e.Name) }},
		field{"value", func(tok json.Token) error { return d.str(tok, &e.Value) }},
	)
}

func (d *tokens) mountPoint(tok json.Token, m *MountPoint) error {
	return d.object(tok, "MountPoint",
		field{"name", func(tok json.Token) error { return d.str(tok, &m.Name) }},
		field{"path", func(tok json.Token) error { return d.str(tok, &m.Path) }},
		field{"readOnly", func(tok json.Token) error { return d.boolean(tok, &m.ReadOnly) }},
	)
}

func (d *tokens) eventHandler(tok json.Token, h *EventHandler) error {
	return d.object(tok, "EventHandler",
		field{"name", func(tok json.Token) error { return d.str(tok, &h.Name) }},
		field{"exec", func(tok json.Token) error { return d.strs(tok, &h.Exec) }},
	)
}

// isolator keeps the value's raw bytes: the isolator that knows the name
// decodes them (isolators.go).
func (d *tokens) isolator(tok json.Token, iso *Isolator) error {
	return d.object(tok, "Isolator",
		field{"name", func(tok json.Token) error { return d.str(tok, &iso.Name) }},
		field{"value", func(tok json.Token) error {
			raw, err := d.raw(tok)
			iso.Value = raw
			return err
		}},
	)
}

// raw returns the bytes of the value whose first token was tok, as
// json.Unmarshal's json.RawMessage keeps them: object reads only hand it
// to the field of the key they read last, from whose end it cuts the
// value's text.
func (d *tokens) raw(tok json.Token) (json.RawMessage, error) {
	if err := d.skip(tok); err != nil {
		return nil, err
	}
	v := bytes.TrimLeft(d.data[d.keyEnd:d.dec.InputOffset()], " \t\r\n:")
	return json.RawMessage(bytes.Clone(v)), nil
}

func (d *tokens) port(tok json.Token, p *Port) error {
	return d.object(tok, "Port",
		field{"name", func(tok json.Token) error { return d.str(tok, &p.Name) }},
		field{"protocol", func(tok json.Token) error { return d.str(tok, &p.Protocol) }},
		field{"port", func(tok json.Token) error { return d.unsigned(tok, &p.Port) }},
		field{"count", func(tok json.Token) error { return d.unsigned(tok, &p.Count) }},
	)
}

func (d *tokens) exposedPort(tok json.Token, p *ExposedPort) error {
	return d.object(tok, "ExposedPort",
		field{"name", func(tok json.Token) error { return d.str(tok, &p.Name) }},
		field{"hostPort", func(tok json.Token) error { return d.unsigned(tok, &p.HostPort) }},
		field{"hostIP", func(tok json.Token) error { return d.str(tok, &p.HostIP) }},
		field{"podPort", func(tok json.Token) error { return ptr(tok, &p.PodPort, d.port) }},
	)
}

func (d *tokens) mount(tok json.Token, m *Mount) error {
	return d.object(tok, "Mount",
		field{"volume", func(tok json.Token) error { return d.str(tok, &m.Volume) }},
		field{"path", func(tok json.Token) error { return d.str(tok, &m.Path) }},
		field{"appVolume", func(tok json.Token) error { return ptr(tok, &m.AppVolume, d.volume) }},
	)
}

func (d *tokens) volume(tok json.Token, v *Volume) error {
	return d.object(tok, "Volume",
		field{"name", func(tok json.Token) error { return d.str(tok, &v.Name) }},
		field{"kind", func(tok json.Token) error { return d.str(tok, &v.Kind) }},
		field{"source", func(tok json.Token) error { return d.str(tok, &v.Source) }},
		field{"readOnly", func(tok json.Token) error { return ptr(tok, &v.ReadOnly, d.boolean) }},
		field{"recursive", func(tok json.Token) error { return ptr(tok, &v.Recursive, d.boolean) }},
		field{"mode", func(tok json.Token) error { return ptr(tok, &v.Mode, d.str) }},
		field{"uid", func(tok json.Token) error { return ptr(tok, &v.UID, d.integer) }},
		field{"gid", func(tok json.Token) error { return ptr(tok, &v.GID, d.integer) }},
	)
}
