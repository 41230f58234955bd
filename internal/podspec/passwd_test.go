package podspec

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

const testPasswd = `root:x:0:0:root:/root:/bin/sh
# comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bad line
toolong:x:99999999999:0::/:/bin/sh
app:x:1000:1001:App:/home/app:/bin/sh
`

const testGroup = `root:x:0:
staff:x:50:app,other
app:x:1001:
wheel:x:10:root,app
broken
`

func TestParseAndResolve(t *testing.T) {
	a := &Accounts{Users: ParsePasswd([]byte(testPasswd)), Groups: ParseGroup([]byte(testGroup)), Owner: func(p string) (uint32, uint32, error) {
		switch p {
		case "/home/app/run":
			return 1000, 50, nil
		case "/srv/data":
			return 7, 8, nil
		}
		return 0, 0, fmt.Errorf("%s: no such file", p)
	}}
	if len(a.Users) != 3 || len(a.Groups) != 4 {
		t.Fatalf("parsed %d users, %d groups: %+v %+v", len(a.Users), len(a.Groups), a.Users, a.Groups)
	}
	for _, tc := range []struct {
		user      string
		uid, gid  uint32
		home      string
		known     bool
		wantError bool
	}{
		{"app", 1000, 1001, "/home/app", true, false},
		{"1000", 1000, 1001, "/home/app", true, false},
		{"4242", 4242, 0, "", false, false},
		{"nobody", 0, 0, "", false, true},
		{"/home/app/run", 1000, 1001, "/home/app", true, false},
		{"/srv/data", 7, 0, "", false, false},
		{"/missing", 0, 0, "", false, true},
	} {
		uid, gid, home, known, err := a.ResolveUser(tc.user)
		if (err != nil) != tc.wantError || uid != tc.uid || gid != tc.gid || home != tc.home || known != tc.known {
			t.Errorf("ResolveUser(%q) = %d, %d, %q, %v, %v", tc.user, uid, gid, home, known, err)
		}
	}
	if g, err := a.ResolveGroup("staff"); err != nil || g != 50 {
		t.Errorf("ResolveGroup(staff) = %d, %v", g, err)
	}
	if _, err := a.ResolveGroup("nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("ResolveGroup(nope) = %v", err)
	}
	if g, err := a.ResolveGroup("/srv/data"); err != nil || g != 8 {
		t.Errorf("ResolveGroup(/srv/data) = %d, %v", g, err)
	}
	if _, err := a.ResolveGroup("/missing"); err == nil || !strings.Contains(err.Error(), "/missing") {
		t.Errorf("ResolveGroup(/missing) = %v", err)
	}
	if _, err := (&Accounts{}).ResolveGroup("/srv/data"); err == nil {
		t.Error("a path with no Owner: no error")
	}
	if got := a.SupplementaryGIDs("app"); !reflect.DeepEqual(got, []int{50, 10}) {
		t.Errorf("SupplementaryGIDs(app) = %v", got)
	}
}

func FuzzParsePasswd(f *testing.F) {
	f.Add([]byte(testPasswd))
	f.Add([]byte(testGroup))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, u := range ParsePasswd(data) {
			if u.Name == "" || strings.Contains(u.Name, ":") || strings.Contains(u.Name, "\n") {
				t.Fatalf("bad user entry %+v", u)
			}
		}
		for _, g := range ParseGroup(data) {
			if g.Name == "" || strings.Contains(g.Name, ":") {
				t.Fatalf("bad group entry %+v", g)
			}
		}
	})
}
