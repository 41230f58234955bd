package layout

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLoadRefusesForeignPaths(t *testing.T) {
	dir := t.TempDir()
	if l, err := Load(dir); l != nil || err != nil {
		t.Fatalf("no file: %v %v", l, err)
	}
	for _, bad := range []string{
		`{"version":1,"path":"../etc","dirs":{}}`,
		`{"version":1,"path":"machine.slice/machine-rkt-x.scope","dirs":{"memory":"/etc/machine.slice/machine-rkt-x.scope"}}`,
		`{"version":1,"path":"machine.slice/machine-rkt-x.scope","dirs":{"memory":"/sys/fs/cgroup/memory/other"}}`,
		`{"version":1,"path":"machine.slice/machine-rkt-x.scope","dirs":{"memory":"/sys/fs/cgroup/../../etc/machine.slice/machine-rkt-x.scope"}}`,
		`{"version":1,"path":"machine.slice/machine-rkt-x.scope","dirs":{},"apps":["../x"]}`,
		`{"version":1,"path":"machine.slice/machine-rkt-x.scope","dirs":{},"apps":["Web"]}`,
		`{"version":1,"path":"machine.slice/machine-rkt-x.scope","dirs":{},"apps":["a"],"appControllers":{"b":["memory"]}}`,
		`not json`,
	} {
		if err := os.WriteFile(filepath.Join(dir, File), []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if l, err := Load(dir); err == nil {
			t.Errorf("%s accepted: %+v", bad, l)
		}
	}
}

func TestSaveLoadAppDirs(t *testing.T) {
	dir := t.TempDir()
	l := &Layout{Version: 1, Path: PodPath("u"), Dirs: map[string]string{
		"memory": Mountpoint + "/memory/" + PodPath("u"), "cpu": Mountpoint + "/cpu/" + PodPath("u"),
	}, Apps: []string{"a"}, AppControllers: map[string][]string{"a": {"memory", "cpu"}}}
	if err := l.Save(dir); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{Mountpoint + "/cpu/" + PodPath("u") + "/a", Mountpoint + "/memory/" + PodPath("u") + "/a"}
	if ds := got.AppDirs("a"); len(ds) != 2 || ds[0] != want[0] || ds[1] != want[1] {
		t.Errorf("AppDirs: %v", ds)
	}
	if ds := got.AppDirs("other"); len(ds) != 0 {
		t.Errorf("AppDirs of an app without cgroups: %v", ds)
	}
	if ds := got.ProcessDirs("other"); len(ds) != 2 || ds[0] != Mountpoint+"/cpu/"+PodPath("u") || got.ThreadFile() != "tasks" {
		t.Errorf("ProcessDirs of an app without cgroups: %v", ds)
	}
	if ds := got.ProcessDirs("a"); len(ds) != 2 || ds[1] != Mountpoint+"/memory/"+PodPath("u")+"/a" {
		t.Errorf("ProcessDirs: %v", ds)
	}
	if ds := got.InitDirs(); len(ds) != 2 || ds[0] != Mountpoint+"/cpu/"+PodPath("u") {
		t.Errorf("InitDirs (v1): %v", ds)
	}
}

// TestV2Layout: on cgroup v2 rkt's processes are in the init child, each
// app in its own cgroup, and a process moves whole.
func TestV2Layout(t *testing.T) {
	pod := Mountpoint + "/" + PodPath("u")
	l := &Layout{Version: 2, Path: PodPath("u"), Dirs: map[string]string{"": pod},
		Apps: []string{"a"}, AppControllers: map[string][]string{"a": {""}}}
	if ds := l.InitDirs(); len(ds) != 1 || ds[0] != pod+"/"+InitName {
		t.Errorf("InitDirs: %v", ds)
	}
	if ds := l.ProcessDirs("a"); len(ds) != 1 || ds[0] != pod+"/a" {
		t.Errorf("ProcessDirs: %v", ds)
	}
	if ds := l.ProcessDirs("other"); len(ds) != 0 {
		t.Errorf("ProcessDirs of an app without a cgroup: %v (not the pod cgroup, which holds no process)", ds)
	}
	if f := l.ThreadFile(); f != "cgroup.procs" {
		t.Errorf("ThreadFile: %q", f)
	}
}
