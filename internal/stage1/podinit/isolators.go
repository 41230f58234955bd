package podinit

import (
	"bytes"
	"encoding/json"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/internal/isolation/caps"
	"github.com/rkt/rkt/internal/isolation/seccomp"
)

// Isolator names the ns flavor applies (the others are refused or, for
// those that need cgroups, handled there).
const (
	IsolatorNoNewPrivs  = "os/linux/no-new-privileges"
	IsolatorOOMScoreAdj = "os/linux/oom-score-adj"
)

// Security is what an app's process gets besides its namespaces and
// mounts: set on the thread that forks it (see startApp), so in force from
// the app's first instruction.
type Security struct {
	// Bounding is the capability bounding set (a root app's permitted and
	// effective sets after exec). AllCaps leaves every capability
	// (--insecure-options=capabilities).
	Bounding caps.Set `json:"bounding"`
	AllCaps  bool     `json:"allCaps,omitempty"`
	// NoNewPrivs sets no_new_privs: no setuid, setgid or file capability
	// gains at exec.
	NoNewPrivs bool `json:"noNewPrivs,omitempty"`
	// OOMScoreAdj, when set, is written to the app's oom_score_adj.
	OOMScoreAdj *int `json:"oomScoreAdj,omitempty"`
	// Seccomp is the app's filter policy; nil for none
	// (--insecure-options=seccomp).
	Seccomp *seccomp.Policy `json:"seccomp,omitempty"`
	// prog is Seccomp compiled, once, by planSecurity.
	prog []unix.SockFilter
}

// LimitThread limits the calling thread, and so what it forks or execs,
// as the app's are: the capability bounding set (and empty inheritable
// and ambient sets) and no_new_privs. The thread must be locked for good.
func (s Security) LimitThread() error {
	if !s.AllCaps {
		if err := caps.LimitThread(s.Bounding, caps.LastCap()); err != nil {
			return fmt.Errorf("capabilities: %w", err)
		}
	}
	if s.NoNewPrivs {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("no_new_privs: %w", err)
		}
	}
	return nil
}

// InstallSeccomp installs the app's filter on the calling thread (nothing
// without one). It comes last: after it, the thread may only make the
// calls of seccomp.Startup.
func (s Security) InstallSeccomp() error {
	if s.Seccomp == nil {
		return nil
	}
	prog, err := s.SeccompProgram()
	if err != nil {
		return err
	}
	return seccomp.Install(prog)
}

// SeccompProgram returns the app's filter as a BPF program, nil for none.
func (s Security) SeccompProgram() ([]unix.SockFilter, error) {
	if s.Seccomp == nil {
		return nil, nil
	}
	if s.prog != nil {
		return s.prog, nil
	}
	return seccomp.Program(*s.Seccomp, s.SeccompOptions())
}

// SeccompOptions are the filter options that follow from the app's
// capabilities: namespaces are refused by the filter unless the app keeps
// CAP_SYS_ADMIN.
func (s Security) SeccompOptions() seccomp.Options {
	return seccomp.Options{DenyNamespaces: !s.AllCaps && !s.Bounding.Has(unix.CAP_SYS_ADMIN)}
}

// planSecurity reads an app's security isolators. The values are checked
// as appc defines them; an isolator this flavor does not know is refused,
// so that a pod never runs with less isolation than its manifest asks for.
func planSecurity(isolators []Isolator, uid int, cfg Config) (Security, error) {
	var sec Security
	var retain, remove *caps.Set
	var filter *seccomp.Policy
	seen := map[string]bool{}
	for _, iso := range isolators {
		if seen[iso.Name] {
			return sec, fmt.Errorf("isolator %s given twice", iso.Name)
		}
		seen[iso.Name] = true
		switch iso.Name {
		case caps.RetainSetName, caps.RemoveSetName:
			var v struct {
				Set []string `json:"set"`
			}
			if err := decodeStrict(iso.Value, &v); err != nil {
				return sec, fmt.Errorf("isolator %s: %w", iso.Name, err)
			}
			if len(v.Set) == 0 {
				return sec, fmt.Errorf("isolator %s: the set is empty", iso.Name)
			}
			set, err := caps.ParseSet(v.Set)
			if err != nil {
				return sec, fmt.Errorf("isolator %s: %w", iso.Name, err)
			}
			if iso.Name == caps.RetainSetName {
				retain = &set
			} else {
				remove = &set
			}
		case seccomp.RetainSetName, seccomp.RemoveSetName:
			var v struct {
				Set   []string `json:"set"`
				Errno string   `json:"errno,omitempty"`
			}
			if err := decodeStrict(iso.Value, &v); err != nil {
				return sec, fmt.Errorf("isolator %s: %w", iso.Name, err)
			}
			if filter != nil {
				return sec, fmt.Errorf("%s and %s are mutually exclusive", seccomp.RetainSetName, seccomp.RemoveSetName)
			}
			mode := seccomp.Retain
			if iso.Name == seccomp.RemoveSetName {
				mode = seccomp.Remove
			}
			filter = &seccomp.Policy{Mode: mode, Set: v.Set, Errno: v.Errno}
		case IsolatorNoNewPrivs:
			var v bool
			if err := decodeStrict(iso.Value, &v); err != nil {
				return sec, fmt.Errorf("isolator %s: %w", iso.Name, err)
			}
			sec.NoNewPrivs = v
		case IsolatorOOMScoreAdj:
			var v int
			if err := decodeStrict(iso.Value, &v); err != nil {
				return sec, fmt.Errorf("isolator %s: %w", iso.Name, err)
			}
			if v < -1000 || v > 1000 {
				return sec, fmt.Errorf("isolator %s: %d is outside -1000..1000", iso.Name, v)
			}
			sec.OOMScoreAdj = &v
		case "resource/memory", "resource/cpu", "os/linux/cpu-shares":
			// Applied by stage0 through the app's cgroup (the "cgroups"
			// file of the pod directory).
		default:
			return sec, fmt.Errorf("isolator %s is not supported by the ns flavor", iso.Name)
		}
	}
	b, err := caps.Bounding(retain, remove)
	if err != nil {
		return sec, err
	}
	sec.Bounding = b
	sec.AllCaps = cfg.DisableCapabilities
	if !cfg.DisableSeccomp {
		if filter == nil {
			d := seccomp.Default()
			filter = &d
		}
		prog, err := seccomp.Program(*filter, sec.SeccompOptions())
		if err != nil {
			return sec, fmt.Errorf("seccomp: %w", err)
		}
		sec.prog = prog
		sec.Seccomp = filter
		// As rkt did: an app that is not root cannot gain privileges
		// that its filter was not written for.
		if uid != 0 {
			sec.NoNewPrivs = true
		}
	}
	return sec, nil
}

// decodeStrict decodes one JSON value into v, refusing unknown fields and
// trailing data.
func decodeStrict(data json.RawMessage, v any) error {
	if len(data) == 0 {
		return fmt.Errorf("no value")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the value")
	}
	return nil
}
