package podinit

import (
	"encoding/json"
	"fmt"

	"golang.org/x/sys/unix"
)

// ConfigFD is the descriptor pod init and the app-exec helper read their
// configuration from. An argument would do for most, but the kernel caps
// one at 128 KiB (MAX_ARG_STRLEN), and a configuration may be larger: a
// pod's /etc/hosts entries alone may take 1 MiB, an app's environment
// more.
const ConfigFD = 3

// maxConfig bounds the configuration read from ConfigFD.
const maxConfig = 16 << 20

// ConfigFile returns a memory file (close-on-exec) holding data, to be
// handed to a helper, which reads it with ReadConfig.
func ConfigFile(name string, data []byte) (int, error) {
	if len(data) > maxConfig {
		return -1, fmt.Errorf("%s: the configuration takes %d bytes, more than %d", name, len(data), maxConfig)
	}
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("%s: memfd_create: %w", name, err)
	}
	for off := 0; off < len(data); {
		n, err := unix.Write(fd, data[off:])
		if err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("%s: write: %w", name, err)
		}
		off += n
	}
	return fd, nil
}

// ReadConfig decodes the JSON configuration in fd into v and closes fd,
// so that no app inherits it.
func ReadConfig(fd int, v any) error {
	defer unix.Close(fd)
	return readConfig(fd, v)
}

// readConfig reads fd from its start (whatever its offset, which the
// parent's write left at the end) and decodes it into v.
func readConfig(fd int, v any) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("configuration (fd %d): %w", fd, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("configuration (fd %d) is not a file", fd)
	}
	if st.Size > maxConfig {
		return fmt.Errorf("configuration (fd %d) takes %d bytes, more than %d", fd, st.Size, maxConfig)
	}
	buf := make([]byte, st.Size)
	for off := 0; off < len(buf); {
		n, err := unix.Pread(fd, buf[off:], int64(off))
		if err != nil {
			return fmt.Errorf("configuration (fd %d): %w", fd, err)
		}
		if n == 0 {
			return fmt.Errorf("configuration (fd %d): short read, %d of %d bytes", fd, off, len(buf))
		}
		off += n
	}
	if err := json.Unmarshal(buf, v); err != nil {
		return fmt.Errorf("configuration (fd %d): %w", fd, err)
	}
	return nil
}
