//go:build !rktfront

package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"

	"github.com/rkt/rkt/internal/aci"
	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/fetch"
	"github.com/rkt/rkt/internal/podspec"
	"github.com/rkt/rkt/internal/rootfs"
	"github.com/rkt/rkt/internal/stage0"
	"github.com/rkt/rkt/internal/store"
)

func (a *app) imageCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image [command]",
		Short: "Operate on image(s) in the local store",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(a.stderr)
			_ = cmd.Usage()
			return errUsage
		},
	}
	cmd.AddCommand(
		a.imageListCommand(),
		a.imageRmCommand(),
		a.imageCatManifestCommand(),
		a.imageExportCommand(),
		a.imageExtractCommand("extract", "Extract a stored image to a directory"),
		a.imageExtractCommand("render", "Render a stored image to a directory, as a pod's app would see it"),
		a.imageGCCommand(),
		a.imageVerifyCommand(),
	)
	return cmd
}

// findImage finds a stored image by ID prefix, name, or docker:// reference.
func findImage(s *store.Store, arg string) (*store.Image, error) {
	return fetch.Lookup(s, arg)
}

// --- image list

var imageListFields = map[string]string{
	"id":         "ID",
	"name":       "NAME",
	"importtime": "IMPORT TIME",
	"lastused":   "LAST USED",
	"size":       "SIZE",
	"latest":     "LATEST",
}

var imageListDefaultFields = []string{"id", "name", "importtime", "lastused", "size", "latest"}

// listFields is a comma-separated list of known field names.
type listFields struct {
	names []string
	known map[string]string
}

func (l *listFields) Set(s string) error {
	var out []string
	seen := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		if _, ok := l.known[f]; !ok {
			keys := make([]string, 0, len(l.known))
			for k := range l.known {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			return fmt.Errorf("unknown field %q (want %s)", f, strings.Join(keys, ", "))
		}
		if seen[f] {
			return fmt.Errorf("duplicated field %q", f)
		}
		seen[f] = true
		out = append(out, f)
	}
	l.names = out
	return nil
}

func (l *listFields) String() string { return strings.Join(l.names, ",") }
func (l *listFields) Type() string   { return "fields" }

// imageJSON is one image in `image list --format=json`.
type imageJSON struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	ImportTime int64  `json:"import_time"`
	LastUsed   int64  `json:"last_used"`
	Size       int64  `json:"size"`
	Latest     bool   `json:"latest"`
}

func (a *app) imageListCommand() *cobra.Command {
	fields := &listFields{names: imageListDefaultFields, known: imageListFields}
	sortBy := &listFields{names: []string{"importtime"}, known: imageListFields}
	var (
		order    string
		full     bool
		noLegend bool
		format   string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List images in the local store",
		Example: `  rkt image list
  rkt image list --fields=id,name --sort=name --order=desc --no-legend
  rkt image list --format=json-pretty`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if order != "asc" && order != "desc" {
				return errdefs.InvalidArgument(fmt.Errorf("invalid --order %q (want asc or desc)", order))
			}
			if format != "" && format != "json" && format != "json-pretty" {
				return errdefs.InvalidArgument(fmt.Errorf("invalid --format %q (want json or json-pretty)", format))
			}
			s, err := a.openStore(store.Shared)
			if err != nil {
				return err
			}
			defer s.Close()
			imgs, err := s.Images()
			if err != nil {
				return err
			}
			sizes := map[digest.Digest]int64{}
			for _, img := range imgs {
				sizes[img.ID] = imageSize(s, img)
			}
			sortImages(imgs, sortBy.names, order == "desc", sizes)
			if format != "" {
				return a.printImagesJSON(imgs, sizes, format == "json-pretty")
			}
			return a.printImagesTable(imgs, sizes, fields.names, full, noLegend)
		},
	}
	cmd.Flags().Var(fields, "fields", "comma-separated list of fields to display: id, name, importtime, lastused, size, latest")
	cmd.Flags().Var(sortBy, "sort", "sort the output by these comma-separated fields: id, name, importtime, lastused, size, latest")
	cmd.Flags().StringVar(&order, "order", "asc", "sort order: asc or desc")
	cmd.Flags().BoolVar(&full, "full", false, "use long output format (full IDs, absolute times, sizes in bytes)")
	cmd.Flags().BoolVar(&noLegend, "no-legend", false, "suppress a legend with the list")
	cmd.Flags().StringVar(&format, "format", "", "output format: json or json-pretty")
	return cmd
}

// imageSize is the store space an image takes: its blobs and rendered layers.
func imageSize(s *store.Store, img *store.Image) int64 {
	n := img.BlobSize()
	for _, l := range img.Layers {
		if li, err := s.Layer(l.DiffID); err == nil {
			n += li.Size
		}
	}
	return n
}

