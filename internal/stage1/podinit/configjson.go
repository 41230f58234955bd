package podinit

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
)

// MarshalJSON encodes c as json.Marshal would by c's struct tags, without
// encoding/json's reflection over Config: that is built anew in every run
// process, 0.11-0.14 ms cold for this one flat struct, on the way to pod
// init's start.
func (c Config) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 256)
	b = append(b, '{')
	field := func(name string) {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(append(append(b, '"'), name...), '"', ':')
	}
	s := func(name, v string, omitEmpty bool) {
		if omitEmpty && v == "" {
			return
		}
		field(name)
		b = appendJSONString(b, v)
	}
	boolean := func(name string, v bool) {
		if v {
			field(name)
			b = append(b, "true"...)
		}
	}
	u32 := func(name string, v uint32) {
		if v != 0 {
			field(name)
			b = strconv.AppendUint(b, uint64(v), 10)
		}
	}
	s("hostname", c.Hostname, false)
	s("net", c.Net, false)
	boolean("interactive", c.Interactive)
	s("tty", c.TTY, true)
	field("stopTimeout")
	b = strconv.AppendInt(b, int64(c.StopTimeout), 10)
	boolean("debug", c.Debug)
	s("hostResolvConf", c.HostResolvConf, true)
	s("resolvMode", c.ResolvMode, true)
	s("hostsMode", c.HostsMode, true)
	s("hostHosts", c.HostHosts, true)
	s("hostsEntries", c.HostsEntries, true)
	s("podIP", c.PodIP, true)
	s("netResolvConf", c.NetResolvConf, true)
	boolean("disableCapabilities", c.DisableCapabilities)
	boolean("disablePaths", c.DisablePaths)
	boolean("disableSeccomp", c.DisableSeccomp)
	u32("usernsShift", c.UsernsShift)
	u32("usernsSize", c.UsernsSize)
	s("metadataURL", c.MetadataURL, true)
	return append(b, '}'), nil
}

// appendJSONString appends s as a JSON string, escaped as json.Marshal
// escapes it (HTML characters, U+2028 and U+2029 included; invalid UTF-8
// becomes U+FFFD), without encoding/json: the run process uses nothing
// else of it on its way to pod init's start.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(append(b, s[start:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(append(b, s[start:i]...), '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(append(b, s[start:]...), '"')
}

// UnmarshalJSON decodes a Config as json.Unmarshal would by its struct
// tags, from encoding/json's tokens rather than by reflection (0.08-0.12
// ms cold in pod init, on its way to the apps).
func (c *Config) UnmarshalJSON(data []byte) error {
	d := &tokens{dec: json.NewDecoder(bytes.NewReader(data))}
	d.dec.UseNumber()
	tok, err := d.next()
	if err != nil {
		return err
	}
	if tok == nil {
		return d.end() // null: as encoding/json, no change
	}
	// Keys the data does not give keep their values, as with
	// encoding/json; on an error nothing changes.
	v := *c
	err = d.object(tok, "Config",
		field{"hostname", func(tok json.Token) error { return d.str(tok, &v.Hostname) }},
		field{"net", func(tok json.Token) error { return d.str(tok, &v.Net) }},
		field{"interactive", func(tok json.Token) error { return d.boolean(tok, &v.Interactive) }},
		field{"tty", func(tok json.Token) error { return d.str(tok, &v.TTY) }},
		field{"stopTimeout", func(tok json.Token) error { return d.duration(tok, &v.StopTimeout) }},
		field{"debug", func(tok json.Token) error { return d.boolean(tok, &v.Debug) }},
		field{"hostResolvConf", func(tok json.Token) error { return d.str(tok, &v.HostResolvConf) }},
		field{"resolvMode", func(tok json.Token) error { return d.str(tok, &v.ResolvMode) }},
		field{"hostsMode", func(tok json.Token) error { return d.str(tok, &v.HostsMode) }},
		field{"hostHosts", func(tok json.Token) error { return d.str(tok, &v.HostHosts) }},
		field{"hostsEntries", func(tok json.Token) error { return d.str(tok, &v.HostsEntries) }},
		field{"podIP", func(tok json.Token) error { return d.str(tok, &v.PodIP) }},
		field{"netResolvConf", func(tok json.Token) error { return d.str(tok, &v.NetResolvConf) }},
		field{"disableCapabilities", func(tok json.Token) error { return d.boolean(tok, &v.DisableCapabilities) }},
		field{"disablePaths", func(tok json.Token) error { return d.boolean(tok, &v.DisablePaths) }},
		field{"disableSeccomp", func(tok json.Token) error { return d.boolean(tok, &v.DisableSeccomp) }},
		field{"usernsShift", func(tok json.Token) error { return d.uint32(tok, &v.UsernsShift) }},
		field{"usernsSize", func(tok json.Token) error { return d.uint32(tok, &v.UsernsSize) }},
		field{"metadataURL", func(tok json.Token) error { return d.str(tok, &v.MetadataURL) }},
	)
	if err != nil {
		return err
	}
	if err := d.end(); err != nil {
		return err
	}
	*c = v
	return nil
}

func (d *tokens) duration(tok json.Token, p *time.Duration) error {
	return number(d, tok, p, "time.Duration", func(s string) (time.Duration, error) {
		n, err := strconv.ParseInt(s, 10, 64)
		return time.Duration(n), err
	})
}

func (d *tokens) uint32(tok json.Token, p *uint32) error {
	return number(d, tok, p, "uint32", func(s string) (uint32, error) {
		n, err := strconv.ParseUint(s, 10, 32)
		return uint32(n), err
	})
}
