package abi

import (
	"errors"
	"fmt"
)

// CheckACName checks a name of the pod manifest (an app, a volume, a mount
// point) with the appc schema's ACName rule, ^[a-z0-9]+(-[a-z0-9]+)*$:
// lower-case letters, digits and single '-' between them. Such a name is
// safe as one path element, which is how the pod directory (pids/<app>,
// enter/<app>, the cgroups of each app) uses an app's name. It is the one
// check of an app name on both sides of the contract; stage0 gets the same
// rule from the appc schema (types.NewACName) when it writes the manifest.
func CheckACName(s string) error {
	if s == "" {
		return errors.New("empty name")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("%q: only lower-case letters, digits and '-' are allowed", s)
		}
		if c == '-' && i > 0 && s[i-1] == '-' {
			return fmt.Errorf("%q: '-' must not follow '-'", s)
		}
	}
	if s[0] == '-' || s[len(s)-1] == '-' {
		return fmt.Errorf("%q: must start and end with a lower-case letter or digit", s)
	}
	return nil
}
