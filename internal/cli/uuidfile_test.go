package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteUUIDFile(t *testing.T) {
	dir := t.TempDir()
	const uuid = "6f4d2d4e-4a6b-4d4c-9a1e-0c6c2f0e9a11"
	cases := []struct {
		name    string
		file    string
		before  string // content already there
		wantErr bool
	}{
		{name: "new", file: filepath.Join(dir, "a")},
		{name: "replaced", file: filepath.Join(dir, "b"), before: "old content, longer than a UUID ......................"},
		{name: "missing directory", file: filepath.Join(dir, "none", "c"), wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.before != "" {
				if err := os.WriteFile(c.file, []byte(c.before), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			err := writeUUIDFile(c.file, uuid)
			if c.wantErr {
				if err == nil || !strings.HasPrefix(err.Error(), "--uuid-file-save: ") {
					t.Fatalf("got %v, want a --uuid-file-save error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(c.file)
			if err != nil || string(b) != uuid {
				t.Fatalf("file holds %q (%v), want the UUID", b, err)
			}
			st, err := os.Stat(c.file)
			if err != nil || st.Mode().Perm() != 0o644 {
				t.Errorf("mode %v (%v), want 0644", st.Mode(), err)
			}
		})
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}
