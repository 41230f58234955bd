package cli

import (
	"reflect"
	"testing"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/rkt/rkt/internal/cgroup"
	"github.com/rkt/rkt/internal/stage0"
)

func TestParseApps(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		def  appArgs
		want []appArgs
		err  bool
	}{
		{"one image", []string{"img"}, appArgs{}, []appArgs{{image: "img"}}, false},
		{"flags and args", []string{"img", "--exec=/bin/sh", "--name", "web", "--", "-c", "echo hi"}, appArgs{},
			[]appArgs{{image: "img", exec: "/bin/sh", name: "web", args: []string{"-c", "echo hi"}, argsSet: true}}, false},
		{"two apps", []string{"a", "--user=1", "---", "b", "--", "x", "---", "c"}, appArgs{},
			[]appArgs{{image: "a", user: "1"}, {image: "b", args: []string{"x"}, argsSet: true}, {image: "c"}}, false},
		{"two images without separator", []string{"a", "b"}, appArgs{}, []appArgs{{image: "a"}, {image: "b"}}, false},
		{"empty args", []string{"a", "--"}, appArgs{}, []appArgs{{image: "a", argsSet: true}}, false},
		{"defaults apply", []string{"a", "---", "b", "--user=2"}, appArgs{user: "9", environment: []string{"X=1"}},
			[]appArgs{{image: "a", user: "9", environment: []string{"X=1"}}, {image: "b", user: "2", environment: []string{"X=1"}}}, false},
		{"environment repeats", []string{"a", "--environment=A=1", "--environment", "B=2"}, appArgs{},
			[]appArgs{{image: "a", environment: []string{"A=1", "B=2"}}}, false},
		{"sgids", []string{"a", "--supplementary-gids=1,2"}, appArgs{}, []appArgs{{image: "a", supplementaryGIDs: []int{1, 2}}}, false},
		{"readonly", []string{"a", "--readonly-rootfs"}, appArgs{}, []appArgs{{image: "a", readOnlyRootFS: true}}, false},
		{"unknown app flag", []string{"a", "--bogus"}, appArgs{}, nil, true},
		{"bad sgid", []string{"a", "--supplementary-gids=x"}, appArgs{}, nil, true},
		{"empty exec", []string{"a", "--exec="}, appArgs{}, nil, true},
		{"no image", nil, appArgs{}, nil, true},
		{"flag first", []string{"--exec=/x"}, appArgs{}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseApps(tc.args, tc.def)
			if (err != nil) != tc.err {
				t.Fatalf("parseApps(%q) error = %v, want error %v", tc.args, err, tc.err)
			}
			if !tc.err && !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("parseApps(%q) =\n%+v\nwant\n%+v", tc.args, got, tc.want)
			}
		})
	}
}

// TestIsolatorsHaveValues: every isolator the flags make has its Value()
// set, as one decoded from a manifest has (appc's AsIsolator leaves a
// resource isolator's empty), so stage0 reads the limits from the
// in-memory manifest.
func TestIsolatorsHaveValues(t *testing.T) {
	a := &appArgs{image: "img", memory: "64Mi", cpu: "500m", cpuShares: "512", oomScoreAdj: "-17",
		capsRetain: "CAP_NET_BIND_SERVICE", seccomp: "mode=retain,@rkt/default-whitelist"}
	isos, err := a.isolators()
	if err != nil {
		t.Fatal(err)
	}
	if len(isos) != 6 {
		t.Fatalf("%d isolators, want 6: %+v", len(isos), isos)
	}
	for i := range isos {
		iso := &isos[i]
		switch v := iso.Value().(type) {
		case nil:
			t.Errorf("%s: no Value()", iso.Name)
		case *types.ResourceMemory:
			if q := v.Limit(); q == nil || q.Value() != 64<<20 {
				t.Errorf("%s: limit %v", iso.Name, q)
			}
		case *types.ResourceCPU:
			if q := v.Limit(); q == nil || q.MilliValue() != 500 {
				t.Errorf("%s: limit %v", iso.Name, q)
			}
		case *types.LinuxCPUShares:
			if *v != 512 {
				t.Errorf("%s: %d", iso.Name, *v)
			}
		}
	}
	l, err := stage0.AppLimits(&schema.RuntimeApp{App: &types.App{Isolators: isos}})
	if err != nil {
		t.Fatal(err)
	}
	if want := (cgroup.Limits{Memory: 64 << 20, CPUQuota: cgroup.QuotaOfMillicores(500), CPUShares: 512}); !reflect.DeepEqual(l, want) {
		t.Errorf("stage0.AppLimits of the flags' isolators: %+v, want %+v", l, want)
	}
}
