package podspec

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// MaxAccountFile bounds /etc/passwd and /etc/group read from an image.
const MaxAccountFile = 4 << 20

// PasswdEntry is one line of an image's /etc/passwd.
type PasswdEntry struct {
	Name     string
	UID, GID uint32
	Home     string
}

// GroupEntry is one line of an image's /etc/group.
type GroupEntry struct {
	Name    string
	GID     uint32
	Members []string
}

// ParsePasswd parses /etc/passwd content from an image (hostile input):
// malformed lines are skipped, ids must fit 32 bits.
func ParsePasswd(data []byte) []PasswdEntry {
	var out []PasswdEntry
	eachLine(data, func(f []string) {
		if len(f) < 7 || f[0] == "" {
			return
		}
		uid, err1 := parseID(f[2])
		gid, err2 := parseID(f[3])
		if err1 != nil || err2 != nil {
			return
		}
		out = append(out, PasswdEntry{Name: f[0], UID: uid, GID: gid, Home: f[5]})
	})
	return out
}

// ParseGroup parses /etc/group content from an image.
func ParseGroup(data []byte) []GroupEntry {
	var out []GroupEntry
	eachLine(data, func(f []string) {
		if len(f) < 4 || f[0] == "" {
			return
		}
		gid, err := parseID(f[2])
		if err != nil {
			return
		}
		var members []string
		for _, m := range strings.Split(f[3], ",") {
			if m = strings.TrimSpace(m); m != "" {
				members = append(members, m)
			}
		}
		out = append(out, GroupEntry{Name: f[0], GID: gid, Members: members})
	})
	return out
}

func eachLine(data []byte, fn func([]string)) {
	if len(data) > MaxAccountFile {
		data = data[:MaxAccountFile]
	}
	// The file is in memory already: split it where it lies (a Scanner
	// would copy it through a buffer of its own).
	for b := range bytes.Lines(data) {
		b = bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
		if len(b) == 0 || b[0] == '#' {
			continue
		}
		fn(strings.Split(string(b), ":"))
	}
}

func parseID(s string) (uint32, error) {
	v, err := strconv.ParseUint(s, 10, 32)
	return uint32(v), err
}

// Accounts are an image's users and groups, for resolving names.
type Accounts struct {
	Users  []PasswdEntry
	Groups []GroupEntry
	// Owner returns the owner and group of a file of the image, for a
	// user or group given as an absolute path (appc); may be nil.
	Owner func(path string) (uid, gid uint32, err error)
}

// owner is the owner and group of the image's file at path.
func (a *Accounts) owner(path string) (uid, gid uint32, err error) {
	if a.Owner == nil {
		return 0, 0, fmt.Errorf("user or group %q: the image's files are not known here", path)
	}
	uid, gid, err = a.Owner(path)
	if err != nil {
		return 0, 0, fmt.Errorf("user or group given as a path: %w", err)
	}
	return uid, gid, nil
}

// ResolveUser resolves a user given as a number, a name, or (appc) the
// absolute path of a file of the image whose owner is the user, to a uid,
// and the user's primary gid and home when the image knows the user.
func (a *Accounts) ResolveUser(user string) (uid uint32, gid uint32, home string, known bool, err error) {
	if strings.HasPrefix(user, "/") {
		uid, _, err := a.owner(user)
		if err != nil {
			return 0, 0, "", false, err
		}
		user = strconv.FormatUint(uint64(uid), 10)
	}
	if n, err := parseID(user); err == nil {
		for _, u := range a.Users {
			if u.UID == n {
				return n, u.GID, u.Home, true, nil
			}
		}
		return n, 0, "", false, nil
	}
	for _, u := range a.Users {
		if u.Name == user {
			return u.UID, u.GID, u.Home, true, nil
		}
	}
	return 0, 0, "", false, fmt.Errorf("user %q is not in the image's /etc/passwd", user)
}

// ResolveGroup resolves a group given as a number, a name, or (appc) the
// absolute path of a file of the image whose group it is, to a gid.
func (a *Accounts) ResolveGroup(group string) (uint32, error) {
	if strings.HasPrefix(group, "/") {
		_, gid, err := a.owner(group)
		return gid, err
	}
	if n, err := parseID(group); err == nil {
		return n, nil
	}
	for _, g := range a.Groups {
		if g.Name == group {
			return g.GID, nil
		}
	}
	return 0, fmt.Errorf("group %q is not in the image's /etc/group", group)
}

// SupplementaryGIDs lists the gids of the groups that name user as a
// member, as initgroups would.
func (a *Accounts) SupplementaryGIDs(user string) []int {
	var out []int
	for _, g := range a.Groups {
		for _, m := range g.Members {
			if m == user {
				out = append(out, int(g.GID))
			}
		}
	}
	return out
}
