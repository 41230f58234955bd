package pod

import (
	"strings"
	"testing"

	"github.com/rkt/rkt/internal/errdefs"
)

// FuzzMatchPrefix checks prefix resolution against a naive model: the
// result is the single distinct name with that prefix, or rkt's errors.
func FuzzMatchPrefix(f *testing.F) {
	f.Add("aaaaaaaa-0000-4000-8000-000000000001\naaaaaaaa-0000-4000-8000-000000000002", "a")
	f.Add("6f2e3d1c-1b2a-4c3d-8e4f-0123456789ab", "6f2e")
	f.Add("x\nx\ny", "x")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, list, prefix string) {
		names := strings.Split(list, "\n")
		distinct := map[string]bool{}
		for _, n := range names {
			if strings.HasPrefix(n, prefix) {
				distinct[n] = true
			}
		}
		got, err := matchPrefix(names, prefix)
		switch {
		case prefix == "":
			if !errdefs.Is(err, errdefs.KindInvalidArgument) || err.Error() != "UUID cannot be empty" {
				t.Fatalf("empty prefix: %v", err)
			}
		case len(distinct) == 0:
			if !errdefs.Is(err, errdefs.KindNotFound) || !strings.HasPrefix(err.Error(), "no matches found for ") {
				t.Fatalf("no match: %q, %v", got, err)
			}
		case len(distinct) == 1:
			if err != nil || !distinct[got] {
				t.Fatalf("one match: %q, %v", got, err)
			}
		default:
			if !errdefs.Is(err, errdefs.KindInvalidArgument) || !strings.HasPrefix(err.Error(), "ambiguous uuid, ") {
				t.Fatalf("%d matches: %q, %v", len(distinct), got, err)
			}
		}
	})
}

// FuzzValidUUID: whatever ValidUUID accepts is a single path component of
// 36 lowercase hex digits and dashes; NewUUID's output is accepted.
func FuzzValidUUID(f *testing.F) {
	id, _ := NewUUID()
	f.Add(id)
	f.Add("../../../../../../../../etc/passwd-xx")
	f.Add(strings.ToUpper(id))
	f.Fuzz(func(t *testing.T, s string) {
		if !ValidUUID(s) {
			return
		}
		if len(s) != 36 || strings.Trim(s, "0123456789abcdef-") != "" || strings.Count(s, "-") != 4 {
			t.Fatalf("ValidUUID accepted %q", s)
		}
	})
}
