package layout

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rkt/rkt/internal/stage1/abi"
)

// Parent is the cgroup, relative to each hierarchy's root, under which pods
// are created (rkt 1.x's machine.slice).
const Parent = "machine.slice"

// InitName is the child cgroup of rkt's own processes in a pod (the stage1
// run process and pod init): on cgroup v2 a cgroup with children that have
// controllers cannot hold processes itself.
const InitName = "init"

// File is the name of the layout file in the pod directory.
const File = "cgroups"

// Mountpoint is where the cgroup hierarchies are mounted.
const Mountpoint = "/sys/fs/cgroup"

// Layout is where a pod's cgroups are, as recorded in the pod directory.
type Layout struct {
	// Version is 1 (v1 or hybrid hosts) or 2 (pure v2). On v2 rkt's own
	// processes are in the pod cgroup's child InitName (a cgroup with
	// children that have controllers cannot hold processes); on v1 in the
	// pod cgroup itself.
	Version int `json:"version"`
	// Path is the pod's cgroup relative to each hierarchy's root.
	Path string `json:"path"`
	// Dirs are the pod cgroup's directories: one per v1 hierarchy
	// (controller name → directory), or the one v2 directory under "".
	Dirs map[string]string `json:"dirs"`
	// Apps are the apps of the pod.
	Apps []string `json:"apps"`
	// AppControllers lists, per app, the hierarchies where the app has a
	// child cgroup of its own (its keys in Dirs). On cgroup v1 an app gets
	// one only where it has settings (devices, and memory, cpu or pids
	// when limited); elsewhere it stays in the pod's cgroup.
	AppControllers map[string][]string `json:"appControllers"`
}

// AppDirs returns the directories of an app's own cgroups.
func (l *Layout) AppDirs(app string) []string {
	var out []string
	for _, c := range l.AppControllers[app] {
		if d, ok := l.Dirs[c]; ok {
			out = append(out, d+"/"+app)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// ProcessDirs returns, one per hierarchy, the directory an app's
// processes are in: its own cgroup where it has one, else the pod's (v1).
func (l *Layout) ProcessDirs(app string) []string {
	own := map[string]bool{}
	for _, c := range l.AppControllers[app] {
		own[c] = true
	}
	var out []string
	for c, d := range l.Dirs {
		if own[c] {
			out = append(out, d+"/"+app)
		} else if l.Version != 2 {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// ThreadFile is the file that moves a thread into a cgroup directory:
// tasks on v1; on v2, where a process is in one cgroup, cgroup.procs,
// which moves the whole process.
func (l *Layout) ThreadFile() string {
	if l.Version == 2 {
		return "cgroup.procs"
	}
	return "tasks"
}

// InitDirs returns the directories of rkt's own processes in the pod.
func (l *Layout) InitDirs() []string {
	out := l.SortedDirs()
	if l.Version == 2 {
		for i := range out {
			out[i] += "/" + InitName
		}
	}
	return out
}

// PodPath is the pod's cgroup path relative to each hierarchy's root.
func PodPath(uuid string) string { return Parent + "/machine-rkt-" + uuid + ".scope" }

// Save writes the layout into the pod directory.
func (l *Layout) Save(podDir string) error {
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	tmp := filepath.Join(podDir, File+".tmp")
	if err := os.WriteFile(tmp, b, 0o640); err != nil { //nolint:gosec // read by rkt status and list callers of the rkt group
		return err
	}
	return os.Rename(tmp, filepath.Join(podDir, File))
}

// Load reads a pod's layout; a pod without one has no cgroups (nil, nil).
// Every directory must be under Mountpoint and end in the pod's path.
func Load(podDir string) (*Layout, error) {
	b, err := os.ReadFile(filepath.Join(podDir, File))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var l Layout
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("%s: %w", File, err)
	}
	if !strings.HasPrefix(l.Path, Parent+"/machine-rkt-") || strings.Contains(l.Path, "..") {
		return nil, fmt.Errorf("%s: pod cgroup path %q is not a pod's", File, l.Path)
	}
	for _, d := range l.Dirs {
		if !strings.HasPrefix(d, Mountpoint+"/") || !strings.HasSuffix(d, "/"+l.Path) || strings.Contains(d, "..") {
			return nil, fmt.Errorf("%s: directory %q is not the pod's cgroup", File, d)
		}
	}
	for _, a := range l.Apps {
		if err := abi.CheckACName(a); err != nil {
			return nil, fmt.Errorf("%s: app name: %w", File, err)
		}
	}
	for a := range l.AppControllers {
		if !slices.Contains(l.Apps, a) {
			return nil, fmt.Errorf("%s: controllers of an unknown app %q", File, a)
		}
	}
	return &l, nil
}

// SortedDirs lists the pod cgroup's directories, one per hierarchy.
func (l *Layout) SortedDirs() []string {
	out := make([]string, 0, len(l.Dirs))
	for _, d := range l.Dirs {
		out = append(out, d)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
