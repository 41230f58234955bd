package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// maxConfigFile bounds one configuration file; real ones are a few hundred bytes.
const maxConfigFile = 1 << 20

// Credentials are a user name and password, or a token for oauth.
type Credentials struct {
	User     string `json:"user,omitempty"`
	Password string `json:"password,omitempty"`
	Token    string `json:"token,omitempty"`
}

// Auth is the credential for one HTTPS domain (rktKind "auth").
type Auth struct {
	Domain      string
	Type        string // "basic" or "oauth"
	Credentials Credentials
}

// DockerAuth is the credential for one registry (rktKind "dockerAuth").
type DockerAuth struct {
	Registry    string
	Credentials Credentials
}

// Paths is the rktKind "paths" configuration.
type Paths struct {
	Data         string
	Stage1Images string
}

// Stage1 is the rktKind "stage1" configuration: the default stage1 image.
type Stage1 struct {
	Name     string
	Version  string
	Location string
}

// Config is the merged configuration of every layer.
type Config struct {
	Auth       map[string]Auth       // by domain
	DockerAuth map[string]DockerAuth // by registry host
	Paths      Paths
	Stage1     Stage1
}

// Dirs are the configuration layers, lowest precedence first. An empty
// string is a layer that is not used.
type Dirs struct {
	System string
	Local  string
	User   string
}

// header is the common part of every configuration file.
type header struct {
	Kind    string `json:"rktKind"`
	Version string `json:"rktVersion"`
}

type authFile struct {
	Domains     []string        `json:"domains"`
	Type        string          `json:"type"`
	Credentials json.RawMessage `json:"credentials"`
}

type dockerAuthFile struct {
	Registries  []string    `json:"registries"`
	Credentials Credentials `json:"credentials"`
}

type pathsFile struct {
	Data         string `json:"data"`
	Stage1Images string `json:"stage1-images"`
}

type stage1File struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Location string `json:"location"`
}

// Load reads and merges every layer of dirs. A missing directory is an
// empty layer.
func Load(dirs Dirs) (*Config, error) {
	c := &Config{Auth: map[string]Auth{}, DockerAuth: map[string]DockerAuth{}}
	for _, d := range []string{dirs.System, dirs.Local, dirs.User} {
		if d == "" {
			continue
		}
		if err := c.loadLayer(d); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *Config) loadLayer(dir string) error {
	auth := map[string]Auth{}
	dauth := map[string]DockerAuth{}
	err := forEachFile(filepath.Join(dir, "auth.d"), func(path string, h header, raw []byte) error {
		switch h.Kind {
		case "auth":
			return parseAuth(raw, auth)
		case "dockerAuth":
			return parseDockerAuth(raw, dauth)
		default:
			return fmt.Errorf("unknown rktKind %q in auth.d", h.Kind)
		}
	})
	if err != nil {
		return err
	}
	for k, v := range auth {
		c.Auth[k] = v
	}
	for k, v := range dauth {
		c.DockerAuth[k] = v
	}
	err = forEachFile(filepath.Join(dir, "paths.d"), func(path string, h header, raw []byte) error {
		if h.Kind != "paths" {
			return fmt.Errorf("unknown rktKind %q in paths.d", h.Kind)
		}
		var p pathsFile
		if err := strictUnmarshal(raw, &p); err != nil {
			return err
		}
		for _, v := range []string{p.Data, p.Stage1Images} {
			if v != "" && !filepath.IsAbs(v) {
				return fmt.Errorf("path %q is not absolute", v)
			}
		}
		if p.Data != "" {
			c.Paths.Data = p.Data
		}
		if p.Stage1Images != "" {
			c.Paths.Stage1Images = p.Stage1Images
		}
		return nil
	})
	if err != nil {
		return err
	}
	return forEachFile(filepath.Join(dir, "stage1.d"), func(path string, h header, raw []byte) error {
		if h.Kind != "stage1" {
			return fmt.Errorf("unknown rktKind %q in stage1.d", h.Kind)
		}
		var s stage1File
		if err := strictUnmarshal(raw, &s); err != nil {
			return err
		}
		if (s.Name == "") != (s.Version == "") {
			return errors.New("stage1 name and version must be given together")
		}
		if s.Name != "" {
			c.Stage1.Name, c.Stage1.Version = s.Name, s.Version
		}
		if s.Location != "" {
			c.Stage1.Location = s.Location
		}
		return nil
	})
}

// forEachFile calls fn for each *.json regular file directly in dir, in
// name order. Subdirectories and other files are ignored, as in rkt 1.x.
func forEachFile(dir string, fn func(path string, h header, raw []byte) error) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read config dir %s: %w", dir, err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		if !e.Type().IsRegular() && e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if err := parseFile(path, fn); err != nil {
			return fmt.Errorf("config file %s: %w", path, err)
		}
	}
	return nil
}

