package podinit

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"

	"github.com/rkt/rkt/internal/stage1/abi"
)

// The pod manifest as the ns flavor reads it: the part of the appc
// PodManifest (schema 0.8, as stage0 writes it with github.com/appc/spec)
// that the flavor uses, decoded with encoding/json's tokenizer alone
// (manifestdec.go) so that the stage1 binary does not link the appc schema
// (and its pflag, inf, semver, go4 dependencies). The struct tags say what
// each field is called in JSON, for the differential fuzz test. Fields the
// flavor does not use (images, annotations, labels) are not decoded, so
// not validated either; the isolators are decoded by name, each value by
// the isolator that knows it (isolators.go).
//
// ParsePodManifest checks what the flavor relies on, with the rules of the
// appc schema: names are appc ACNames (so safe as one path element) and
// unique, kinds are known, host sources and working directories absolute,
// empty volumes get appc's defaults.

// PodManifestKind is the acKind of a pod manifest.
const PodManifestKind = "PodManifest"

// PodManifest is the flavor's view of the appc PodManifest.
type PodManifest struct {
	ACVersion string       `json:"acVersion"`
	ACKind    string       `json:"acKind"`
	Apps      []RuntimeApp `json:"apps"`
	Volumes   []Volume     `json:"volumes"`
	// Ports are the pod's port forwards (--port), for the network
	// package; pod init does not use them.
	Ports []ExposedPort `json:"ports,omitempty"`
}

// ExposedPort forwards a host port to an app port: the app port of that
// name, or PodPort.
type ExposedPort struct {
	Name     string `json:"name"`
	HostPort uint   `json:"hostPort"`
	HostIP   string `json:"hostIP,omitempty"`
	PodPort  *Port  `json:"podPort,omitempty"`
}

// Port is a port an app listens on; Count ports from Port on.
type Port struct {
	Name     string `json:"name"`
	Protocol string `json:"protocol"`
	Port     uint   `json:"port"`
	Count    uint   `json:"count,omitempty"`
}

// RuntimeApp is one app of the pod.
type RuntimeApp struct {
	Name           string  `json:"name"`
	App            *App    `json:"app,omitempty"`
	ReadOnlyRootFS bool    `json:"readOnlyRootFS,omitempty"`
	Mounts         []Mount `json:"mounts,omitempty"`
}

// App is what runs: the image's app, as stage0 adjusted it.
type App struct {
	Exec              []string     `json:"exec"`
	User              string       `json:"user"`
	Group             string       `json:"group"`
	SupplementaryGIDs []int        `json:"supplementaryGIDs,omitempty"`
	WorkingDirectory  string       `json:"workingDirectory,omitempty"`
	Environment       []EnvVar     `json:"environment,omitempty"`
	MountPoints       []MountPoint `json:"mountPoints,omitempty"`
	Isolators         []Isolator   `json:"isolators,omitempty"`
	Ports             []Port       `json:"ports,omitempty"`
	// EventHandlers run in the app's context: pre-start before its exec,
	// post-stop once it exited.
	EventHandlers []EventHandler `json:"eventHandlers,omitempty"`
}

// The event handlers appc defines.
const (
	PreStart = "pre-start"
	PostStop = "post-stop"
)

// EventHandler is a command run on an app's lifecycle event.
type EventHandler struct {
	Name string   `json:"name"`
	Exec []string `json:"exec"`
}

// Isolator is an appc isolator: a name and a value whose form the name
// decides.
type Isolator struct {
	Name  string          `json:"name"`
	Value json.RawMessage `json:"value"`
}