func sortImages(imgs []*store.Image, by []string, desc bool, sizes map[digest.Digest]int64) {
	cmp := func(x, y *store.Image, f string) int {
		switch f {
		case "id":
			return strings.Compare(string(x.ID), string(y.ID))
		case "name":
			return strings.Compare(x.Name, y.Name)
		case "importtime":
			return x.ImportTime.Compare(y.ImportTime)
		case "lastused":
			return x.LastUsed.Compare(y.LastUsed)
		case "size":
			return int(sizes[x.ID] - sizes[y.ID])
		case "latest":
			if x.Latest == y.Latest {
				return 0
			}
			if !x.Latest {
				return -1
			}
			return 1
		}
		return 0
	}
	sort.SliceStable(imgs, func(i, j int) bool {
		for _, f := range by {
			c := cmp(imgs[i], imgs[j], f)
			if desc {
				c = -c
			}
			if c != 0 {
				return c < 0
			}
		}
		return false
	})
}

func (a *app) printImagesJSON(imgs []*store.Image, sizes map[digest.Digest]int64, pretty bool) error {
	out := make([]imageJSON, 0, len(imgs))
	for _, img := range imgs {
		out = append(out, imageJSON{
			ID: store.FormatID(img.ID), Name: img.Name,
			ImportTime: img.ImportTime.Unix(), LastUsed: img.LastUsed.Unix(),
			Size: sizes[img.ID], Latest: img.Latest,
		})
	}
	var b []byte
	var err error
	if pretty {
		b, err = json.MarshalIndent(out, "", "\t")
	} else {
		b, err = json.Marshal(out)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, string(b))
	return nil
}

func (a *app) printImagesTable(imgs []*store.Image, sizes map[digest.Digest]int64, fields []string, full, noLegend bool) error {
	tw := tabwriter.NewWriter(a.stdout, 0, 8, 1, '\t', 0)
	if !noLegend {
		hdr := make([]string, len(fields))
		for i, f := range fields {
			hdr[i] = imageListFields[f]
		}
		fmt.Fprintln(tw, strings.Join(hdr, "\t"))
	}
	now := time.Now()
	for _, img := range imgs {
		row := make([]string, len(fields))
		for i, f := range fields {
			switch f {
			case "id":
				if full {
					row[i] = store.FormatID(img.ID)
				} else {
					row[i] = store.ShortID(img.ID, 12)
				}
			case "name":
				row[i] = img.Name
			case "importtime":
				row[i] = formatTime(img.ImportTime, now, full)
			case "lastused":
				row[i] = formatTime(img.LastUsed, now, full)
			case "size":
				if full {
					row[i] = fmt.Sprint(sizes[img.ID])
				} else {
					row[i] = humanBytes(sizes[img.ID])
				}
			case "latest":
				row[i] = fmt.Sprint(img.Latest)
			}
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

// --- image rm

func (a *app) imageRmCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "rm IMAGE...",
		Short:   "Remove one or more images with the given IDs or names from the local store",
		Example: "  rkt image rm sha256-9f8e7d6c5b4a\n  rkt image rm docker://127.0.0.1:5000/busybox:latest",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.openStore(store.Exclusive)
			if err != nil {
				return err
			}
			defer s.Close()
			var errs []error
			done := 0
			for _, arg := range args {
				img, err := findImage(s, arg)
				if err == nil {
					err = s.RemoveImage(img.ID)
				}
				if err != nil {
					fmt.Fprintf(a.stderr, "image rm: %s\n", oneLine(err.Error()))
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(a.stderr, "image rm: successfully removed image %q\n", store.FormatID(img.ID))
				done++
			}
			if done > 0 {
				fmt.Fprintf(a.stderr, "image rm: %d image(s) successfully removed\n", done)
			}
			if len(errs) > 0 {
				return fmt.Errorf("failed to remove %d image(s)", len(errs))
			}
			return nil
		},
	}
}

// --- image cat-manifest

// aciManifestJSON is an ACI's own manifest, from its rendered tree.
func aciManifestJSON(s *store.Store, img *store.Image, pretty bool) ([]byte, error) {
	if len(img.Layers) != 1 {
		return nil, fmt.Errorf("image %s: an ACI record must have one layer", store.FormatID(img.ID))
	}
	dir, err := s.LayerDir(img.Layers[0].DiffID)
	if err != nil {
		return nil, err
	}
	a, err := aci.ReadManifestFile(filepath.Join(dir, "rootfs", "manifest"))
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", store.FormatID(img.ID), err)
	}
	if pretty {
		return json.MarshalIndent(a, "", "\t")
	}
	return json.Marshal(a)
}

