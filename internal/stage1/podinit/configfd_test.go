package podinit

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestConfigFile(t *testing.T) {
	// Larger than one argument may be (128 KiB), as a pod's hosts
	// entries may be.
	big := strings.Repeat("10.0.0.1 h\n", 40000)
	cases := []struct {
		name    string
		data    string
		wantErr string
	}{
		{name: "small", data: `{"hostname":"a"}`},
		{name: "larger than an argument", data: `{"hostname":"a","hostsEntries":"` + strings.ReplaceAll(big, "\n", `\n`) + `"}`},
		{name: "not JSON", data: `{"hostname":`, wantErr: "unexpected end of JSON input"},
		{name: "empty", data: ``, wantErr: "unexpected end of JSON input"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fd, err := ConfigFile("test", []byte(c.data))
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			var cfg Config
			err = readConfig(fd, &cfg)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("got error %v, want one with %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Hostname != "a" {
				t.Errorf("hostname %q, want a", cfg.Hostname)
			}
			if strings.HasPrefix(c.name, "larger") && cfg.HostsEntries != big {
				t.Errorf("hosts entries: %d bytes back of %d", len(cfg.HostsEntries), len(big))
			}
		})
	}
}

func TestReadConfigNotAFile(t *testing.T) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	var cfg Config
	if err := readConfig(p[0], &cfg); err == nil || !strings.Contains(err.Error(), "not a file") {
		t.Fatalf("got %v, want a refusal of a pipe", err)
	}
}

func TestConfigFileTooLarge(t *testing.T) {
	if _, err := ConfigFile("test", make([]byte, maxConfig+1)); err == nil {
		t.Fatal("a configuration over the limit was accepted")
	}
}