// EnvVar is one variable of an app's environment.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// MountPoint is a mount point the app's image declares.
type MountPoint struct {
	Name     string `json:"name"`
	Path     string `json:"path"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// Mount maps a volume (the pod's of that name, or AppVolume) to a path
// inside the app.
type Mount struct {
	Volume    string  `json:"volume"`
	Path      string  `json:"path"`
	AppVolume *Volume `json:"appVolume,omitempty"`
}

// The kinds of volumes.
const (
	VolumeHost  = "host"
	VolumeEmpty = "empty"
)

// Volume is a pod volume (or an app's implicit one).
type Volume struct {
	Name      string  `json:"name"`
	Kind      string  `json:"kind"`
	Source    string  `json:"source,omitempty"`    // host
	ReadOnly  *bool   `json:"readOnly,omitempty"`  // host
	Recursive *bool   `json:"recursive,omitempty"` // host
	Mode      *string `json:"mode,omitempty"`      // empty (octal, default "0755")
	UID       *int    `json:"uid,omitempty"`       // empty (default 0)
	GID       *int    `json:"gid,omitempty"`       // empty (default 0)
}

// ParsePodManifest decodes and validates a pod manifest.
func ParsePodManifest(data []byte) (*PodManifest, error) {
	pm, err := decodePodManifest(data)
	if err != nil {
		return nil, err
	}
	if err := pm.validate(); err != nil {
		return nil, err
	}
	return pm, nil
}

func (pm *PodManifest) validate() error {
	if pm.ACKind != PodManifestKind {
		return fmt.Errorf("acKind is %q, not %q", pm.ACKind, PodManifestKind)
	}
	if pm.ACVersion == "" {
		return errors.New("acVersion is not set")
	}
	vols := make(map[string]bool, len(pm.Volumes))
	for i := range pm.Volumes {
		v := &pm.Volumes[i]
		if err := v.validate(); err != nil {
			return err
		}
		if vols[v.Name] {
			return fmt.Errorf("duplicate volume name %q", v.Name)
		}
		vols[v.Name] = true
	}
	apps := make(map[string]bool, len(pm.Apps))
	for i := range pm.Apps {
		ra := &pm.Apps[i]
		if err := abi.CheckACName(ra.Name); err != nil {
			return fmt.Errorf("app name: %w", err)
		}
		if apps[ra.Name] {
			return fmt.Errorf("duplicate apps of name %q", ra.Name)
		}
		apps[ra.Name] = true
		if err := ra.validate(); err != nil {
			return fmt.Errorf("app %q: %w", ra.Name, err)
		}
	}
	return nil
}

func (ra *RuntimeApp) validate() error {
	for i := range ra.Mounts {
		m := &ra.Mounts[i]
		if err := abi.CheckACName(m.Volume); err != nil {
			return fmt.Errorf("mount volume name: %w", err)
		}
		if m.AppVolume != nil {
			if err := m.AppVolume.validate(); err != nil {
				return fmt.Errorf("mount %q: %w", m.Volume, err)
			}
		}
	}
	a := ra.App
	if a == nil {
		return nil
	}
	if a.User == "" {
		return errors.New("user is required")
	}
	if a.Group == "" {
		return errors.New("group is required")
	}
	if a.WorkingDirectory != "" && !path.IsAbs(a.WorkingDirectory) {
		return fmt.Errorf("working directory %q is not an absolute path", a.WorkingDirectory)
	}
	handlers := map[string]bool{}
	for _, h := range a.EventHandlers {
		if h.Name != PreStart && h.Name != PostStop {
			return fmt.Errorf("unknown event handler %q (want pre-start or post-stop)", h.Name)
		}
		if handlers[h.Name] {
			return fmt.Errorf("event handler %q given twice", h.Name)
		}
		handlers[h.Name] = true
		if len(h.Exec) == 0 || h.Exec[0] == "" {
			return fmt.Errorf("event handler %q has no exec", h.Name)
		}
	}
	seen := make(map[string]bool, len(a.Environment))
	for _, e := range a.Environment {
		if !validEnvName(e.Name) {
			return fmt.Errorf("environment variable name %q is not a valid identifier", e.Name)
		}
		if seen[e.Name] {
			return fmt.Errorf("duplicate environment variable of name %q", e.Name)
		}
		seen[e.Name] = true
	}
	for _, mp := range a.MountPoints {
		if err := abi.CheckACName(mp.Name); err != nil {
			return fmt.Errorf("mount point name: %w", err)
		}
	}
	return nil
}

// validate checks a volume and sets the defaults of an empty one (mode
// 0755, uid and gid 0), as the appc schema does.
func (v *Volume) validate() error {
	if err := abi.CheckACName(v.Name); err != nil {
		return fmt.Errorf("volume name: %w", err)
	}
	switch v.Kind {
	case VolumeEmpty:
		if v.Source != "" {
			return fmt.Errorf("volume %q: an empty volume has no source", v.Name)
		}
		if v.Mode == nil {
			m := "0755"
			v.Mode = &m
		}
		if v.UID == nil {
			v.UID = new(int)
		}
		if v.GID == nil {
			v.GID = new(int)
		}
	case VolumeHost:
		if v.Source == "" || !path.IsAbs(v.Source) {
			return fmt.Errorf("volume %q: host source %q is not an absolute path", v.Name, v.Source)
		}
		if v.Mode != nil || v.UID != nil || v.GID != nil {
			return fmt.Errorf("volume %q: a host volume has no mode, uid or gid", v.Name)
		}
	default:
		return fmt.Errorf("volume %q: unknown kind %q (want %q or %q)", v.Name, v.Kind, VolumeEmpty, VolumeHost)
	}
	return nil
}

// validEnvName reports whether s matches appc's ^[A-Za-z_][A-Za-z_0-9.-]*$.
func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c == '_':
		case i > 0 && (c >= '0' && c <= '9' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return true
}