// imageManifestJSON is the appc ImageManifest view of a stored image.
func imageManifestJSON(s *store.Store, img *store.Image, pretty bool) ([]byte, error) {
	if img.MediaType == aci.MediaType {
		return aciManifestJSON(s, img, pretty)
	}
	f, err := s.OpenBlob(img.Config)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cfg, err := v1.ParseConfigFile(f)
	if err != nil {
		return nil, fmt.Errorf("image %s: parse config: %w", store.FormatID(img.ID), err)
	}
	repo, tag := podspec.SplitName(img.Name)
	im, err := podspec.ImageManifestFromOCI(podspec.ImageRef{
		Repository: repo, Tag: tag, ManifestDigest: img.ID.String(), ConfigDigest: img.Config.String(),
	}, cfg)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", store.FormatID(img.ID), err)
	}
	if pretty {
		return json.MarshalIndent(im, "", "\t")
	}
	return json.Marshal(im)
}

func (a *app) imageCatManifestCommand() *cobra.Command {
	var pretty bool
	cmd := &cobra.Command{
		Use:   "cat-manifest IMAGE",
		Short: "Inspect and print the image manifest",
		Long: `Print the appc image manifest of a stored image. For OCI images it is the
mapping of the image config that rkt uses to run it (exec, user, group,
environment, ports, mount points) with the appc.io/docker/* annotations.`,
		Example: "  rkt image cat-manifest sha256-9f8e7d6c5b4a",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.openStore(store.Shared)
			if err != nil {
				return err
			}
			defer s.Close()
			img, err := findImage(s, args[0])
			if err != nil {
				return err
			}
			b, err := imageManifestJSON(s, img, pretty)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, string(b))
			return nil
		},
	}
	cmd.Flags().BoolVar(&pretty, "pretty-print", true, "apply indent to format the output")
	return cmd
}

// --- image export

