package stage0

import (
	"strings"
	"testing"
)

func TestWithoutVars(t *testing.T) {
	environ := []string{"PATH=/bin", "RKT_MDS_PORT=1", "GOMAXPROCS=8", "HOME=/root", "RKT_LOCK_FD"}
	got := withoutVars(environ, []string{"RKT_MDS_PORT=40000", "GOMAXPROCS=1", "RKT_LOCK_FD=3"})
	if strings.Join(got, " ") != "PATH=/bin HOME=/root" {
		t.Errorf("got %q: the inherited copies of the variables stage0 sets must go", got)
	}
	if environ[1] != "RKT_MDS_PORT=1" {
		t.Error("withoutVars changed its input")
	}
}