func parseFile(path string, fn func(path string, h header, raw []byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return nil
	}
	raw, err := io.ReadAll(io.LimitReader(f, maxConfigFile+1))
	if err != nil {
		return err
	}
	if len(raw) > maxConfigFile {
		return fmt.Errorf("larger than %d bytes", maxConfigFile)
	}
	var h header
	if err := json.Unmarshal(raw, &h); err != nil {
		return fmt.Errorf("parse: %w", err)
	}
	if h.Version != "v1" {
		return fmt.Errorf("unsupported rktVersion %q (want \"v1\")", h.Version)
	}
	return fn(path, h, raw)
}

// strictUnmarshal decodes raw into v, rejecting unknown fields other than
// the common header.
func strictUnmarshal(raw []byte, v any) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("parse: %w", err)
	}
	delete(m, "rktKind")
	delete(m, "rktVersion")
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("parse: %w", err)
	}
	return nil
}

func parseAuth(raw []byte, into map[string]Auth) error {
	var a authFile
	if err := strictUnmarshal(raw, &a); err != nil {
		return err
	}
	if len(a.Domains) == 0 {
		return errors.New("no domains given")
	}
	var creds Credentials
	dec := json.NewDecoder(strings.NewReader(string(a.Credentials)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&creds); err != nil {
		return fmt.Errorf("parse credentials: %w", err)
	}
	switch a.Type {
	case "basic":
		if creds.User == "" || creds.Token != "" {
			return errors.New("basic auth needs credentials user and password")
		}
	case "oauth":
		if creds.Token == "" || creds.User != "" || creds.Password != "" {
			return errors.New("oauth auth needs credentials token")
		}
	case "aws":
		return errors.New("auth type \"aws\" is not supported")
	default:
		return fmt.Errorf("unknown auth type %q (want basic or oauth)", a.Type)
	}
	for _, d := range a.Domains {
		if d == "" {
			return errors.New("empty domain")
		}
		if _, dup := into[d]; dup {
			return fmt.Errorf("domain %q is given twice", d)
		}
		into[d] = Auth{Domain: d, Type: a.Type, Credentials: creds}
	}
	return nil
}

func parseDockerAuth(raw []byte, into map[string]DockerAuth) error {
	var a dockerAuthFile
	if err := strictUnmarshal(raw, &a); err != nil {
		return err
	}
	if len(a.Registries) == 0 {
		return errors.New("no registries given")
	}
	if a.Credentials.User == "" || a.Credentials.Token != "" {
		return errors.New("dockerAuth needs credentials user and password")
	}
	for _, r := range a.Registries {
		if r == "" {
			return errors.New("empty registry")
		}
		if _, dup := into[r]; dup {
			return fmt.Errorf("registry %q is given twice", r)
		}
		into[r] = DockerAuth{Registry: r, Credentials: a.Credentials}
	}
	return nil
}

// Entries renders the merged configuration the way `rkt config` prints it:
// one entry per auth domain and per docker registry, then paths and stage1.
func (c *Config) Entries() []map[string]any {
	var out []map[string]any
	for _, d := range sortedKeys(c.Auth) {
		a := c.Auth[d]
		out = append(out, map[string]any{
			"rktVersion": "v1", "rktKind": "auth",
			"domains": []string{d}, "type": a.Type, "credentials": a.Credentials,
		})
	}
	for _, r := range sortedKeys(c.DockerAuth) {
		a := c.DockerAuth[r]
		out = append(out, map[string]any{
			"rktVersion": "v1", "rktKind": "dockerAuth",
			"registries": []string{r}, "credentials": a.Credentials,
		})
	}
	out = append(out, map[string]any{
		"rktVersion": "v1", "rktKind": "paths",
		"data": c.Paths.Data, "stage1-images": c.Paths.Stage1Images,
	})
	if c.Stage1 != (Stage1{}) {
		out = append(out, map[string]any{
			"rktVersion": "v1", "rktKind": "stage1",
			"name": c.Stage1.Name, "version": c.Stage1.Version, "location": c.Stage1.Location,
		})
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
