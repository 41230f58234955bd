package stage0

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/rkt/rkt/internal/cgroup"
	"github.com/rkt/rkt/internal/podspec"
)

func TestDeviceVolumes(t *testing.T) {
	ro := true
	pm := &schema.PodManifest{Volumes: []types.Volume{
		{Name: "null", Kind: "host", Source: "/dev/null", ReadOnly: &ro},
		{Name: "zero", Kind: "host", Source: "/dev/zero"},
		{Name: "file", Kind: "host", Source: os.Args[0]},
		{Name: "gone", Kind: "host", Source: "/nonexistent"},
		{Name: "empty", Kind: "empty"},
		{Name: "unmounted", Kind: "host", Source: "/dev/full"},
	}}
	ra := &schema.RuntimeApp{Mounts: []schema.Mount{{Volume: "null"}, {Volume: "zero"}, {Volume: "file"}, {Volume: "gone"}, {Volume: "empty"}}}
	want := []cgroup.Device{{Major: 1, Minor: 3, ReadOnly: true}, {Major: 1, Minor: 5}}
	if got := deviceVolumes(pm, ra); !reflect.DeepEqual(got, want) {
		t.Errorf("deviceVolumes = %+v, want %+v", got, want)
	}
}

// TestAppLimits reads the limits of apps decoded from a manifest's JSON,
// as stage0 gets them from a pod manifest or an image manifest.
func TestAppLimits(t *testing.T) {
	for _, tc := range []struct {
		name, isolators, annotations string
		want                         cgroup.Limits
		err                          string
	}{
		{"none", `[]`, `[]`, cgroup.Limits{}, ""},
		{"memory", `[{"name":"resource/memory","value":{"limit":"64Mi","request":"64Mi"}}]`, `[]`, cgroup.Limits{Memory: 64 << 20}, ""},
		{"cpu", `[{"name":"resource/cpu","value":{"limit":"500m","request":"500m"}}]`, `[]`, cgroup.Limits{CPUQuota: 50000}, ""},
		{"shares", `[{"name":"os/linux/cpu-shares","value":512}]`, `[]`, cgroup.Limits{CPUShares: 512}, ""},
		{"request only", `[{"name":"resource/memory","value":{"request":"64Mi"}}]`, `[]`, cgroup.Limits{}, ""},
		{"other isolators", `[{"name":"os/linux/oom-score-adj","value":5},{"name":"os/linux/no-new-privileges","value":true}]`, `[]`, cgroup.Limits{}, ""},
		{"pids", `[]`, `[{"name":"` + podspec.AnnotationPidsLimit + `","value":"20"}]`, cgroup.Limits{PidsLimit: 20}, ""},
		{"cpu below 10m", `[{"name":"resource/cpu","value":{"limit":"5m","request":"5m"}}]`, `[]`, cgroup.Limits{}, "below 10m"},
		{"bad pids", `[]`, `[{"name":"` + podspec.AnnotationPidsLimit + `","value":"0"}]`, cgroup.Limits{}, "not a positive number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			js := `{"name":"a","image":{"id":"sha512-` + strings.Repeat("0", 64) + `"},"app":{"exec":["/x"],"user":"0","group":"0","isolators":` +
				tc.isolators + `},"annotations":` + tc.annotations + `}`
			var ra schema.RuntimeApp
			if err := json.Unmarshal([]byte(js), &ra); err != nil {
				t.Fatal(err)
			}
			got, err := AppLimits(&ra)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("AppLimits = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
