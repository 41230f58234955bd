package store

import (
	"regexp"
	"strings"
	"testing"
)

// FuzzParseImageID: ParseImageID accepts exactly what the regexp it
// replaces matches, and splits it the same way.
func FuzzParseImageID(f *testing.F) {
	re := regexp.MustCompile(`^(sha256|sha512)[-:]([a-f0-9]{2,128})$`)
	for _, s := range []string{"sha256-ab", "sha512:0123456789abcdef", "sha256-a", "sha256_ab", "sha256-AB", "sha384-ab", "sha256-", "sha256", "", "sha256-" + strings.Repeat("a", 129)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		algo, hex, ok := ParseImageID(s)
		m := re.FindStringSubmatch(s)
		if ok != (m != nil) {
			t.Fatalf("ParseImageID(%q) ok = %v, the regexp matches: %v", s, ok, m != nil)
		}
		if ok && (algo != m[1] || hex != m[2]) {
			t.Fatalf("ParseImageID(%q) = %q, %q; the regexp: %q, %q", s, algo, hex, m[1], m[2])
		}
	})
}
