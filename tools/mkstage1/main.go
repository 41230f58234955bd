// Command mkstage1 packs a stage1 flavor binary into a stage1 image (an
// appc ACI: a tar of `manifest` and `rootfs/`), the form rkt loads stage1
// images in. One binary serves every entrypoint: rootfs/run, enter, gc and
// stop are symlinks to it, and it dispatches on the name it was run as;
// with -run-binary, rootfs/run is that binary instead (the light build of
// the flavor, which hands what it cannot do to the full one), and
// rootfs/pod-init, the pod's PID 1 that stage0 may start early
// (rkt.dev/stage1/pod-init-v2), a symlink to it. The image also carries the built-in CNI networks (etc/rkt/net.d) and, with
// -plugins, the CNI plugins of that directory (usr/lib/rkt/plugins/net).
//
//	go run ./tools/mkstage1 -flavor ns -binary bin/stage1-ns -run-binary bin/stage1-ns-run -plugins bin/cni -version V -o bin/stage1-ns.aci
package main

import (
	"archive/tar"
	"debug/elf"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rkt/rkt/internal/stage1/abi"
	"github.com/rkt/rkt/internal/stage1/network"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mkstage1:", err)
		os.Exit(1)
	}
}

type kv struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type manifest struct {
	ACKind      string `json:"acKind"`
	ACVersion   string `json:"acVersion"`
	Name        string `json:"name"`
	Labels      []kv   `json:"labels"`
	Annotations []kv   `json:"annotations"`
}

// entrypoints are the abi entrypoints the flavor binary serves, by the
// name of the symlink that runs it.
var entrypoints = []struct{ annotation, name string }{
	{abi.AnnotationRun, "run"},
	{abi.AnnotationEnter, "enter"},
	{abi.AnnotationGC, "gc"},
	{abi.AnnotationStop, "stop"},
	// The pod's PID 1 when stage0 starts it (abi.AnnotationPodInit): the
	// run entrypoint's binary, which serves it under this name.
	{abi.AnnotationPodInit, "pod-init"},
}

func run(args []string) error {
	fs := flag.NewFlagSet("mkstage1", flag.ContinueOnError)
	flavor := fs.String("flavor", "ns", "stage1 flavor name")
	binary := fs.String("binary", "", "the flavor's static binary")
	runBinary := fs.String("run-binary", "", "a static binary for the run entrypoint alone (default: -binary)")
	version := fs.String("version", "0.0.0-dev", "rkt version, the image's version label")
	out := fs.String("o", "", "output ACI file")
	plugins := fs.String("plugins", "", "a directory of CNI plugins to include")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *binary == "" || *out == "" {
		return errors.New("-binary and -o are required")
	}
	for _, b := range []struct{ flag, path string }{{"-binary", *binary}, {"-run-binary", *runBinary}} {
		if b.path == "" {
			continue
		}
		if err := checkStatic(b.flag, b.path); err != nil {
			return err
		}
	}
	m := manifest{
		ACKind:    "ImageManifest",
		ACVersion: "0.8.11",
		Name:      "coreos.com/rkt/stage1-" + *flavor,
		Labels: []kv{
			{"version", *version},
			{"os", "linux"},
			{"arch", runtime.GOARCH},
		},
	}
	for _, e := range entrypoints {
		m.Annotations = append(m.Annotations, kv{e.annotation, "/" + e.name})
	}
	m.Annotations = append(m.Annotations, kv{abi.AnnotationInterfaceVersion, strconv.Itoa(abi.InterfaceVersion)})
	mj, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := *out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := writeACI(f, mj, abi.FlavorBinaryPrefix+*flavor, *binary, *runBinary, *plugins); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", *out, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, *out)
}

// checkStatic refuses a flavor binary that needs a dynamic loader: its
// helpers are executed again from inside apps' roots (the app-exec helper
// of --private-users), where the host's loader is not, and fail there
// with a bare "no such file or directory". Build it with CGO_ENABLED=0.
// flag is the option that named it.
func checkStatic(flag, binary string) error {
	f, err := elf.Open(binary)
	if err != nil {
		return fmt.Errorf("%s %s: %w", flag, binary, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			interp, _ := io.ReadAll(io.LimitReader(p.Open(), 4096))
			return fmt.Errorf("%s %s is dynamically linked (interpreter %s): a stage1 binary must be static (CGO_ENABLED=0), as its helpers run inside apps' roots", flag, binary, strings.TrimRight(string(interp), "\x00"))
		}
	}
	return nil
}

// writeACI writes the image with fixed times and owners, so the same
// binary always gives the same image ID.
func writeACI(w io.Writer, manifest []byte, binName, binary, runBinary, plugins string) error {
	tw := tar.NewWriter(w)
	epoch := time.Unix(0, 0)
	hdr := func(h *tar.Header) error {
		h.ModTime, h.Format = epoch, tar.FormatPAX
		return tw.WriteHeader(h)
	}
	if err := hdr(&tar.Header{Name: "manifest", Mode: 0o644, Size: int64(len(manifest)), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if _, err := tw.Write(manifest); err != nil {
		return err
	}
	if err := hdr(&tar.Header{Name: "rootfs/", Mode: 0o755, Typeflag: tar.TypeDir}); err != nil {
		return err
	}
	if err := addFile(tw, hdr, binary, "rootfs/"+binName); err != nil {
		return err
	}
	for _, e := range entrypoints {
		if e.name == "run" && runBinary != "" {
			if err := addFile(tw, hdr, runBinary, "rootfs/run"); err != nil {
				return err
			}
			continue
		}
		target := binName
		if e.name == "pod-init" && runBinary != "" {
			target = "run"
		}
		if err := hdr(&tar.Header{Name: "rootfs/" + e.name, Linkname: target, Mode: 0o777, Typeflag: tar.TypeSymlink}); err != nil {
			return err
		}
	}
	dirs := []string{"rootfs/etc/", "rootfs/etc/rkt/", "rootfs/" + network.Stage1ConfDir + "/"}
	if plugins != "" {
		dirs = append(dirs, "rootfs/usr/", "rootfs/usr/lib/", "rootfs/usr/lib/rkt/", "rootfs/usr/lib/rkt/plugins/", "rootfs/"+network.Stage1PluginDir+"/")
	}
	for _, d := range dirs {
		if err := hdr(&tar.Header{Name: d, Mode: 0o755, Typeflag: tar.TypeDir}); err != nil {
			return err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(network.Builtin)) {
		conf := network.Builtin[name]
		if err := hdr(&tar.Header{Name: "rootfs/" + network.Stage1ConfDir + "/" + name, Mode: 0o644, Size: int64(len(conf)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := io.WriteString(tw, conf); err != nil {
			return err
		}
	}
	if plugins != "" {
		ents, err := os.ReadDir(plugins)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if err := addFile(tw, hdr, filepath.Join(plugins, e.Name()), "rootfs/"+network.Stage1PluginDir+"/"+e.Name()); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

// addFile adds a regular executable file.
func addFile(tw *tar.Writer, hdr func(*tar.Header) error, file, name string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", file)
	}
	if err := hdr(&tar.Header{Name: name, Mode: 0o755, Size: st.Size(), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}
