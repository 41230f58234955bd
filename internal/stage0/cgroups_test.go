package stage0

import (
	"os"
	"reflect"
	"testing"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/rkt/rkt/internal/cgroup"
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
