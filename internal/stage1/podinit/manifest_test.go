package podinit

import (
	"slices"
	"strings"
	"testing"
)

// appcManifest is a pod manifest as github.com/appc/spec's schema (what
// stage0 uses) marshals it, with the fields the flavor ignores (image,
// annotations, isolators, ports) included.
const appcManifest = `{"acVersion":"0.8.11","acKind":"PodManifest","apps":[{"name":"web","image":{"name":"example.com/web","id":"sha512-abababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababab"},"app":{"exec":["/bin/web","-x"],"user":"1000","group":"100","supplementaryGIDs":[5,6],"workingDirectory":"/srv","environment":[{"name":"FOO","value":"a=b"}],"mountPoints":[{"name":"data","path":"/data","readOnly":true}]},"readOnlyRootFS":true,"mounts":[{"volume":"data","path":"/data"},{"volume":"scratch","path":"/var/a/b"},{"volume":"volume-seed","path":"/seed","appVolume":{"name":"volume-seed","kind":"empty","mode":"0755","uid":0,"gid":0}}],"annotations":[{"name":"coreos.com/rkt/stage1/x","value":"y"}]}],"volumes":[{"name":"data","kind":"host","source":"/srv/data","readOnly":true,"recursive":false},{"name":"scratch","kind":"empty","mode":"0750","uid":1000,"gid":100}],"isolators":null,"annotations":null,"ports":null}`

