package pod

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"github.com/rkt/rkt/internal/errdefs"
)

// uuidLen is the length of a canonical UUID: 8-4-4-4-12 hex digits.
const uuidLen = 36

// NewUUID returns a random (version 4, RFC 4122 variant) UUID in its
// canonical lowercase form, the name of a pod directory.
func NewUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate pod UUID: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	const hexdig = "0123456789abcdef"
	out := make([]byte, 0, uuidLen)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hexdig[c>>4], hexdig[c&0x0f])
	}
	return string(out), nil
}

// ValidUUID reports whether s is a UUID in canonical lowercase form
// (8-4-4-4-12 lowercase hex digits), the only form pod directories have.
func ValidUUID(s string) bool {
	if len(s) != uuidLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}

// errEmptyUUID is rkt's error for an empty UUID argument.
var errEmptyUUID = errors.New("UUID cannot be empty")

// matchPrefix resolves prefix (already lowercased) against names, returning
// the single match or rkt's errors: `UUID cannot be empty`, `no matches
// found for "X"`, `ambiguous uuid, N matches`. Duplicate names count once.
func matchPrefix(names []string, prefix string) (string, error) {
	if prefix == "" {
		return "", errdefs.InvalidArgument(errEmptyUUID)
	}
	var match string
	n := 0
	seen := make(map[string]struct{})
	for _, name := range names {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		if _, dup := seen[name]; dup {
			continue
		}
		seen[name] = struct{}{}
		match = name
		n++
	}
	switch n {
	case 0:
		return "", errdefs.NotFound(fmt.Errorf("no matches found for %q", prefix))
	case 1:
		return match, nil
	default:
		return "", errdefs.InvalidArgument(fmt.Errorf("ambiguous uuid, %d matches", n))
	}
}
