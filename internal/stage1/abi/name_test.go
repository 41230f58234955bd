package abi

import (
	"strings"
	"testing"

	"github.com/appc/spec/schema/types"
)

func TestCheckACName(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  string // "" for a valid name
	}{
		{"web", ""},
		{"a", ""},
		{"0", ""},
		{"app-1-b", ""},
		{"", "empty name"},
		{"Web", "only lower-case"},
		{"a_b", "only lower-case"},
		{"a.b", "only lower-case"},
		{".", "only lower-case"},
		{"..", "only lower-case"},
		{"../x", "only lower-case"},
		{"a/b", "only lower-case"},
		{"a\x00", "only lower-case"},
		{"é", "only lower-case"},
		{"-a", "must start and end"},
		{"a-", "must start and end"},
		{"-", "must start and end"},
		{"a--b", "'-' must not follow '-'"},
	} {
		err := CheckACName(tc.name)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("CheckACName(%q) = %v, want %q", tc.name, err, tc.err)
		}
		if (err == nil) != types.ValidACName.MatchString(tc.name) {
			t.Errorf("CheckACName(%q) = %v, appc's rule says valid=%v", tc.name, err, !(err == nil))
		}
	}
}

// FuzzCheckACName: the rule is appc's, exactly.
func FuzzCheckACName(f *testing.F) {
	for _, s := range []string{"web", "a--b", "-a", "A", "a-1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := CheckACName(s) == nil, types.ValidACName.MatchString(s); got != want {
			t.Errorf("CheckACName(%q) valid=%v, appc's rule %v", s, got, want)
		}
	})
}
