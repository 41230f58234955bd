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

func TestReadConfigNotAFileOrPipe(t *testing.T) {
	p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	var cfg Config
	if err := readConfig(p[0], &cfg); err == nil || !strings.Contains(err.Error(), "neither a file nor a pipe") {
		t.Fatalf("got %v, want a refusal of a socket", err)
	}
}

// TestConfigPipe: a configuration written to a pipe while the reader
// reads it, larger than a pipe's buffer, comes back whole; a writer that
// stops early or writes too much gives an error.
func TestConfigPipe(t *testing.T) {
	big := strings.Repeat("10.0.0.1 h\n", 40000)
	cases := []struct {
		name    string
		data    string
		wantErr string
	}{
		{name: "small", data: `{"hostname":"a"}`},
		{name: "larger than the pipe's buffer", data: `{"hostname":"a","hostsEntries":"` + strings.ReplaceAll(big, "\n", `\n`) + `"}`},
		{name: "cut short", data: `{"hostname":"a","hostsEn`, wantErr: "unexpected end of JSON input"},
		{name: "empty", data: ``, wantErr: "unexpected end of JSON input"},
		{name: "too large", data: strings.Repeat(" ", maxConfig+1), wantErr: "more than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, w, err := ConfigPipe()
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				// The too-large case writes more than readConfig
				// takes: it gives up and closes r, and this write
				// fails (EPIPE), as it would when pod init dies.
				_ = writeAll(w, []byte(c.data))
				unix.Close(w)
			}()
			var cfg Config
			err = readConfig(r, &cfg)
			unix.Close(r)
			<-done
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

func writeAll(fd int, data []byte) error {
	for len(data) > 0 {
		n, err := unix.Write(fd, data)
		if err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// TestWriteConfig: WriteConfig hands the reader everything and the end of
// it, and fails once the reader is gone.
func TestWriteConfig(t *testing.T) {
	r, w, err := ConfigPipe()
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- WriteConfig(w, []byte(`{"hostname":"b"}`)) }()
	var cfg Config
	if err := ReadConfig(r, &cfg); err != nil || cfg.Hostname != "b" {
		t.Fatalf("ReadConfig = %v, hostname %q", err, cfg.Hostname)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	r, w, err = ConfigPipe()
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(r)
	if err := WriteConfig(w, []byte(`{}`)); err == nil || !strings.Contains(err.Error(), "broken pipe") {
		t.Fatalf("WriteConfig to a pipe with no reader = %v, want EPIPE", err)
	}
}

func TestConfigFileTooLarge(t *testing.T) {
	if _, err := ConfigFile("test", make([]byte, maxConfig+1)); err == nil {
		t.Fatal("a configuration over the limit was accepted")
	}
}