func (a *app) imageExportCommand() *cobra.Command {
	var overwrite bool
	cmd := &cobra.Command{
		Use:   "export IMAGE OUTPUT",
		Short: "Export a stored image to an OCI archive",
		Long: `Write a stored image to OUTPUT as an OCI image layout in a tar archive,
which 'rkt fetch oci-archive:OUTPUT' and other OCI tools read. Blobs are
written as stored, so the export has the same manifest digest (image ID).`,
		Example: "  rkt image export sha256-9f8e7d6c5b4a busybox.tar",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.openStore(store.Shared)
			if err != nil {
				return err
			}
			defer s.Close()
			img, err := findImage(s, args[0])
			if err != nil {
				return err
			}
			return writeOutputFile(args[1], overwrite, func(f *os.File) error {
				var err error
				if img.MediaType == aci.MediaType {
					// An ACI is exported as the very bytes it was imported from.
					err = s.CopyBlob(img.ID, f)
				} else {
					// The full name is the ref, so a re-import keeps it.
					err = s.ExportOCIArchive(img.ID, img.Name, f)
				}
				if err != nil {
					return fmt.Errorf("export %s: %w", store.FormatID(img.ID), err)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&overwrite, "overwrite", false, "overwrite the output file if it exists")
	return cmd
}

// --- image extract / render

func (a *app) imageExtractCommand(use, short string) *cobra.Command {
	var rootfsOnly, overwrite bool
	cmd := &cobra.Command{
		Use:   use + " IMAGE DIR",
		Short: short,
		Long: short + `.

DIR gets the image's root filesystem under DIR/rootfs and its manifest in
DIR/manifest, or the root filesystem itself with --rootfs-only. The layers
are applied in order with their whiteouts, as the pod's app sees them (OCI
images have no dependencies, so extract and render give the same tree).
Nothing is left at DIR if it fails.`,
		Example: "  rkt image " + use + " --rootfs-only sha256-9f8e7d6c5b4a /tmp/rootfs",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.openStore(store.Shared)
			if err != nil {
				return err
			}
			defer s.Close()
			img, err := findImage(s, args[0])
			if err != nil {
				return err
			}
			return a.extractImage(cmd, s, img, args[1], rootfsOnly, overwrite)
		},
	}
	cmd.Flags().BoolVar(&rootfsOnly, "rootfs-only", false, "extract the root filesystem only, without the manifest")
	cmd.Flags().BoolVar(&overwrite, "overwrite", false, "overwrite the output directory")
	return cmd
}

func (a *app) extractImage(cmd *cobra.Command, s *store.Store, img *store.Image, dir string, rootfsOnly, overwrite bool) error {
	dir = filepath.Clean(dir)
	if _, err := os.Lstat(dir); err == nil {
		if !overwrite {
			return errdefs.WithKind(errdefs.KindAlreadyExists, fmt.Errorf("%s already exists (use --overwrite)", dir))
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".tmp-*")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			_ = rootfs.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil { //nolint:gosec // G302: a root filesystem's top directory is world-readable, like /
		return err
	}
	root := tmp
	if img.MediaType == aci.MediaType {
		// An ACI's tree is already manifest + rootfs/.
		if err := s.RenderImage(cmd.Context(), img.ID, tmp, store.RenderOptions{}); err != nil {
			return err
		}
		if rootfsOnly {
			tmp, root = filepath.Join(tmp, "rootfs"), tmp
			defer func() { _ = rootfs.RemoveAll(root) }()
		}
		return a.commitExtract(tmp, dir, overwrite, &ok)
	}
	if !rootfsOnly {
		b, err := imageManifestJSON(s, img, true)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(tmp, "manifest"), b, 0o644); err != nil { //nolint:gosec // G306: the manifest is public metadata, as in an ACI
			return err
		}
		root = filepath.Join(tmp, "rootfs")
		if err := os.Mkdir(root, 0o755); err != nil { //nolint:gosec // G301: a root filesystem's top directory is world-readable, like /
			return err
		}
	}
	if err := s.RenderImage(cmd.Context(), img.ID, root, store.RenderOptions{}); err != nil {
		return err
	}
	return a.commitExtract(tmp, dir, overwrite, &ok)
}

// commitExtract moves a finished tree into place.
func (a *app) commitExtract(tmp, dir string, overwrite bool, ok *bool) error {
	if overwrite {
		if err := rootfs.RemoveAll(dir); err != nil {
			return fmt.Errorf("remove %s: %w", dir, err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	*ok = true
	return nil
}

// --- image gc

func (a *app) imageGCCommand() *cobra.Command {
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Garbage collect local store",
		Long: `Remove images that were not used for longer than the grace period, then
every blob and unpacked layer that no remaining image uses, and what
interrupted fetches left behind.`,
		Example: "  rkt image gc --grace-period=0s",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if grace < 0 {
				return errdefs.InvalidArgument(fmt.Errorf("--grace-period %v is negative", grace))
			}
			s, err := a.openStore(store.Exclusive)
			if err != nil {
				return err
			}
			defer s.Close()
			imgs, layers := stage0.ImagesInUse(a.dir)
			res, err := s.GC(store.GCOptions{GracePeriod: grace, InUseImages: imgs, InUseLayers: layers})
			if err != nil {
				return err
			}
			for _, img := range res.Images {
				fmt.Fprintf(a.stdout, "removed image %q\n", store.FormatID(img.ID))
			}
			a.debugf("image gc: removed %d image(s), %d blob(s), %d layer(s), %s", len(res.Images), res.Blobs, res.Layers, humanBytes(res.Freed))
			return nil
		},
	}
	cmd.Flags().DurationVar(&grace, "grace-period", 24*time.Hour, "duration to wait since an image was last used before removing it")
	return cmd
}

// --- image verify

func (a *app) imageVerifyCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "verify IMAGE...",
		Short: "Verify stored images and repair their unpacked layers",
		Long: `Re-hash each image's blobs and unpacked layers. A modified unpacked layer is
unpacked again from its blob; a corrupt blob is removed, and the image must
then be fetched again.`,
		Example: "  rkt image verify sha256-9f8e7d6c5b4a",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.openStore(store.Shared)
			if err != nil {
				return err
			}
			defer s.Close()
			failed := 0
			for _, arg := range args {
				img, err := findImage(s, arg)
				if err == nil {
					err = a.verifyImage(cmd, s, img)
				}
				if err != nil {
					fmt.Fprintf(a.stderr, "image verify: %s\n", oneLine(err.Error()))
					failed++
				}
			}
			if failed > 0 {
				return fmt.Errorf("%d image(s) failed verification", failed)
			}
			return nil
		},
	}
}

func (a *app) verifyImage(cmd *cobra.Command, s *store.Store, img *store.Image) error {
	id := store.FormatID(img.ID)
	var bad []string
	for _, d := range img.Blobs() {
		if err := s.VerifyBlob(d); err != nil {
			bad = append(bad, err.Error())
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("image %s: %s; fetch the image again", id, strings.Join(bad, "; "))
	}
	for _, l := range img.Layers {
		repaired, err := s.VerifyLayer(cmd.Context(), l, store.RenderOptions{})
		if err != nil {
			return fmt.Errorf("image %s: %w", id, err)
		}
		if repaired {
			fmt.Fprintf(a.stdout, "image %s: layer %s was modified or missing: repaired\n", id, store.FormatID(l.DiffID))
		}
	}
	fmt.Fprintf(a.stdout, "image %s: verified\n", id)
	return nil
}
