package podinit

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestReadConfig: a configuration comes back whole through a memory file
// (ConfigFile) and through a pipe written while it is read (configPipe),
// larger than an argument may be (128 KiB, as a pod's hosts entries may
// be) and than a pipe's buffer; one that is cut short, empty or too large
// is an error.
func TestReadConfig(t *testing.T) {
	big := strings.Repeat("10.0.0.1 h\n", 40000)
	cases := []struct {
		name    string
		data    string
		wantErr string
		pipe    bool // only through a pipe: ConfigFile refuses it itself
	}{
		{name: "small", data: `{"hostname":"a"}`},
		{name: "larger than an argument and a pipe's buffer", data: `{"hostname":"a","hostsEntries":"` + strings.ReplaceAll(big, "\n", `\n`) + `"}`},
		{name: "cut short", data: `{"hostname":"a","hostsEn`, wantErr: "unexpected end of JSON input"},
		{name: "empty", data: ``, wantErr: "unexpected end of JSON input"},
		{name: "too large", data: strings.Repeat(" ", maxConfig+1), wantErr: "more than", pipe: true},
	}
	for _, transport := range []string{"file", "pipe"} {
		for _, c := range cases {
			if c.pipe && transport != "pipe" {
				continue
			}
			t.Run(transport+"/"+c.name, func(t *testing.T) {
				var cfg Config
				var err error
				if transport == "file" {
					fd, ferr := ConfigFile("test", []byte(c.data))
					if ferr != nil {
						t.Fatal(ferr)
					}
					err = readConfig(fd, &cfg)
					unix.Close(fd)
				} else {
					r, w, perr := configPipe()
					if perr != nil {
						t.Fatal(perr)
					}
					done := make(chan struct{})
					go func() {
						defer close(done)
						// Too large: readConfig gives up and closes r,
						// and this write fails (EPIPE), as it would when
						// pod init dies.
						_ = writeAll(w, []byte(c.data))
						unix.Close(w)
					}()
					err = readConfig(r, &cfg)
					unix.Close(r)
					<-done
				}
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
	r, w, err := configPipe()
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
	r, w, err = configPipe()
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

// configPipe is the configuration pipe of abi.StartPodInit: both ends
// close-on-exec.
func configPipe() (r, w int, err error) {
	var p [2]int
	err = unix.Pipe2(p[:], unix.O_CLOEXEC)
	return p[0], p[1], err
}