func TestParsePodManifest(t *testing.T) {
	pm, err := ParsePodManifest([]byte(appcManifest))
	if err != nil {
		t.Fatal(err)
	}
	if len(pm.Apps) != 1 || len(pm.Volumes) != 2 {
		t.Fatalf("%+v", pm)
	}
	ra := pm.Apps[0]
	a := ra.App
	if ra.Name != "web" || !ra.ReadOnlyRootFS || a == nil || !slices.Equal(a.Exec, []string{"/bin/web", "-x"}) ||
		a.User != "1000" || a.Group != "100" || !slices.Equal(a.SupplementaryGIDs, []int{5, 6}) || a.WorkingDirectory != "/srv" ||
		!slices.Equal(a.Environment, []EnvVar{{"FOO", "a=b"}}) || !slices.Equal(a.MountPoints, []MountPoint{{"data", "/data", true}}) {
		t.Errorf("app %+v %+v", ra, a)
	}
	if len(ra.Mounts) != 3 || ra.Mounts[1] != (Mount{Volume: "scratch", Path: "/var/a/b"}) || ra.Mounts[2].AppVolume == nil || ra.Mounts[2].AppVolume.Kind != VolumeEmpty {
		t.Errorf("mounts %+v", ra.Mounts)
	}
	host, empty := pm.Volumes[0], pm.Volumes[1]
	if host.Name != "data" || host.Kind != VolumeHost || host.Source != "/srv/data" || !*host.ReadOnly || *host.Recursive || host.Mode != nil {
		t.Errorf("host volume %+v", host)
	}
	if empty.Name != "scratch" || *empty.Mode != "0750" || *empty.UID != 1000 || *empty.GID != 100 {
		t.Errorf("empty volume %+v", empty)
	}
	// It plans as the hand-built manifest does.
	p, err := PlanApp(pm, &pm.Apps[0], []string{"/l"}, Config{Hostname: "h"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Exec.UID != 1000 || !slices.Contains(p.Exec.Env, "FOO=a=b") || len(p.CopyUps) != 1 {
		t.Errorf("plan %+v", p)
	}
	for _, s := range p.Mounts {
		if s.Target == "/data" && (s.Recursive || s.Attrs == 0) {
			t.Errorf("/data %+v: want read-only, not recursive", s)
		}
	}
}

func TestParsePodManifestDefaults(t *testing.T) {
	pm, err := ParsePodManifest([]byte(`{"acVersion":"0.8.11","acKind":"PodManifest","apps":[{"name":"a","app":null,"mounts":[{"volume":"v","path":"/v","appVolume":{"name":"v","kind":"empty"}}]}],"volumes":[{"name":"e","kind":"empty"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []*Volume{&pm.Volumes[0], pm.Apps[0].Mounts[0].AppVolume} {
		if v.Mode == nil || *v.Mode != "0755" || v.UID == nil || *v.UID != 0 || v.GID == nil || *v.GID != 0 {
			t.Errorf("volume %+v: want appc's defaults", v)
		}
	}
	if pm.Apps[0].App != nil {
		t.Error("app: null decoded")
	}
}

func TestParsePodManifestErrors(t *testing.T) {
	for want, m := range map[string]string{
		"invalid character":                     `{]`,
		`acKind is "ImageManifest"`:             `{"acVersion":"0.8.11","acKind":"ImageManifest"}`,
		"acVersion is not set":                  `{"acKind":"PodManifest"}`,
		"app name: empty name":                  `{"acVersion":"1","acKind":"PodManifest","apps":[{"name":""}]}`,
		`"../x": only lower-case`:               `{"acVersion":"1","acKind":"PodManifest","apps":[{"name":"../x"}]}`,
		`"Web": only lower-case`:                `{"acVersion":"1","acKind":"PodManifest","apps":[{"name":"Web"}]}`,
		`"-a": must start and end`:              `{"acVersion":"1","acKind":"PodManifest","apps":[{"name":"-a"}]}`,
		`"a--b": '-' must not follow '-'`:       `{"acVersion":"1","acKind":"PodManifest","apps":[{"name":"a--b"}]}`,
		`duplicate apps of name "a"`:            `{"acVersion":"1","acKind":"PodManifest","apps":[{"name":"a"},{"name":"a"}]}`,
		`duplicate volume name "v"`:             `{"acVersion":"1","acKind":"PodManifest","volumes":[{"name":"v","kind":"empty"},{"name":"v","kind":"empty"}]}`,
		`unknown kind "nfs"`:                    `{"acVersion":"1","acKind":"PodManifest","volumes":[{"name":"v","kind":"nfs"}]}`,
		`host source "rel"`:                     `{"acVersion":"1","acKind":"PodManifest","volumes":[{"name":"v","kind":"host","source":"rel"}]}`,
		`host source ""`:                        `{"acVersion":"1","acKind":"PodManifest","volumes":[{"name":"v","kind":"host"}]}`,
		"a host volume has no mode":             `{"acVersion":"1","acKind":"PodManifest","volumes":[{"name":"v","kind":"host","source":"/s","uid":1}]}`,
		"an empty volume has no source":         `{"acVersion":"1","acKind":"PodManifest","volumes":[{"name":"v","kind":"empty","source":"/s"}]}`,
		"volume name: empty name":               `{"acVersion":"1","acKind":"PodManifest","volumes":[{"kind":"empty"}]}`,
		"mount volume name":                     `{"acVersion":"1","acKind":"PodManifest","apps":[{"name":"a","mounts":[{"volume":"a/b","path":"/x"}]}]}`,
		`mount "v": volume "v": unknown kind`:   `{"acVersion":"1","acKind":"PodManifest","apps":[{"name":"a","mounts":[{"volume":"v","path":"/x","appVolume":{"name":"v","kind":"x"}}]}]}`,
		"user is required":                      `{"acVersion":"1","acKind":"PodManifest","apps":[{"name":"a","app":{"exec":["/x"],"group":"0"}}]}`,
		"group is required":                     `{"acVersion":"1","acKind":"PodManifest","apps":[{"name":"a","app":{"exec":["/x"],"user":"0"}}]}`,
		`working directory "rel"`:               `{"acVersion":"1","acKind":"PodManifest","apps":[{"name":"a","app":{"user":"0","group":"0","workingDirectory":"rel"}}]}`,
		`name "A=B" is not a valid`:             `{"acVersion":"1","acKind":"PodManifest","apps":[{"name":"a","app":{"user":"0","group":"0","environment":[{"name":"A=B"}]}}]}`,
		`name "1A" is not a valid`:              `{"acVersion":"1","acKind":"PodManifest","apps":[{"name":"a","app":{"user":"0","group":"0","environment":[{"name":"1A"}]}}]}`,
		"duplicate environment":                 `{"acVersion":"1","acKind":"PodManifest","apps":[{"name":"a","app":{"user":"0","group":"0","environment":[{"name":"A"},{"name":"A"}]}}]}`,
		"mount point name":                      `{"acVersion":"1","acKind":"PodManifest","apps":[{"name":"a","app":{"user":"0","group":"0","mountPoints":[{"name":"X","path":"/x"}]}}]}`,
		"cannot unmarshal":                      `{"acVersion":"1","acKind":"PodManifest","apps":[{"name":"a","app":{"user":0}}]}`,
		`unknown event handler "on-crash"`:      `{"acVersion":"1","acKind":"PodManifest","apps":[{"name":"a","app":{"user":"0","group":"0","eventHandlers":[{"name":"on-crash","exec":["/x"]}]}}]}`,
		`event handler "pre-start" given twice`: `{"acVersion":"1","acKind":"PodManifest","apps":[{"name":"a","app":{"user":"0","group":"0","eventHandlers":[{"name":"pre-start","exec":["/x"]},{"name":"pre-start","exec":["/y"]}]}}]}`,
		`event handler "post-stop" has no exec`: `{"acVersion":"1","acKind":"PodManifest","apps":[{"name":"a","app":{"user":"0","group":"0","eventHandlers":[{"name":"post-stop"}]}}]}`,
	} {
		_, err := ParsePodManifest([]byte(m))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error with %q", m, err, want)
		}
	}
	for _, ok := range []string{"A", "_a.b-1", "a9"} {
		if !validEnvName(ok) {
			t.Errorf("validEnvName(%q) = false", ok)
		}
	}
}
